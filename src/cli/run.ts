// `lifeboat run` (the pipeline for every plan) and `lifeboat status` (what each plan is doing, from Redis).
import type { Command } from 'commander';
import { Bus } from '../bus/bus.ts';
import { createMetrics, serveMetrics } from '../metrics/metrics.ts';
import { MirrorPusher } from '../mirror/repository.ts';
import { readIdentities } from '../runtime/plans.ts';
import { Runtime } from '../runtime/runtime.ts';
import { components, parseComponents } from '../runtime/ports.ts';
import type { PlanStatus } from '../runtime/status.ts';
import { StateStore } from '../state/state.ts';
import { createLogger } from '../util/log.ts';
import { connectState, databasesWithPlans, openMirror, readPlans, redisDatabase } from './context.ts';
import { formatTable } from './format.ts';
import { sharedOptions, sharedValues, UsageError } from './options.ts';

/** age identities from --identity, else $LIFEBOAT_AGE_IDENTITY_FILE. */
export const identitiesOf = (files: string[] | undefined) => readIdentities(files ?? (process.env.LIFEBOAT_AGE_IDENTITY_FILE ? [process.env.LIFEBOAT_AGE_IDENTITY_FILE] : []));

/** Everything status names as failing: skipped objects, refused applies and dead letters. */
function errorCount(plan: PlanStatus): number {
  return (plan.failingObjects ?? 0) + plan.lastErrors.length;
}

/**
 * The APPLIED column: `in sync` only when the destination has the mirror head and nothing fails; otherwise what
 * stops progress (a stalled component first), or how many objects are failing, or the applied head still behind.
 */
export function planState(plan: PlanStatus): string {
  if (plan.failedOver) return `failed over (${plan.failedOver})`;
  if (plan.unreachable) return `${plan.unreachable.role} unreachable`;
  const stall = plan.stalls?.[0];
  if (stall) return stall.summary;
  const failing = errorCount(plan);
  if (failing > 0) return `degraded: ${failing} ${failing === 1 ? 'object' : 'objects'} failing`;
  return plan.appliedHead === plan.mirrorHead ? 'in sync' : plan.appliedHead?.slice(0, 12) ?? '-';
}

export function registerRun(program: Command): void {
  sharedOptions(program.command('run').description('replicate every plan: listener, processor, mirror writer and synchronizer (creates the mirror when missing)'))
    .option('--mirror-remote <url>', 'push the mirror to this HTTP(S) git remote after each commit (token: $LIFEBOAT_MIRROR_TOKEN)')
    .option('--metrics-addr <host:port>', 'where /metrics, /healthz and /readyz listen', '127.0.0.1:9464')
    .option('--identity <file...>', 'age identity files that decrypt Secrets at the destination (default: $LIFEBOAT_AGE_IDENTITY_FILE)')
    .option('--plan-poll-interval <ms>', 'how often the plans source is polled', '10000')
    .option('--components <list>', `the stages this process runs, comma-separated (${components.join(',')}); the others run in other lifeboat processes`, components.join(','))
    .action(async (options: { mirrorRemote?: string; metricsAddr: string; identity?: string[]; planPollInterval: string; components: string }, command: Command) => {
      const shared = sharedValues(command);
      let only: ReturnType<typeof parseComponents>;
      try {
        only = parseComponents(options.components);
      } catch (error) {
        throw new UsageError((error as Error).message);
      }
      const log = createLogger();
      // Last resort. Failures of one message or object are caught where they happen; what still arrives here is a
      // bug of unknown effect (a stage's loop may be dead while /healthz says ok), so the process says so and exits
      // for its supervisor to restart it: JetStream redelivers what was not acknowledged, leases expire, state is
      // level-based. Exit code 70 (EX_SOFTWARE).
      let shuttingDown = false;
      const fatal = (error: unknown) => {
        // Shutting down with Redis down, state commands are told to fail instead of waiting (`stopWaiting`); one
        // whose caller had already moved on is expected then, not a bug.
        if (shuttingDown && error instanceof Error && error.name === 'MaxRetriesPerRequestError') {
          log.warn({ err: error.message }, 'a state command failed during shutdown (Redis is down); its state is re-derived at the next start');
          return;
        }
        log.fatal({ err: error instanceof Error ? error.stack ?? error.message : String(error) }, 'internal error (a bug): exiting so that the supervisor restarts lifeboat');
        log.flush();
        process.exit(70);
      };
      process.on('unhandledRejection', fatal);
      process.on('uncaughtException', fatal);
      const identities = identitiesOf(options.identity);
      const bus = await Bus.connect(shared.nats);
      // Redis outages are waited out: every state read and write pauses until it answers again (never fatal).
      const state = await StateStore.connect(shared.redis, {
        waitWhileDown: true,
        onOutage: (event, error) => event === 'down'
          ? log.warn({ err: error?.message }, 'Redis is unreachable; state reads and writes wait until it is back')
          : log.info('Redis is back; resuming'),
      });
      const mirror = await openMirror(shared.mirror, { create: true });
      const metrics = createMetrics();
      const pusher = options.mirrorRemote ? new MirrorPusher(mirror, options.mirrorRemote, {
        token: process.env.LIFEBOAT_MIRROR_TOKEN, onError: (error, attempt) => log.warn({ err: error.message, attempt }, 'mirror push failed; retrying'),
      }) : undefined;
      const runtime = new Runtime({ plans: shared.plans, mirror, bus, state, metrics, log, identities, planPollMs: Number(options.planPollInterval), pusher, components: only });
      const server = await serveMetrics(metrics, options.metricsAddr, () => runtime.readiness());
      log.info({ metrics: `http://${server.address}/metrics`, mirror: mirror.gitdir, plans: shared.plans, components: [...only] }, 'lifeboat running');
      let stopping: Promise<void> | undefined;
      const shutdown = (signal: string) => {
        shuttingDown = true;
        stopping ??= (async () => {
          log.info({ signal }, 'shutting down: finishing in-flight batches');
          // Redis down: what needs it fails instead of waiting (state is level-based, the next start re-derives it).
          state.stopWaiting();
          await runtime.stop().catch((error: Error) => log.warn({ err: error.message }, 'stopped without finishing everything'));
          await server.close();
          await bus.close();
          await state.close();
          log.flush();
        })();
        return stopping;
      };
      // Signals are handled from the start: a SIGTERM during the initial sync is a graceful stop too.
      const stopped = new Promise<void>((resolve) => {
        for (const signal of ['SIGTERM', 'SIGINT'] as const) process.once(signal, () => void shutdown(signal).then(resolve));
      });
      await Promise.race([runtime.start(), stopped]);
      await stopped;
    });

  sharedOptions(program.command('status').description('per plan: mirror head, applied head, objects by kind, lag and last errors (with --plans: only its plans)'))
    .option('-o, --output <format>', 'table or json', 'table')
    .action(async (options: { output: string }, command: Command) => {
      const shared = sharedValues(command);
      // Only the plans of a plans source that was asked for; otherwise every plan Redis knows.
      const only = shared.explicit.plans ? new Set((await readPlans(shared.plans)).keys()) : undefined;
      const state = await connectState(shared.redis);
      try {
        const plans = await state.planStatuses<PlanStatus>(only);
        const plansSource = (await state.plansStatus<{ appliedRevision?: string; latestRevision?: string; errors?: { file: string; line: number; column: number; message: string }[] }>()) ?? {};
        if (options.output === 'json') {
          process.stdout.write(`${JSON.stringify({ plans, plansSource }, null, 2)}\n`);
          return;
        }
        if (!plans.length) {
          // An empty database beside one with plans is a mistyped --redis, not an idle installation.
          const elsewhere = await databasesWithPlans(state, shared.redis);
          if (elsewhere.length) {
            const suggestion = new URL(shared.redis);
            suggestion.pathname = `/${elsewhere[0]}`;
            throw new Error(`no plan is running in database ${redisDatabase(shared.redis)} of ${shared.redis}, but database ${elsewhere.join(', ')} has some: did you mean --redis ${suggestion.href}?`);
          }
          process.stdout.write('no plan is running (start one with `lifeboat run`)\n');
        }
        else {
          process.stdout.write(formatTable(['PLAN', 'MIRROR HEAD', 'APPLIED', 'OBJECTS', 'LAG', 'ERRORS', 'HELD DELETES', 'DRIFT', 'UPDATED'], plans.map((plan) => [
            plan.plan, plan.mirrorHead?.slice(0, 12) ?? '-', planState(plan),
            String(Object.values(plan.objectsByKind).reduce((a, b) => a + b, 0)), plan.lagSeconds === undefined ? '-' : `${plan.lagSeconds.toFixed(2)}s`,
            String(errorCount(plan)), String(plan.heldDeletes ?? 0),
            plan.reconcile ? String(plan.reconcile.drifted.length + plan.reconcile.missing + plan.reconcile.orphaned) : '-', plan.updatedAt,
          ])));
          for (const plan of plans) {
            process.stdout.write(`\n${plan.plan}: ${Object.entries(plan.objectsByKind).map(([kind, count]) => `${kind} ${count}`).join(', ') || 'no objects'}\n`);
            if (plan.unreachable) process.stdout.write(`  ✘ ${plan.unreachable.role} cluster ${plan.unreachable.cluster} unreachable since ${plan.unreachable.since}: ${plan.unreachable.error} (the plan keeps trying)\n`);
            for (const stall of plan.stalls ?? []) process.stdout.write(`  ✘ ${stall.summary} since ${stall.since}: ${stall.error}\n`);
            for (const failure of plan.failing ?? []) process.stdout.write(`  ✘ ${failure.object}: ${failure.stage}: ${failure.reason} (since ${failure.since}, ${failure.count} ${failure.count === 1 ? 'time' : 'times'}; skipped, the others go on)\n`);
            const unnamed = (plan.failingObjects ?? 0) - (plan.failing?.length ?? 0);
            if (unnamed > 0) process.stdout.write(`  ✘ and ${unnamed} more failing objects (lifeboat status -o json)\n`);
            for (const error of plan.lastErrors) process.stdout.write(`  ✘ ${error.path}: ${error.reason} (${error.attempts} attempts)\n`);
            if (plan.paused) process.stdout.write(`  ⏸ capture paused for ${plan.paused} objects after a rollback or revert: lifeboat resume ${plan.plan}\n`);
            if (plan.heldDeletes) process.stdout.write(`  ⏸ ${plan.heldDeletes} deletes held by the delete guard: lifeboat deletes list ${plan.plan}\n`);
            const reconcile = plan.reconcile;
            if (reconcile) {
              const found = reconcile.drifted.length + reconcile.missing + reconcile.orphaned;
              process.stdout.write(`  reconciled ${reconcile.at}: ${reconcile.error ? `error: ${reconcile.error}` : `source ${reconcile.sourceChanged} changed and ${reconcile.sourceDeleted} deleted objects recovered; destination ${found ? `${reconcile.drifted.length} drifted, ${reconcile.missing} missing, ${reconcile.orphaned} orphaned (${reconcile.drift === 'correct' ? `${reconcile.corrected} corrected` : 'drift: detect, left as they are'})` : 'equal to the mirror'}`}\n`);
              for (const drift of reconcile.drifted) process.stdout.write(`    ~ ${drift.object}: ${drift.fields.join(', ')}\n`);
            }
          }
        }
        if (plansSource.errors?.length) {
          process.stdout.write(`\nplans revision ${plansSource.latestRevision} is invalid (running: ${plansSource.appliedRevision ?? 'none'}):\n`);
          for (const error of plansSource.errors) process.stdout.write(`  ${error.file}:${error.line}:${error.column}: ${error.message}\n`);
        }
      } finally {
        await state.close();
      }
    });
}
