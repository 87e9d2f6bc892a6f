// `lifeboat recover PLAN [--to REV | --at TIME] [--dry-run]`: wake the stand-by — with nothing but the plans, the
// destination and (for a point-in-time restore) the mirror. Redis is used when it answers (its failover flag stops
// running synchronizers); without it the command still works.
import path from 'node:path';
import type { Command } from 'commander';
import { KubeClient, loadKubeConfig } from '../kube/client.ts';
import { MirrorRepository } from '../mirror/repository.ts';
import { evaluatePlans } from '../pipeline/runtime.ts';
import { parseDuration } from '../plan/duration.ts';
import { createPlanSource, parsePlanSource } from '../plan/source.ts';
import { drill } from '../recovery/drill.ts';
import { Restorer } from '../recovery/restorer.ts';
import { CommandState, StateStore, type SyncState } from '../state/state.ts';
import { createLogger } from '../util/log.ts';
import { formatTable } from './format.ts';
import { identitiesOf } from './run.ts';

interface RecoverOptions {
  plans: string;
  mirror: string;
  to?: string;
  at?: string;
  dryRun?: boolean;
  redis?: string;
  identity?: string[];
  name?: string;
  output: string;
}

export function registerRecover(program: Command): void {
  program.command('recover').argument('<plan>')
    .description('activate the stand-by: undo every deactivation of the plan\'s objects, optionally after restoring a mirror revision')
    .option('--plans <source>', 'plans: a directory, a bare repository, or URL[#branch][:subdir]', 'plans')
    .option('--mirror <dir>', 'the mirror repository (needed for --to/--at)', '.lifeboat/mirror.git')
    .option('--to <revision>', 'first make the plan\'s objects equal to this mirror revision (commit or ref)')
    .option('--at <time>', 'first restore the last mirror revision at or before this RFC 3339 time')
    .option('--dry-run', 'report what would change; change nothing')
    .option('--redis <url>', 'Redis, to mark the plan failed over for running lifeboats (default: $LIFEBOAT_REDIS_URL; optional)')
    .option('--identity <file...>', 'age identities to decrypt Secrets for a point-in-time restore (default: $LIFEBOAT_AGE_IDENTITY_FILE)')
    .option('--name <job>', 'name of the RecoveryExecutionJob (default: recover-<plan>-<time>)')
    .option('-o, --output <format>', 'table or json', 'table')
    .action(async (planName: string, options: RecoverOptions) => {
      if (options.to && options.at) throw new Error('give either --to (a revision) or --at (a time), not both');
      const log = createLogger({ level: process.env.LIFEBOAT_LOG_LEVEL ?? 'warn' });
      const { context, destination } = await planDestination(options.plans, planName);
      const needsMirror = Boolean(options.to || options.at);
      const repository = needsMirror ? await MirrorRepository.open(path.resolve(options.mirror)) : undefined;
      let store: StateStore | undefined;
      const redisUrl = options.redis ?? process.env.LIFEBOAT_REDIS_URL;
      if (redisUrl) {
        store = await StateStore.connect(redisUrl).catch((error: Error) => {
          process.stderr.write(`warning: ${error.message}; recovering without it (a running lifeboat for ${planName} is not told: stop it)\n`);
          return undefined;
        });
      }
      const state: SyncState = store ?? new CommandState();
      const jobName = options.name ?? `recover-${planName}-${new Date().toISOString().replace(/[^0-9]/g, '').slice(0, 14)}`.slice(0, 63);
      try {
        const restorer = new Restorer({
          plan: planName, mirrorDir: context.plan.spec.mirror.path ?? planName, jobName, destination, repository, state,
          identities: identitiesOf(options.identity), concurrency: Math.max(16, context.plan.spec.sync.concurrency), log,
          activation: context.plan.spec.recovery.activate, timeoutMs: parseDuration(context.plan.spec.recovery.timeout),
        });
        const status = await restorer.run({ ...(options.to ? { to: options.to } : {}), ...(options.at ? { at: options.at } : {}), dryRun: Boolean(options.dryRun) });
        if (options.output === 'json') process.stdout.write(`${JSON.stringify({ job: jobName, ...status }, null, 2)}\n`);
        else {
          process.stdout.write(`RecoveryExecutionJob lifeboat-system/${jobName}: ${status.phase} in ${status.recoverySeconds?.toFixed(1)} s${status.revision ? ` (restored to ${status.revision.slice(0, 12)})` : ''}\n${status.message ?? ''}\n`);
          const rows = Object.entries(status.counts ?? {}).sort(([a], [b]) => a.localeCompare(b))
            .map(([kind, counts]) => [kind, String(counts.restored ?? 0), String(counts.activated ?? 0), String(counts.failed ?? 0)]);
          if (rows.length) process.stdout.write(`\n${formatTable(['KIND', 'RESTORED', 'ACTIVATED', 'FAILED'], rows)}`);
          for (const failure of status.failures ?? []) process.stdout.write(`  ✘ ${failure.kind} ${failure.namespace ? `${failure.namespace}/` : ''}${failure.name}: ${failure.reason}${failure.message ? ` — ${failure.message}` : ''}\n`);
        }
        if (status.phase !== 'Succeeded') process.exitCode = 1;
      } finally {
        destination.close();
        await store?.close();
      }
    });
}

export function registerDrill(program: Command): void {
  program.command('drill').argument('<plan>')
    .description('a non-disruptive DR test: bring up an activated copy of the plan in scratch namespaces of the stand-by, time it, report failures, clean up')
    .option('--plans <source>', 'plans: a directory, a bare repository, or URL[#branch][:subdir]', 'plans')
    .option('--mirror <dir>', 'the mirror repository', '.lifeboat/mirror.git')
    .option('--dry-run', 'server-side dry run of every copy (nothing but the scratch namespaces is created)')
    .option('--keep', 'leave the scratch namespaces for inspection')
    .option('--identity <file...>', 'age identities to decrypt Secrets (default: $LIFEBOAT_AGE_IDENTITY_FILE)')
    .option('-o, --output <format>', 'table or json', 'table')
    .action(async (planName: string, options: { plans: string; mirror: string; dryRun?: boolean; keep?: boolean; identity?: string[]; output: string }) => {
      const { context, destination } = await planDestination(options.plans, planName);
      try {
          const report = await drill({
          plan: planName, mirrorDir: context.plan.spec.mirror.path ?? planName, repository: await MirrorRepository.open(path.resolve(options.mirror)), destination,
          identities: identitiesOf(options.identity), concurrency: Math.max(16, context.plan.spec.sync.concurrency), dryRun: Boolean(options.dryRun), keep: Boolean(options.keep),
        });
        if (options.output === 'json') process.stdout.write(`${JSON.stringify(report, null, 2)}\n`);
        else {
          process.stdout.write(`drill ${report.id} of plan ${planName} at ${report.revision.slice(0, 12)}${report.dryRun ? ' (dry run)' : ''}: ${report.applied}/${report.objects} objects up `
            + `(${report.activated} activated) in ${report.seconds.toFixed(1)} s, ${report.failed.length} failed; scratch namespaces ${report.cleanup}\n`);
          for (const [from, to] of Object.entries(report.namespaces)) process.stdout.write(`  ${from} → ${to}\n`);
          for (const failure of report.failed) process.stdout.write(`  ✘ ${failure.object}: ${failure.reason}\n`);
          for (const skipped of report.skipped) process.stdout.write(`  - ${skipped.object}: ${skipped.reason}\n`);
        }
        if (report.failed.length) process.exitCode = 1;
      } finally {
        destination.close();
      }
    });
}

/** The plan's context and a client for its destination, from the plans source. */
async function planDestination(plans: string, planName: string) {
  const snapshot = await createPlanSource(parsePlanSource(plans)).snapshot();
  const evaluated = evaluatePlans(snapshot, process.cwd());
  if (evaluated.errors.length) throw new Error(`the plans have errors (run lifeboat plan validate): ${evaluated.errors[0]!.file}:${evaluated.errors[0]!.line}: ${evaluated.errors[0]!.message}`);
  const context = evaluated.plans.get(planName);
  if (!context) throw new Error(`no plan ${planName} in ${plans} (plans: ${[...evaluated.plans.keys()].join(', ') || 'none'})`);
  if ('error' in context.destination) throw new Error(context.destination.error);
  const destination = await KubeClient.create(loadKubeConfig({ path: context.destination.kubeconfig, context: context.destination.context }));
  return { context, destination };
}
