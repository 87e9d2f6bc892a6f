// What keeps a plan from making progress, as data for status, /readyz and metrics: objects that one stage cannot
// handle (reported alone and skipped, so they never hold back the others) and components that cannot work at all
// (a mirror that cannot be written, a watch that keeps failing). An entry disappears when what it names clears.

export const FailureStage = { listener: 'listener', processor: 'processor' } as const;
export type FailureStage = (typeof FailureStage)[keyof typeof FailureStage];

/** An object a stage skipped: named as `kind namespace/name` (with its group), why, since when, how often. */
export interface ObjectFailure {
  object: string;
  stage: FailureStage;
  reason: string;
  /** RFC 3339: the first failure since the object last went through. */
  since: string;
  count: number;
}

/** A component that cannot make progress for any object of the plan. */
export interface Stall {
  component: 'mirror' | 'listener';
  /** What a person reads first: `mirror not writable`, `watch of core/v1/secrets failing`. */
  summary: string;
  error: string;
  since: string;
}

/** Failing objects kept per plan: enough to name them in status; beyond it the oldest are forgotten. */
const keptFailures = 200;

/** The objects a plan's stages skipped, newest last, bounded. */
export class ObjectFailures {
  private readonly entries = new Map<string, ObjectFailure>();
  private readonly onChange: (stage: FailureStage, failing: number) => void;

  constructor(onChange: (stage: FailureStage, failing: number) => void = () => undefined) {
    this.onChange = onChange;
  }

  report(stage: FailureStage, object: string, reason: string): void {
    const key = `${stage}\0${object}`;
    const previous = this.entries.get(key);
    this.entries.delete(key);
    this.entries.set(key, { object, stage, reason, since: previous?.since ?? new Date().toISOString(), count: (previous?.count ?? 0) + 1 });
    if (this.entries.size > keptFailures) this.entries.delete(this.entries.keys().next().value!);
    this.onChange(stage, this.count(stage));
  }

  /** The object went through the stage (or is gone): it no longer fails there. */
  clear(stage: FailureStage, object: string): void {
    if (this.entries.delete(`${stage}\0${object}`)) this.onChange(stage, this.count(stage));
  }

  /**
   * Forgets failures of objects the source no longer has (deleted while their delete event was missed), as a list
   * that began at `listedFrom` shows; failures that began after it may be of objects the list did not see yet.
   */
  retain(existing: Set<string>, listedFrom: number): void {
    const stages = new Set<FailureStage>();
    for (const [key, entry] of this.entries) {
      if (existing.has(entry.object) || Date.parse(entry.since) >= listedFrom) continue;
      this.entries.delete(key);
      stages.add(entry.stage);
    }
    for (const stage of stages) this.onChange(stage, this.count(stage));
  }

  count(stage?: FailureStage): number {
    if (!stage) return this.entries.size;
    let count = 0;
    for (const entry of this.entries.values()) if (entry.stage === stage) count++;
    return count;
  }

  /** The newest `limit` failures, newest first. */
  list(limit: number): ObjectFailure[] {
    return [...this.entries.values()].reverse().slice(0, limit);
  }
}

/** `kind namespace/name` with the group, as logs and status name an object. */
export function objectName(resource: { group: string; kind: string }, metadata: { namespace?: string; name?: string } | undefined): string {
  return `${resource.group ? `${resource.group}/` : ''}${resource.kind} ${metadata?.namespace ? `${metadata.namespace}/` : ''}${metadata?.name ?? '(no name)'}`;
}
