// The pass scheduler (pure): the order between overlapping synchronizer passes, as data. Every task, stage and pass
// is a milestone that settles once; a task's dependencies are references to other milestones. The synchronizer
// executes the schedule, awaiting a promise per milestone kept beside (Signals); there is no I/O and no timer here.
import { compareForApply, dependsOn, isNamespace, stageOf, stages, stagesOf, type Stage } from '../order.ts';
import type { UnversionedRef } from '../../kube/ref.ts';
import type { WorkItem } from './planner.ts';

/** Something to wait for: it settles once and stays settled. */
export interface Milestone {
  settled: boolean;
}

/** One path's apply or delete in one pass; settled when done, skipped (superseded) or its pass ended. */
export interface Task<Item extends WorkItem = WorkItem> extends Milestone {
  readonly item: Item;
  readonly pass: Pass<Item>;
  /** The same path's task of an earlier pass, already started when this one was planned: it finishes first. */
  after: Task<Item> | undefined;
  /** The task applying this object's Namespace, in this pass or an earlier one (pending when this was planned). */
  namespace: Task<Item> | undefined;
  started: boolean;
  /** A later pass's task that took the path over before this one started: this one is skipped. */
  supersededBy: Task<Item> | undefined;
}

/** The diff from the previous pass's commit to `target`, being applied. */
export interface Pass<Item extends WorkItem = WorkItem> {
  readonly target: string;
  /** Per path, when the listener saw the first change this pass brings to the destination (epoch ms). */
  readonly observed: Record<string, number>;
  readonly tasks: ReadonlyMap<string, Task<Item>>;
  /** Passes not done when this one was planned (emptied when this one is done). */
  earlier: readonly Pass<Item>[];
  /** The pass planned just before this one: its results are recorded first. */
  previous: Pass<Item> | undefined;
  /** The schedule's generation at planning: a pass failed since then means this one does not advance the commit. */
  readonly generation: number;
  /** `stages[i]`: this pass's apply stages up to `stages[i]` are done. */
  readonly stages: readonly Milestone[];
  /** Every task has its result, or the pass failed (it may still wait to record them). */
  readonly applied: Milestone;
  /** The results are recorded, or the pass failed: it is over. */
  readonly done: Milestone;
}

export interface ScheduleOptions {
  /** The mirror path of a ref (for the Namespace a task waits for). */
  pathOf: (ref: UnversionedRef) => string;
  /** At most this many passes apply at once; planning the next waits (and folds more commits into it). */
  maxPassesInFlight: number;
  /** Called as each milestone settles (the synchronizer resolves the promise waiting on it). */
  onSettled?: (milestone: Milestone) => void;
}

export class Schedule<Item extends WorkItem = WorkItem> {
  private readonly options: ScheduleOptions;
  /** The newest task per path, for ordering the same path's tasks across passes. */
  private readonly latest = new Map<string, Task<Item>>();
  /** Passes planned and not done, in planning order. */
  private passes: Pass<Item>[] = [];
  private last: Pass<Item> | undefined;
  /** Bumped when a pass fails: passes planned before that do not advance the applied commit. */
  private generation = 0;

  constructor(options: ScheduleOptions) {
    this.options = options;
  }

  /** Paths in passes not yet done (planned, waiting or applying). */
  backlog(): number {
    return this.latest.size;
  }

  /** Whether a pass not yet done has the path (a failure of it is retried once that pass has its result). */
  has(path: string): boolean {
    return this.latest.has(path);
  }

  /** Passes planned and not done, in planning order. */
  unfinished(): readonly Pass<Item>[] {
    return this.passes;
  }

  /** Passes still applying (one that has applied everything may still wait for earlier ones to be recorded). */
  applying(): Pass<Item>[] {
    return this.passes.filter((pass) => !pass.applied.settled);
  }

  /** Planning waits while this is true: the bound on passes in flight is reached. */
  full(): boolean {
    return this.applying().length >= this.options.maxPassesInFlight;
  }

  /**
   * A new pass with a task per item. A path whose task in an earlier pass has not started yet is taken over: that
   * task is skipped, and this one waits for what it waited for and keeps its first-observed time. A path whose task
   * already started waits for it. A namespaced object waits for its own Namespace's pending task, if there is one.
   */
  plan(target: string, items: readonly Item[], observed: Record<string, number>): Pass<Item> {
    const tasks = new Map<string, Task<Item>>();
    const milestone = (): Milestone => ({ settled: false });
    const pass: Pass<Item> = {
      target, observed: { ...observed }, tasks, earlier: [...this.passes], previous: this.last, generation: this.generation,
      stages: stages.map(milestone), applied: milestone(), done: milestone(),
    };
    for (const item of items) {
      const previous = this.latest.get(item.path);
      const task: Task<Item> = { item, pass, after: undefined, namespace: undefined, started: false, supersededBy: undefined, settled: false };
      if (previous && !previous.started) {
        // Not started yet: this pass applies the newer version instead, and its lag counts from the earlier change.
        previous.supersededBy = task;
        task.after = previous.after;
        const earlier = previous.pass.observed[item.path];
        if (earlier !== undefined) pass.observed[item.path] = Math.min(pass.observed[item.path] ?? earlier, earlier);
      } else if (previous) task.after = previous;
      tasks.set(item.path, task);
      this.latest.set(item.path, task);
    }
    for (const task of tasks.values()) {
      const namespace = task.item.oid === undefined ? undefined : dependsOn(task.item.ref);
      if (namespace) task.namespace = this.latest.get(this.options.pathOf(namespace));
    }
    this.passes.push(pass);
    this.last = pass;
    return pass;
  }

  /**
   * What `task` waits for next before it may start, or undefined: the same path's earlier task, then its Namespace
   * applied (by that task, or the later tasks that took it over; a later delete of it is not waited for: deletes
   * wait for earlier passes, that would be a cycle).
   */
  blocker(task: Task<Item>): Milestone | undefined {
    if (task.after && !task.after.settled) return task.after;
    for (let current = task.namespace; current?.item.oid !== undefined; current = current.supersededBy) if (!current.settled) return current;
    return undefined;
  }

  /** What stage `index` of `pass` waits for: every earlier pass's stage before it (their CRDs established). */
  stageGate(pass: Pass<Item>, index: number): Milestone[] {
    return index === 0 ? [] : pass.earlier.map((other) => other.stages[index - 1]!).filter((stage) => !stage.settled);
  }

  /** What the deletes of `pass` wait for: every earlier pass done. */
  deleteGate(pass: Pass<Item>): Milestone[] {
    return pass.earlier.map((other) => other.done).filter((done) => !done.settled);
  }

  /**
   * What recording `pass` waits for: the pass planned before it. The applied commit advances in the order the passes
   * were planned (in finishing order, an older commit could be written last, and the reconciler would take the
   * objects of the newer passes for orphans and delete them).
   */
  recordGate(pass: Pass<Item>): Milestone | undefined {
    return pass.previous && !pass.previous.done.settled ? pass.previous.done : undefined;
  }

  /** The task's turn has come: false when a later pass took it over (it is skipped, and settled). */
  start(task: Task<Item>): boolean {
    if (task.supersededBy && !task.started) {
      this.settle(task);
      return false;
    }
    task.started = true;
    return true;
  }

  finish(task: Task<Item>): void {
    this.settle(task);
  }

  finishStage(pass: Pass<Item>, index: number): void {
    this.settle(pass.stages[index]!);
  }

  /** Every task of `pass` has its result (or the pass failed): it no longer counts against the bound. */
  finishApplying(pass: Pass<Item>): void {
    this.settle(pass.applied);
  }

  /** A pass failed: the passes planned before now will not advance the applied commit. */
  fail(): void {
    this.generation++;
  }

  /** Whether `pass` may advance the applied commit: no pass failed since it was planned. */
  advances(pass: Pass<Item>): boolean {
    return pass.generation === this.generation;
  }

  /** The pass is over (recorded or failed): whatever it did not reach must not hold back later passes. */
  finishPass(pass: Pass<Item>): void {
    this.passes = this.passes.filter((candidate) => candidate !== pass);
    for (const [path, task] of pass.tasks) {
      this.settle(task);
      if (this.latest.get(path) === task) this.latest.delete(path);
      // Settled: what it waited for no longer matters (and must not keep older passes in memory).
      task.after = undefined;
      task.namespace = undefined;
    }
    for (const stage of pass.stages) this.settle(stage);
    this.settle(pass.applied);
    pass.earlier = [];
    pass.previous = undefined;
    this.settle(pass.done);
  }

  private settle(milestone: Milestone): void {
    if (milestone.settled) return;
    milestone.settled = true;
    this.options.onSettled?.(milestone);
  }
}

/** A pass's tasks in the groups they run in, in the one apply order (src/pipeline/order.ts). */
export interface PassGroups<Item extends WorkItem> {
  /** The Namespaces, applied beside the stages after theirs: an object there waits for its own Namespace only. */
  namespaces: Task<Item>[];
  /** Every apply stage in order, empty ones too (each stage's milestone settles in turn). */
  stages: { stage: Stage; waitForReady: boolean; tasks: Task<Item>[] }[];
  /** The deletes, stage by stage in the reverse order, after every earlier pass is done. */
  deletes: Task<Item>[][];
}

export function groupsOf<Item extends WorkItem>(pass: Pass<Item>): PassGroups<Item> {
  const applies = [...pass.tasks.values()].filter((task) => task.item.oid !== undefined).sort((a, b) => compareForApply(a.item.ref, b.item.ref));
  const namespaces = applies.filter((task) => isNamespace(task.item.ref));
  const others = applies.filter((task) => !isNamespace(task.item.ref));
  const deletes = [...pass.tasks.values()].filter((task) => task.item.oid === undefined);
  return {
    namespaces,
    stages: stages.map(({ stage, waitForReady }) => ({ stage, waitForReady, tasks: others.filter((task) => stageOf(task.item.ref) === stage) })),
    deletes: stagesOf(deletes.map((task) => ({ ...task.item.ref, task })), 'delete').map((group) => group.refs.map(({ task }) => task)),
  };
}

/** The promises beside a schedule: `when(milestone)` resolves once the schedule settles it (pass `fire` as onSettled). */
export class Signals {
  private readonly waiting = new WeakMap<Milestone, { promise: Promise<void>; resolve: () => void }>();

  when(milestone: Milestone): Promise<void> {
    if (milestone.settled) return Promise.resolve();
    let waiting = this.waiting.get(milestone);
    if (!waiting) {
      let resolve!: () => void;
      const promise = new Promise<void>((done) => (resolve = done));
      waiting = { promise, resolve };
      this.waiting.set(milestone, waiting);
    }
    return waiting.promise;
  }

  fire = (milestone: Milestone): void => {
    this.waiting.get(milestone)?.resolve();
    this.waiting.delete(milestone);
  };
}
