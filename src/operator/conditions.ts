// A RecoveryPlan's status, derived from what the operator knows of it: its judgement (valid, invalid, blocked), and
// for a running plan its runner's readiness and PlanStatus. Kubernetes API conventions and Flux's vocabulary:
// `Ready` always, `Reconciling` and `Stalled` only while True, lastTransitionTime kept while a status holds. Pure.
import type { PlanStatus } from '../runtime/status.ts';

export const ConditionType = { ready: 'Ready', reconciling: 'Reconciling', stalled: 'Stalled' } as const;

export const Reason = {
  synced: 'Synced',
  syncing: 'Syncing',
  invalidSpec: 'InvalidSpec',
  clusterNotReadable: 'ClusterNotReadable',
  sourceUnreachable: 'SourceUnreachable',
  destinationUnreachable: 'DestinationUnreachable',
  deletesHeld: 'DeletesHeld',
  driftDetected: 'DriftDetected',
  suspended: 'Suspended',
  failedOver: 'FailedOver',
  stalled: 'Stalled',
} as const;
export type Reason = (typeof Reason)[keyof typeof Reason];

export interface Condition {
  type: string;
  status: 'True' | 'False' | 'Unknown';
  reason: string;
  message: string;
  lastTransitionTime: string;
  observedGeneration: number;
}

export interface RecoveryPlanStatus {
  observedGeneration: number;
  conditions: Condition[];
  mirrorRevision?: string;
  appliedRevision?: string;
  lagSeconds?: number;
  lastSyncTime?: string;
  /** When the plan was first Ready (its initial sync done); kept from then on, whoever writes the status. */
  initialSyncTime?: string;
  objects?: number;
  heldDeletes?: number;
}

/** What the operator knows of one plan right now. */
export type PlanObservation =
  | { type: 'invalid'; generation: number; errors: string[] }
  | { type: 'blocked'; generation: number; message: string }
  /** Running: `status` is undefined until the runner first reports. */
  | { type: 'running'; generation: number; suspended: boolean; ready: boolean; notReadyReason: string; status: PlanStatus | undefined };

type Verdict = { status: Condition['status']; reason: Reason; message: string; reconciling?: boolean; stalled?: boolean };

const plural = (count: number, word: string) => `${count} ${word}${count === 1 ? '' : 's'}`;
const objectCount = (status: PlanStatus) => Object.values(status.objectsByKind).reduce((sum, count) => sum + count, 0);

/**
 * With reconcile.drift: detect, what the last reconcile found at the stand-by that the mirror does not say (drift is
 * corrected, not reported, with drift: correct); undefined when nothing.
 */
function driftOf(reconcile: NonNullable<PlanStatus['reconcile']>): string | undefined {
  const { drifted, missing, orphaned, at } = reconcile;
  if (!drifted.length && !missing && !orphaned) return undefined;
  const parts = [drifted.length && `${drifted.length >= 20 ? '20+' : drifted.length} changed (${drifted.slice(0, 3).map((entry) => entry.object).join(', ')}${drifted.length > 3 ? ', …' : ''})`,
    missing && `${missing} missing`, orphaned && `${orphaned} not in the mirror`].filter(Boolean);
  return `the stand-by differs from the mirror at the reconcile of ${at}: ${parts.join(', ')}; reconcile.drift: detect reports drift and leaves it (lifeboat status shows the fields)`;
}

/** The Ready condition's content (and whether Reconciling or Stalled hold), in order of what matters most. */
export function readyVerdict(observation: PlanObservation): Verdict {
  if (observation.type === 'invalid') return { status: 'False', reason: Reason.invalidSpec, message: observation.errors.join('; '), stalled: true };
  if (observation.type === 'blocked') return { status: 'False', reason: Reason.clusterNotReadable, message: observation.message, stalled: true };
  if (observation.suspended) return { status: 'False', reason: Reason.suspended, message: 'replication is suspended (spec.suspend: true); the stand-by keeps what it has' };
  const status = observation.status;
  if (!status) return { status: 'Unknown', reason: Reason.syncing, message: 'starting', reconciling: true };
  if (status.failedOver) return { status: 'False', reason: Reason.failedOver, message: `failed over by ${status.failedOver}: the stand-by is no longer synchronized` };
  if (status.unreachable) {
    const { role, cluster, since, error } = status.unreachable;
    return { status: 'False', reason: role === 'source' ? Reason.sourceUnreachable : Reason.destinationUnreachable, message: `${role} cluster ${cluster} unreachable since ${since}: ${error} (retrying)` };
  }
  const stall = status.stalls[0];
  if (stall) return { status: 'False', reason: Reason.stalled, message: `${stall.summary} since ${stall.since}: ${stall.error}`, stalled: true };
  if (status.heldDeletes > 0) return { status: 'False', reason: Reason.deletesHeld, message: `${plural(status.heldDeletes, 'delete')} held by the delete guard: lifeboat deletes list ${status.plan}` };
  const drift = status.reconcile?.drift === 'detect' ? driftOf(status.reconcile) : undefined;
  if (drift) return { status: 'False', reason: Reason.driftDetected, message: drift };
  if (!observation.ready) return { status: 'Unknown', reason: Reason.syncing, message: observation.notReadyReason.replace(/^plan [^:]+: /, ''), reconciling: true };
  const failing = status.failingObjects + status.lastErrors.length;
  const lag = status.lagSeconds === undefined ? '' : `, lag ${status.lagSeconds.toFixed(2)}s`;
  return {
    status: 'True', reason: Reason.synced,
    message: `applied mirror revision ${status.appliedHead?.slice(0, 12) ?? '(none)'} (${plural(objectCount(status), 'object')}${lag})${failing ? `; ${plural(failing, 'object')} failing: lifeboat status` : ''}`,
  };
}

/** The condition as it should be now: its lastTransitionTime kept when its status did not change. */
function condition(type: string, verdict: Omit<Verdict, 'reconciling' | 'stalled'>, generation: number, previous: readonly Condition[], now: string): Condition {
  const before = previous.find((entry) => entry.type === type);
  const lastTransitionTime = before && before.status === verdict.status ? before.lastTransitionTime : now;
  return { type, status: verdict.status, reason: verdict.reason, message: verdict.message, lastTransitionTime, observedGeneration: generation };
}

/** The plan's conditions: Ready, then Reconciling and Stalled when they hold. */
export function planConditions(observation: PlanObservation, previous: readonly Condition[], now: string): Condition[] {
  const verdict = readyVerdict(observation);
  const generation = observation.generation;
  const conditions = [condition(ConditionType.ready, verdict, generation, previous, now)];
  if (verdict.reconciling) conditions.push(condition(ConditionType.reconciling, { status: 'True', reason: verdict.reason, message: verdict.message }, generation, previous, now));
  if (verdict.stalled) conditions.push(condition(ConditionType.stalled, { status: 'True', reason: verdict.reason, message: verdict.message }, generation, previous, now));
  return conditions;
}

/** The whole status; `previous` is the resource's current one (transition times, lastSyncTime, initialSyncTime). */
export function planStatus(observation: PlanObservation, previous: Partial<RecoveryPlanStatus> | undefined, now: string): RecoveryPlanStatus {
  const status: RecoveryPlanStatus = { observedGeneration: observation.generation, conditions: planConditions(observation, previous?.conditions ?? [], now) };
  // Kept through every later state (an invalid spec, a restart, another replica writing): the initial sync is once.
  const initialSyncTime = previous?.initialSyncTime ?? (status.conditions[0]!.status === 'True' ? now : undefined);
  if (initialSyncTime) status.initialSyncTime = initialSyncTime;
  const running = observation.type === 'running' ? observation.status : undefined;
  if (!running) return status;
  if (running.mirrorHead) status.mirrorRevision = running.mirrorHead;
  if (running.appliedHead) status.appliedRevision = running.appliedHead;
  if (running.lagSeconds !== undefined) status.lagSeconds = Math.round(running.lagSeconds * 100) / 100;
  // The last time the destination received a new revision, as this operator saw it.
  const lastSyncTime = running.appliedHead && running.appliedHead !== previous?.appliedRevision ? now : previous?.lastSyncTime;
  if (lastSyncTime) status.lastSyncTime = lastSyncTime;
  status.objects = objectCount(running);
  status.heldDeletes = running.heldDeletes;
  return status;
}

/**
 * An Event to record for a change of the Ready condition: reason, message and type (kubectl describe shows them).
 * `initialSyncDone`: the plan was Ready before (the previous status has an initialSyncTime), so becoming Ready again is
 * "in sync again", not the initial sync, however it got there (a listener relisting after a lease moved says Syncing).
 */
export function readyEvent(previous: readonly Condition[], next: readonly Condition[], initialSyncDone: boolean): { type: 'Normal' | 'Warning'; reason: string; message: string } | undefined {
  const before = previous.find((entry) => entry.type === ConditionType.ready);
  const after = next.find((entry) => entry.type === ConditionType.ready);
  if (!after || (before && before.status === after.status && before.reason === after.reason)) return undefined;
  if (after.reason === Reason.syncing) return undefined; // progress, not a state change worth an Event
  if (after.reason === Reason.synced) {
    const first = !initialSyncDone;
    return { type: 'Normal', reason: first ? 'InitialSyncDone' : Reason.synced, message: `${first ? 'initial sync done' : 'in sync again'}: ${after.message}` };
  }
  return { type: after.reason === Reason.suspended ? 'Normal' : 'Warning', reason: after.reason, message: after.message };
}
