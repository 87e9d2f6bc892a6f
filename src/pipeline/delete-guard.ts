// The delete guard: a DR system must not faithfully replicate a disaster. Source deletes beyond the plan's
// threshold — more than `maxPercent` of the plan's objects within `window` (and at least `minDeletes`), or any
// Namespace delete (including the objects of a namespace being deleted) — are held instead of committed, until a
// person approves or rejects them (`lifeboat deletes`). While deletes are held the guard stays tripped: every new
// delete is held too, so a disaster in progress is never half-replicated.
import { refFromMirrorPath } from '../kube/ref.ts';

export interface GuardPolicy {
  maxPercent: number;
  minDeletes: number;
  windowMs: number;
  namespaces: boolean;
}

export interface HeldDelete {
  path: string;
  summary: string;
  reason: string;
  at: string;
}

export interface DeleteCandidate {
  path: string;
  summary: string;
  guard?: 'namespace';
  approved?: boolean;
}

export interface GuardDecision {
  commit: string[];
  hold: HeldDelete[];
  /** Deletes a person rejected earlier: never committed while the object stays gone. */
  drop: string[];
}

const isNamespacePath = (path: string) => {
  try {
    const { ref } = refFromMirrorPath(path);
    return ref.group === '' && ref.kind === 'Namespace';
  } catch {
    return false;
  }
};

export class DeleteGuard {
  private readonly policy: GuardPolicy;
  /** When recently committed deletes were committed, for the sliding window. */
  private recent: number[] = [];

  constructor(policy: GuardPolicy) {
    this.policy = policy;
  }

  /** Sorts a batch's deletes into those to commit, hold and drop. `objects` is the plan's object count. */
  decide(deletes: DeleteCandidate[], context: { objects: number; held: ReadonlySet<string>; rejected: ReadonlySet<string>; now?: number }): GuardDecision {
    const now = context.now ?? Date.now();
    const at = new Date(now).toISOString();
    this.recent = this.recent.filter((time) => now - time < this.policy.windowMs);
    const decision: GuardDecision = { commit: [], hold: [], drop: [] };
    const candidates: DeleteCandidate[] = [];
    for (const candidate of deletes) {
      if (candidate.approved) decision.commit.push(candidate.path);
      else if (context.rejected.has(candidate.path)) decision.drop.push(candidate.path);
      else if (this.policy.namespaces && (candidate.guard === 'namespace' || isNamespacePath(candidate.path))) {
        const { ref } = refFromMirrorPath(candidate.path);
        decision.hold.push({ ...pick(candidate), reason: `namespace ${ref.kind === 'Namespace' ? ref.name : ref.namespace} is being deleted in the source`, at });
      } else if (context.held.size > 0) {
        decision.hold.push({ ...pick(candidate), reason: 'the delete guard is tripped: deletes are held until the held ones are approved or rejected', at });
      } else candidates.push(candidate);
    }
    const limit = (this.policy.maxPercent / 100) * context.objects;
    const total = this.recent.length + candidates.length;
    if (decision.hold.length > 0 || (total >= this.policy.minDeletes && total > limit)) {
      const reason = decision.hold.length > 0 && total <= limit
        ? 'held with the namespace deletes of the same batch'
        : `${total} deletes within ${Math.round(this.policy.windowMs / 1000)}s exceed ${this.policy.maxPercent}% of the plan's ${context.objects} objects`;
      decision.hold.push(...candidates.map((candidate) => ({ ...pick(candidate), reason, at })));
    } else decision.commit.push(...candidates.map((candidate) => candidate.path));
    return decision;
  }

  /** Records deletes that were committed (they count against the window). */
  committed(count: number, now = Date.now()): void {
    for (let index = 0; index < count; index++) this.recent.push(now);
  }
}

function pick(candidate: DeleteCandidate): { path: string; summary: string } {
  return { path: candidate.path, summary: candidate.summary };
}
