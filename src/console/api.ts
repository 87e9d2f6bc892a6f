// The console's HTTP API: what the server (server.ts) answers and the browser (web/) reads. Types only, shared by
// both sides. Every GET is open (read-only; nothing from a Secret's data is in any answer); every POST needs
// `Authorization: Bearer TOKEN` (the token `lifeboat console` prints at start, or the operator's Secret) and answers
// 401 with an ApiError without it. No cookies: a page from another site cannot act in a user's name.
//
//   GET  /                                   the page (index.html); /assets/* its script and styles
//   GET  /api/overview                       Overview
//   GET  /api/events                         server-sent events: `overview` (data: Overview) on every change, at most
//                                            one per second, and `job` (data: JobProgress) while a job runs
//   GET  /api/plans/PLAN                     PlanDetail
//   GET  /api/plans/PLAN/history?limit=N     Revision[] (newest first)
//   GET  /api/plans/PLAN/diff?from=A&to=B    Diff (from omitted: B against its parent)
//   GET  /api/plans/PLAN/deletes             HeldDeleteEntry[]
//   GET  /api/jobs/JOB                       JobProgress (a RecoveryExecutionJob at the plan's stand-by)
//   POST /api/session                        {} → 204 when the token is right, 401 otherwise (the page checks a token)
//   POST /api/plans/PLAN/deletes/approve     DeleteDecision → DecisionResult
//   POST /api/plans/PLAN/deletes/reject      DeleteDecision → DecisionResult
//   POST /api/plans/PLAN/recover             RecoverRequest → RecoverPreview (dryRun) or JobStarted
//   POST /api/plans/PLAN/drill               DrillRequest → DrillResult (when it has finished)

export interface ApiError {
  /** One line: what is wrong (`missing bearer token: every action needs the token lifeboat console printed at start`). */
  error: string;
}

export type ConditionStatus = 'True' | 'False' | 'Unknown';

export interface ReadyCondition {
  status: ConditionStatus;
  /** Synced, Syncing, SourceUnreachable, DestinationUnreachable, DeletesHeld, DriftDetected, Suspended, FailedOver, Stalled… */
  reason: string;
  message: string;
}

/** One sample of a plan's RPO: [unix seconds, lag seconds]. */
export type LagSample = [number, number];

export interface PlanSummary {
  name: string;
  ready: ReadyCondition;
  /** The RPO right now (seconds since the source change of the oldest change not yet applied; 0 caught up). */
  lagSeconds: number | null;
  /** The last hour, oldest first, one sample per ~10 s. */
  lagHistory: LagSample[];
  objects: number;
  objectsByKind: Record<string, number>;
  heldDeletes: number;
  /** Destination objects that differ from the mirror at the last reconcile (drifted + missing + orphaned). */
  drift: number;
  failingObjects: number;
  mirrorHead: string | null;
  appliedHead: string | null;
  /** The newest mirror revision of this plan. */
  lastCommit: { revision: string; time: string; summary: string } | null;
  /** The RecoveryExecutionJob that failed the plan over, when it is. */
  failedOver: string | null;
  /** When the plan's status was last written (RFC 3339). */
  updatedAt: string;
}

export interface Overview {
  /** Failing plans first (Ready False, then Unknown, then True), then by name. */
  plans: PlanSummary[];
  /** Where this console runs: `console`, `run` or `operator`. */
  mode: 'console' | 'run' | 'operator';
  generatedAt: string;
}

export interface ObjectError {
  object: string;
  stage: string;
  reason: string;
  since: string;
  count: number;
}

export interface DriftEntry {
  object: string;
  fields: string[];
}

export interface PlanDetail extends PlanSummary {
  errors: ObjectError[];
  /** Dead letters and refused applies (mirror path, reason, attempts). */
  lastErrors: { path: string; reason: string; attempts: number; at: string }[];
  reconcile: { at: string; error?: string; drift: 'correct' | 'detect'; drifted: DriftEntry[]; missing: number; orphaned: number; corrected: number } | null;
  /** The plan's source and destination cluster names, from its spec. */
  source: string | null;
  destination: string | null;
}

export interface Revision {
  revision: string;
  time: string;
  summary: string;
  created: number;
  updated: number;
  deleted: number;
  /** When it reached the stand-by (RFC 3339), 'pending', or 'unknown' (no Redis). */
  applied: string;
  planRevision: string | null;
  /** The objects it changed as its commit message lists them (`created apps/Deployment shop/web`), at most 50. */
  changes: string[];
}

export interface DiffFile {
  path: string;
  change: 'created' | 'updated' | 'deleted';
  /** A unified diff, Secret values masked. */
  diff: string;
}

export interface Diff {
  from: string | null;
  to: string;
  files: DiffFile[];
}

export interface HeldDeleteEntry {
  /** The mirror path: what a decision names. */
  path: string;
  /** `Kind namespace/name`. */
  summary: string;
  reason: string;
  at: string;
}

/** Either every held delete (`all: true`) or the mirror paths listed. */
export interface DeleteDecision {
  all?: boolean;
  paths?: string[];
}

export interface DecisionResult {
  decided: number;
  message: string;
}

export interface RecoverRequest {
  /** A mirror revision to restore first (commit id, HEAD~N); or `at` (RFC 3339); neither: activate what the stand-by has. */
  to?: string;
  at?: string;
  dryRun: boolean;
  /** The plan's name, typed by the person (a real recovery is refused without it). */
  confirm?: string;
}

export interface KindCounts {
  restored?: number;
  activated?: number;
  failed?: number;
  unchanged?: number;
}

export interface RecoverPreview {
  dryRun: true;
  /** The revision that would be restored, if any. */
  revision: string | null;
  counts: Record<string, KindCounts>;
  message: string;
}

export interface JobStarted {
  dryRun: false;
  job: string;
}

export interface JobProgress {
  job: string;
  plan: string;
  /** Pending, Running, Succeeded, Failed. */
  phase: string;
  counts: Record<string, KindCounts>;
  failures: { kind: string; namespace?: string; name: string; reason: string; message?: string }[];
  revision: string | null;
  /** The measured RTO once finished. */
  recoverySeconds: number | null;
  message: string;
  startTime: string | null;
  completionTime: string | null;
}

export interface DrillRequest {
  dryRun?: boolean;
}

export interface DrillResult {
  id: string;
  revision: string;
  objects: number;
  applied: number;
  activated: number;
  seconds: number;
  failed: { object: string; reason: string }[];
  namespaces: Record<string, string>;
  cleanup: string;
  dryRun: boolean;
}
