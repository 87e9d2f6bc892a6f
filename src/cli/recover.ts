// `lifeboat recover PLAN [--to REV | --at TIME] [--dry-run]`: wake the stand-by — with nothing but the plans, the
// destination and (for a point-in-time restore) the mirror. Redis is used when it answers (its failover flag stops
// running synchronizers); without it the command still works. `lifeboat failback PLAN` is its undo: it clears the
// flag, and replication to the stand-by starts again. `lifeboat drill` rehearses a recovery beside the stand-by.
import os from 'node:os';
import { createInterface } from 'node:readline/promises';
import type { Command } from 'commander';
import { parseDuration } from '../plan/duration.ts';
import { drill } from '../recovery/drill.ts';
import { planRecoveryOptions, Restorer } from '../recovery/restorer.ts';
import { CommandState, type SyncState } from '../state/state.ts';
import { createLogger } from '../util/log.ts';
import { connectState, destinationOf, findPlan, openMirror, optionalBus, optionalState, requirePlan } from './context.ts';
import { formatTable } from './format.ts';
import { sharedOptions, sharedValues, UsageError } from './options.ts';
import { identitiesOf } from './daemon.ts';
import { describe } from './commands.ts';

interface RecoverOptions {
  to?: string;
  at?: string;
  dryRun?: boolean;
  identity?: string[];
  name?: string;
  output: string;
}

export function registerRecover(program: Command): void {
  sharedOptions(program.command('recover').argument('<plan>')
    .description(describe('recover')))
    .option('--to <revision>', 'first make the plan\'s objects equal to this mirror revision (commit id, HEAD~N, branch or tag)')
    .option('--at <time>', 'first restore the last mirror revision at or before this RFC 3339 time')
    .option('--dry-run', 'report what would change; change nothing')
    .option('--identity <file...>', 'age identities to decrypt Secrets for a point-in-time restore (default: $LIFEBOAT_AGE_IDENTITY_FILE)')
    .option('--name <job>', 'name of the RecoveryExecutionJob (default: recover-<plan>-<time>)')
    .option('-o, --output <format>', 'table or json', 'table')
    .action(async (planName: string, options: RecoverOptions, command: Command) => {
      if (options.to && options.at) throw new UsageError('give either --to (a revision) or --at (a time), not both');
      const shared = sharedValues(command);
      const log = createLogger({ level: process.env.LIFEBOAT_LOG_LEVEL ?? 'warn' });
      const context = await requirePlan(shared, planName);
      const needsMirror = Boolean(options.to || options.at);
      const repository = needsMirror ? await openMirror(shared.mirror) : undefined;
      const destination = await destinationOf(context);
      const store = await optionalState(shared.redis, `recovering without it (a running lifeboat for ${planName} is not told: stop it)`);
      const state: SyncState = store ?? new CommandState();
      const jobName = options.name ?? `recover-${planName}-${new Date().toISOString().replace(/[^0-9]/g, '').slice(0, 14)}`.slice(0, 63);
      try {
        const restorer = new Restorer({
          ...planRecoveryOptions(planName, context.plan.spec), jobName, destination, repository, state, identities: identitiesOf(options.identity), log,
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
  sharedOptions(program.command('drill').argument('<plan>')
    .description(describe('drill')))
    .option('--dry-run', 'server-side dry run of every copy (nothing but the scratch namespaces is created)')
    .option('--keep', 'leave the scratch namespaces for inspection')
    .option('--identity <file...>', 'age identities to decrypt Secrets (default: $LIFEBOAT_AGE_IDENTITY_FILE)')
    .option('-o, --output <format>', 'table or json', 'table')
    .action(async (planName: string, options: { dryRun?: boolean; keep?: boolean; identity?: string[]; output: string }, command: Command) => {
      const shared = sharedValues(command);
      const context = await requirePlan(shared, planName);
      const repository = await openMirror(shared.mirror);
      const destination = await destinationOf(context);
      try {
        const report = await drill({
          plan: planName, mirrorDir: context.plan.spec.mirror.path ?? planName, repository, destination,
          identities: identitiesOf(options.identity), concurrency: Math.max(16, context.plan.spec.sync.concurrency), dryRun: Boolean(options.dryRun), keep: Boolean(options.keep),
          timeoutMs: parseDuration(context.plan.spec.recovery.timeout),
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

/** What failing back does to the stand-by, said before a person confirms it: what the synchronizer and reconciler will do. */
export function failbackConsequences(plan: string, reconcile: { drift: 'correct' | 'detect'; interval: string }): string {
  const label = `lifeboat.dev/plan=${plan}`;
  const common = `Replication to the stand-by restarts: the synchronizer applies every mirror revision made since the failover, overwriting the objects they change.`;
  return reconcile.drift === 'correct'
    ? `${common} With reconcile.drift: correct, the next reconcile (within reconcile.interval, ${reconcile.interval}) also makes every object labelled ${label} equal to the mirror: `
      + `changes made at the stand-by since the failover are overwritten, activated workloads go back to their deactivated replicas (0) and suspensions, `
      + `and labelled objects the mirror lacks are deleted. Objects without the label are never touched.`
    : `${common} With reconcile.drift: detect, other changes made at the stand-by since the failover are reported as drift, not overwritten: `
      + `activated workloads stay up until a mirror revision changes them. Objects without the label ${label} are never touched.`;
}

/** Asks on the terminal; without one (a script, a pipe) the answer must come from --yes. */
async function confirm(question: string): Promise<boolean> {
  if (!process.stdin.isTTY) throw new UsageError('stdin is not a terminal: pass --yes to confirm');
  const prompt = createInterface({ input: process.stdin, output: process.stderr });
  try {
    return /^y(es)?$/i.test((await prompt.question(`${question} [y/N] `)).trim());
  } finally {
    prompt.close();
  }
}

export function registerFailback(program: Command): void {
  sharedOptions(program.command('failback').argument('<plan>')
    .description(describe('failback')))
    .option('-y, --yes', 'do not ask for confirmation')
    .action(async (planName: string, options: { yes?: boolean }, command: Command) => {
      const shared = sharedValues(command);
      const context = await findPlan(shared, planName);
      const state = await connectState(shared.redis);
      try {
        const job = await state.getValue(planName, 'failover');
        if (!job) {
          process.stdout.write(`plan ${planName} is not failed over: nothing to do\n`);
          return;
        }
        const reconcile = context?.plan.spec.reconcile ?? { drift: 'correct' as const, interval: '5m' };
        process.stdout.write(`plan ${planName} failed over (RecoveryExecutionJob lifeboat-system/${job}).\n${failbackConsequences(planName, reconcile)}\n`);
        if (!options.yes && !(await confirm(`Fail back plan ${planName}?`))) {
          process.stderr.write('nothing changed\n');
          process.exitCode = 1;
          return;
        }
        const record = { job, by: `${os.userInfo().username}@${os.hostname()}`, at: new Date().toISOString() };
        await state.failBack(planName, JSON.stringify(record));
        createLogger({ level: 'info' }).info({ plan: planName, failedOverBy: job, failedBackBy: record.by, at: record.at }, 'failed back: replication to the stand-by restarts');
        await wakeSynchronizer(planName, shared.nats, shared.mirror);
        process.stdout.write(`plan ${planName} failed back by ${record.by} at ${record.at}: replication to the stand-by restarts (lifeboat status shows it syncing)\n`);
      } finally {
        await state.close();
      }
    });
}

/** Tells a running lifeboat at once (it would otherwise start at its next commit or retry): a commit message for the mirror head. */
async function wakeSynchronizer(plan: string, nats: string, mirror: string): Promise<void> {
  const repository = await openMirror(mirror).catch(() => undefined);
  const head = await repository?.head();
  if (!head) return;
  const bus = await optionalBus(nats, 'a running lifeboat resumes at its next commit or retry');
  if (!bus) return;
  try {
    await bus.publish('commits', plan, { type: 'mirror.committed', plan, commit: head, observed: {} }, `${plan}:${head}:failback:${Date.now()}`);
  } finally {
    await bus.close();
  }
}
