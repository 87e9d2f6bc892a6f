// `lifeboat status`: what each running plan reports in Redis (mirror head, applied head, objects, lag, what fails).
// Its own module so that it loads only Redis and the plans, not the pipeline (`lifeboat status` in ~0.1 s).
import type { Command } from 'commander';
import type { PlanStatus } from '../runtime/status.ts';
import { connectState, databasesWithPlans, planNames } from './context.ts';
import { redisDatabase, withDatabase } from '../state/redis-url.ts';
import { formatTable } from './format.ts';
import { sharedOptions, sharedValues } from './options.ts';
import { describe } from './commands.ts';

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

export function registerStatus(program: Command): void {
  sharedOptions(program.command('status').description(describe('status')))
    .option('-o, --output <format>', 'table or json', 'table')
    .action(async (options: { output: string }, command: Command) => {
      const shared = sharedValues(command);
      // Only the plans of a plans source that was asked for; otherwise every plan Redis knows.
      const only = shared.explicit.plans ? await planNames(shared.plans) : undefined;
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
            const suggestion = withDatabase(shared.redis, elsewhere[0]!);
            throw new Error(`no plan is running in database ${redisDatabase(shared.redis)} of ${shared.redis}, but database ${elsewhere.join(', ')} has some: did you mean --redis ${suggestion}?`);
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
