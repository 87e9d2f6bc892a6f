// `lifeboat plan validate|show|diff|apply`: check plan files the way CI and a reviewer need it, show a plan as lifeboat
// will run it (every default filled in), say what a change between two revisions of the plans repo means, and apply
// the files as custom resources for the operator (plan-apply.ts).
import { Option } from 'commander';
import type { Command } from 'commander';
import fs from 'node:fs';
import path from 'node:path';
import git from 'isomorphic-git';
import { stringify } from 'yaml';
import { MirrorRepository } from '../mirror/repository.ts';
import { diffPlanSets, formatPlanDiff } from '../plan/diff.ts';
import { filesAtCommit } from '../plan/source.ts';
import { hasErrors, loadPlans, readPlanFiles, summarize } from '../plan/load.ts';
import { formatPlanError, Severity } from '../plan/parse.ts';
import { registerPlanApply } from './plan-apply.ts';
import { describe } from './commands.ts';

const defaultPlansPath = 'plans';

export function registerPlan(program: Command): void {
  const plan = program.command('plan').description(describe('plan'));

  plan.command('validate').description('check plan files as one set (references between files included) and report every error as file:line:col; exit 1 when any')
    .argument('[paths...]', `plan files or directories (*.yaml, *.yml, recursively; default: ${defaultPlansPath})`)
    .addOption(new Option('-o, --output <format>', 'text, or json for machines').choices(['text', 'json']).default('text'))
    .action(async (paths: string[], options: { output: 'text' | 'json' }) => {
      const files = await readPlanFiles(paths.length > 0 ? paths : [defaultPlansPath]);
      const set = loadPlans(files, { checkKubeconfigFiles: true });
      const valid = !hasErrors(set);
      if (options.output === 'json') {
        const count = (severity: Severity) => set.errors.filter((error) => error.severity === severity).length;
        process.stdout.write(`${JSON.stringify({
          valid, summary: summarize(set), files: files.length, plans: set.plans.size, clusters: set.clusters.size, jobs: set.jobs.size,
          errorCount: count(Severity.error), warningCount: count(Severity.warning), errors: set.errors,
        }, null, 2)}\n`);
      } else {
        for (const error of set.errors) process.stdout.write(`${formatPlanError(error)}\n`);
        process.stdout.write(`${summarize(set)}\n`);
      }
      if (!valid) process.exitCode = 1;
    });

  plan.command('show').description('print a plan as lifeboat runs it: validated, every default filled in')
    .argument('<plan>', 'name of the RecoveryPlan')
    .option('--plans <path>', 'plan file or directory', defaultPlansPath)
    .addOption(new Option('-o, --output <format>', 'yaml or json').choices(['yaml', 'json']).default('yaml'))
    .action(async (name: string, options: { plans: string; output: 'yaml' | 'json' }) => {
      const set = loadPlans(await readPlanFiles([options.plans]));
      const found = set.plans.get(name);
      if (!found) {
        const own = set.errors.filter((error) => error.severity === Severity.error);
        const known = [...set.plans.keys()].sort();
        if (own.length > 0) {
          for (const error of own) process.stderr.write(`${formatPlanError(error)}\n`);
          process.stderr.write(`lifeboat: plan "${name}" is not available: ${summarize(set)} in ${options.plans}; fix them, or check the name\n`);
        } else {
          process.stderr.write(`lifeboat: no plan "${name}" in ${options.plans} (${known.length > 0 ? `known: ${known.join(', ')}` : 'none defined'})\n`);
        }
        process.exitCode = 1;
        return;
      }
      process.stdout.write(options.output === 'json' ? `${JSON.stringify(found, null, 2)}\n` : stringify(found, { lineWidth: 0 }));
    });

  plan.command('diff').description('what changes in meaning between two revisions of the plans repository (for reviewers and CI)')
    .argument('<base>', 'base revision: a branch (origin/main), tag or commit')
    .argument('<head>', 'head revision (HEAD for the current commit)')
    .option('--repo <dir>', 'the git repository (a work tree or a bare repository)', '.')
    .option('--path <dir>', 'directory of the plans inside the repository', defaultPlansPath)
    .addOption(new Option('-o, --output <format>', 'text, markdown (for a job summary) or json').choices(['text', 'markdown', 'json']).default('text'))
    .action(async (base: string, head: string, options: { repo: string; path: string; output: 'text' | 'markdown' | 'json' }) => {
      const gitdir = fs.existsSync(path.join(options.repo, '.git')) ? path.join(options.repo, '.git') : options.repo;
      if (!fs.existsSync(path.join(gitdir, 'HEAD'))) throw new Error(`no git repository at ${options.repo}`);
      // Revisions as git reads them (HEAD~1, a branch, a tag, a short id): the same resolver as the mirror's.
      const repository = await MirrorRepository.open(gitdir, { branch: (await git.currentBranch({ fs, gitdir }).catch(() => undefined)) ?? 'main' });
      const resolve = (revision: string) => repository.resolve(revision);
      const load = async (revision: string) => loadPlans(await filesAtCommit(gitdir, await resolve(revision), options.path.replace(/^\.\/|\/+$/g, '')));
      const [before, after] = [await load(base), await load(head)];
      const diffs = diffPlanSets(before.plans, after.plans);
      const headErrors = after.errors.filter((error) => error.severity === Severity.error);
      if (options.output === 'json') {
        process.stdout.write(`${JSON.stringify({ base, head, plans: diffs, headErrors }, null, 2)}\n`);
        return;
      }
      const style = options.output === 'markdown' ? 'markdown' : 'text';
      if (style === 'markdown') process.stdout.write(`## Plan changes: \`${base}\` → \`${head}\`\n\n`);
      process.stdout.write(formatPlanDiff(diffs, style));
      if (headErrors.length) {
        process.stdout.write(`\n${style === 'markdown' ? '**' : ''}${head} has ${headErrors.length} error(s); those plans are left out above:${style === 'markdown' ? '**' : ''}\n`);
        for (const error of headErrors) process.stdout.write(`${style === 'markdown' ? '- ' : '  '}${formatPlanError(error)}\n`);
      }
    });

  registerPlanApply(plan);
}
