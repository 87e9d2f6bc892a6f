// The pass planner (pure): what one synchronizer pass applies and deletes. Level-based but O(changes): the tree diff
// since the commit the previous pass went to, plus earlier failures due for a retry; only without a usable commit
// (first run, Redis lost, history rewritten) is the whole target tree compared with the inventory.
import { refFromMirrorPath, type UnversionedRef } from '../../kube/ref.ts';

/** One path's apply (an `oid`: the blob to apply) or delete (no `oid`) in one pass. */
export interface WorkItem {
  path: string;
  ref: UnversionedRef;
  oid: string | undefined;
  /** A delete of the live object only (a held object found applied at the sleeping stand-by), not of its holder. */
  liveOnly?: boolean;
}

export interface Failure {
  attempts: number;
  /** When the path is due for its next try (epoch ms). */
  retryAt: number;
}

/** What the pass starts from: the changes since the last dispatched commit, or (without one) the whole target tree. */
export type Baseline =
  | { type: 'diff'; changes: readonly { path: string; newOid: string | undefined }[] }
  | { type: 'tree'; files: ReadonlyMap<string, string> };

export interface PassInput {
  baseline: Baseline;
  /** Path → blob oid of what is applied at the destination. */
  inventory: ReadonlyMap<string, string>;
  failures: ReadonlyMap<string, Failure>;
  /** Paths an unfinished pass still has (their retry waits for that pass's result). */
  inFlight: { has(path: string): boolean };
  now: number;
}

export interface PassPlan {
  /** Applies and deletes whose blob is known, in the order found. */
  work: WorkItem[];
  /** Failures retried by this pass: their oid at the target is for the caller to look up (undefined: a delete). */
  retries: { path: string; ref: UnversionedRef; retryAt: number }[];
  /** Paths that are not mirror object paths: left alone. */
  ignored: string[];
}

/** A failed object is retried after 0.5 s, 1 s, 2 s … and then every 15 s, not on every pass. */
export const retryDelayMs = (attempts: number): number => Math.min(15_000, 500 * 2 ** Math.max(0, attempts - 1));

export function planPass(input: PassInput): PassPlan {
  const plan: PassPlan = { work: [], retries: [], ignored: [] };
  const planned = new Set<string>();
  const refOf = (path: string): UnversionedRef | undefined => {
    try {
      return refFromMirrorPath(path).ref;
    } catch {
      plan.ignored.push(path);
      return undefined;
    }
  };
  const add = (path: string, oid: string | undefined) => {
    if (planned.has(path)) return;
    planned.add(path);
    const ref = refOf(path);
    if (ref) plan.work.push({ path, ref, oid });
  };
  const { baseline, inventory } = input;
  if (baseline.type === 'diff') for (const change of baseline.changes) add(change.path, change.newOid);
  else {
    for (const [path, oid] of baseline.files) if (inventory.get(path) !== oid) add(path, oid);
    // Whatever the inventory has that the target does not: deletes to make.
    for (const path of inventory.keys()) if (!baseline.files.has(path)) add(path, undefined);
  }
  for (const [path, failure] of input.failures) {
    if (failure.retryAt > input.now || planned.has(path) || input.inFlight.has(path)) continue;
    planned.add(path);
    const ref = refOf(path);
    // Until this retry's result is known, the next try waits as if it had failed once more.
    if (ref) plan.retries.push({ path, ref, retryAt: input.now + retryDelayMs(failure.attempts + 1) });
  }
  return plan;
}
