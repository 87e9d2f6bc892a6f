// Polls a plan source for new revisions. A valid new revision becomes a change set (plans added, changed,
// removed) tagged with the plans-repo commit; an invalid one changes nothing that runs, and its errors stay
// visible in `status()` until a later revision fixes them. Level-based: every poll compares the newest revision
// with what is running, so a missed or repeated poll does no harm.
import { isDeepStrictEqual } from 'node:util';
import type { PlanSnapshot, PlanSource } from './source.ts';

export interface Evaluation<Plan, Problem> {
  plans: Map<string, Plan>;
  errors: Problem[];
}

export interface PlanChangeSet<Plan> {
  revision: string;
  added: Plan[];
  changed: Plan[];
  removed: string[];
  /** Every plan in force after this change set. */
  plans: Map<string, Plan>;
}

export interface WatcherStatus<Problem> {
  source: string;
  /** The revision whose plans are running. */
  appliedRevision: string | undefined;
  /** The newest revision seen; differs from appliedRevision while it is invalid. */
  latestRevision: string | undefined;
  errors: Problem[];
  lastPollError: string | undefined;
  lastPollAt: string | undefined;
}

export interface PlanWatcherOptions<Plan, Problem> {
  source: PlanSource;
  evaluate: (snapshot: PlanSnapshot) => Evaluation<Plan, Problem>;
  onChange: (changes: PlanChangeSet<Plan>) => Promise<void> | void;
  onInvalid?: (revision: string, errors: Problem[]) => void;
  onPollError?: (error: Error) => void;
  intervalMs?: number;
}

export class PlanWatcher<Plan, Problem> {
  private readonly options: PlanWatcherOptions<Plan, Problem>;
  private running = new Map<string, Plan>();
  private state: WatcherStatus<Problem>;
  private timer: NodeJS.Timeout | undefined;
  private polling: Promise<void> | undefined;

  constructor(options: PlanWatcherOptions<Plan, Problem>) {
    this.options = options;
    this.state = { source: options.source.description, appliedRevision: undefined, latestRevision: undefined, errors: [], lastPollError: undefined, lastPollAt: undefined };
  }

  status(): WatcherStatus<Problem> {
    return structuredClone(this.state);
  }

  plans(): Map<string, Plan> {
    return new Map(this.running);
  }

  /** One poll; concurrent callers share it. Resolves after onChange has finished for a valid new revision. */
  poll(): Promise<void> {
    this.polling ??= this.pollOnce().finally(() => (this.polling = undefined));
    return this.polling;
  }

  private async pollOnce(): Promise<void> {
    let snapshot: PlanSnapshot;
    try {
      snapshot = await this.options.source.snapshot();
    } catch (error) {
      this.state.lastPollError = (error as Error).message;
      this.options.onPollError?.(error as Error);
      return;
    } finally {
      this.state.lastPollAt = new Date().toISOString();
    }
    this.state.lastPollError = undefined;
    if (snapshot.revision === this.state.latestRevision) return;
    this.state.latestRevision = snapshot.revision;
    const evaluation = this.options.evaluate(snapshot);
    if (evaluation.errors.length > 0) {
      this.state.errors = evaluation.errors;
      this.options.onInvalid?.(snapshot.revision, evaluation.errors);
      return;
    }
    this.state.errors = [];
    const changes = diffPlans(this.running, evaluation.plans, snapshot.revision);
    this.running = evaluation.plans;
    this.state.appliedRevision = snapshot.revision;
    await this.options.onChange(changes);
  }

  start(): void {
    const interval = this.options.intervalMs ?? 10_000;
    const tick = () => {
      this.timer = setTimeout(() => void this.poll().finally(tick), interval);
    };
    void this.poll().finally(tick);
  }

  async stop(): Promise<void> {
    clearTimeout(this.timer);
    this.timer = undefined;
    await this.polling;
  }
}

/** What changes between two sets of plans, keyed by plan name. */
export function diffPlans<Plan>(before: Map<string, Plan>, after: Map<string, Plan>, revision: string): PlanChangeSet<Plan> {
  const added: Plan[] = [];
  const changed: Plan[] = [];
  const removed: string[] = [];
  for (const [name, plan] of after) {
    const previous = before.get(name);
    if (previous === undefined) added.push(plan);
    else if (!isDeepStrictEqual(previous, plan)) changed.push(plan);
  }
  for (const name of before.keys()) if (!after.has(name)) removed.push(name);
  return { revision, added, changed, removed, plans: after };
}
