// A plan's status as `lifeboat status`, /readyz and (next) the custom resource's status show it, and what a runner
// is given to run.
import type { Bus } from '../bus/bus.ts';
import type { Metrics } from '../metrics/metrics.ts';
import type { MirrorPusher } from '../mirror/pusher.ts';
import type { MirrorRepository } from '../mirror/repository.ts';
import type { ObjectFailure, Stall } from '../pipeline/failures.ts';
import type { ReconcileReport } from '../pipeline/reconciler.ts';
import type { SynchronizerOptions } from '../pipeline/synchronizer.ts';
import type { StateStore } from '../state/state.ts';
import type { Logger } from '../util/log.ts';
import type { Component } from './ports.ts';
import type { LeaseAllowance } from './runnable.ts';

export interface RunnerOptions {
  mirror: MirrorRepository;
  bus: Bus;
  state: StateStore;
  metrics: Metrics;
  log: Logger;
  identities: readonly string[];
  hashKey: string;
  components: ReadonlySet<Component>;
  planRevision: () => string | undefined;
  pusher?: MirrorPusher;
  /** Fair shares of the plans' leases across processes (LeaseShares); without it, a process takes every free lease. */
  allowance?: LeaseAllowance;
  /** Every synchronizer pass of this process, finished (the bench times them). */
  onPass?: SynchronizerOptions['onPass'];
  /** false: lifeboat_plan_ready and lifeboat_plan_lag_seconds are set by the caller (the operator, from conditions). */
  planGauges?: boolean;
}

export interface PlanStatus {
  plan: string;
  planRevision: string | undefined;
  mirrorHead: string | undefined;
  appliedHead: string | undefined;
  objectsByKind: Record<string, number>;
  lagSeconds: number | undefined;
  mirrorWriter: boolean;
  /** The plan's leases this process holds (listener, mirror, synchronizer, reconciler). */
  holds: string[];
  kinds: string[];
  initialSync: 'listing' | 'done';
  lastErrors: { path: string; reason: string; attempts: number; at: string }[];
  /** Objects a stage skipped (named, stage, reason, since, count), newest first; `failingObjects` counts them all. */
  failing: ObjectFailure[];
  failingObjects: number;
  /** Components that cannot make progress for any object: a mirror not writable, a watch failing for a minute. */
  stalls: Stall[];
  heldDeletes: number;
  /** Objects whose capture is paused after a rollback or revert. */
  paused: number;
  /** The RecoveryExecutionJob that failed this plan over (its stand-by is no longer synchronized). */
  failedOver: string | undefined;
  reconcile: ReconcileSummary | undefined;
  /** The cluster that did not answer when the plan last tried to start (the plan keeps trying), and since when. */
  unreachable: Unreachable | undefined;
  /** The plan's Ready verdict when the status was written (the operator's Ready condition, without generation). */
  ready?: { status: 'True' | 'False' | 'Unknown'; reason: string; message: string };
  updatedAt: string;
}

export interface Unreachable {
  cluster: string;
  role: 'source' | 'destination';
  /** RFC 3339: the first failed try of this outage. */
  since: string;
  error: string;
}

export interface ReconcileSummary {
  at: string;
  error?: string;
  sourceChanged: number;
  sourceDeleted: number;
  drift: 'correct' | 'detect';
  drifted: { object: string; fields: string[] }[];
  missing: number;
  orphaned: number;
  corrected: number;
}

/** The half of a reconcile another process runs (it holds that plan's reconciler or synchronizer lease). */
export const notRunHere = 'run by another lifeboat process';

export function summarize(report: ReconcileReport, drift: 'correct' | 'detect'): ReconcileSummary {
  const source = 'error' in report.source ? undefined : report.source;
  const destination = 'error' in report.destination ? undefined : report.destination;
  const failed = (half: 'source' | 'destination') => {
    const result = report[half];
    return 'error' in result && result.error !== notRunHere ? `${half}: ${result.error}` : '';
  };
  const error = [failed('source'), failed('destination')].filter(Boolean).join('; ');
  return {
    at: report.at, ...(error ? { error } : {}), drift,
    sourceChanged: source?.changed.length ?? 0, sourceDeleted: source?.deleted.length ?? 0,
    drifted: destination?.drifted.slice(0, 20) ?? [], missing: destination?.missing.length ?? 0, orphaned: destination?.orphaned.length ?? 0, corrected: destination?.corrected ?? 0,
  };
}
