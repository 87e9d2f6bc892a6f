// The synchronizer: makes the destination equal to the mirror branch, level-based. Each pass diffs the tree of the
// last dispatched commit against the mirror head, retries earlier failures (sync/planner.ts), and applies the
// difference in the one staged order (server-side apply, field manager `lifeboat`), deleting only objects that carry
// the plan label. Passes overlap; the order between them is data (sync/scheduler.ts), executed here. Every object gets
// the plan label and the revision annotation; owners are re-linked to destination UIDs (sync/destination.ts). An
// object that cannot be applied is reported with its reason and never blocks the others.
import { mirrorPath, type UnversionedRef } from '../kube/ref.ts';
import type { MirrorRepository } from '../mirror/repository.ts';
import type { SyncState } from '../state/state.ts';
import { mapLimit } from '../util/limit.ts';
import type { Logger } from '../util/log.ts';
import type { KubeClient } from '../kube/client.ts';
import type { HoldOptions } from './hold.ts';
import { gatesNextStage, Stage, stageOf } from './order.ts';
import { Destination, type ApplyResult } from './sync/destination.ts';
import { foreignObjects } from './sync/foreign.ts';
import type { Ownership } from './sync/destination.ts';
import { planPass, retryDelayMs, type Baseline, type Failure, type WorkItem } from './sync/planner.ts';
import { reconcileDestination, type DestinationReport, type ReconcileOptions } from './sync/reconcile.ts';
import { groupsOf, Schedule, Signals, type Milestone, type Pass, type PassGroups, type Task } from './sync/scheduler.ts';

export type { ApplyAction, ApplyResult } from './sync/destination.ts';
export { differingFields, listHolders, type DestinationReport, type ReconcileOptions } from './sync/reconcile.ts';

export interface SyncReport {
  revision: string | undefined;
  results: ApplyResult[];
}

/** One pass, finished: its results recorded (for benchmarks and metrics). */
export interface PassSummary {
  /** The mirror commit the pass applied. */
  revision: string;
  /** Paths the pass had (applies, deletes and retries, unchanged ones too). */
  objects: number;
  applied: number;
  deleted: number;
  failed: number;
  /** From planned (epoch ms, `startedAt`) to recorded. */
  durationMs: number;
  startedAt: number;
}

export interface SynchronizerOptions {
  plan: string;
  mirrorDir: string;
  repository: MirrorRepository;
  client: KubeClient;
  state: SyncState;
  identities: readonly string[];
  concurrency: number;
  log: Logger;
  onResult?: (result: ApplyResult, lagMs: number | undefined) => void;
  /** A new mirror commit is now applied at the destination (for history). */
  onApplied?: (revision: string) => void;
  /** A pass finished: called after its results are recorded. */
  onPass?: (pass: PassSummary) => void;
  /** The plan's `recovery.hold`: what the sleeping stand-by keeps for activation (src/pipeline/hold.ts). */
  hold?: HoldOptions;
}

/** The largest number of passes applying at once; more commits than that wait and are folded into one pass. */
const maxPassesInFlight = 16;

/** What the synchronizer knows of the destination between passes (loaded from the state, kept up to date). */
interface Known {
  inventory: Map<string, string>;
  failures: Map<string, Failure>;
  /** The commit the last planned pass diffed to (where the next pass's diff starts). */
  dispatched: string | undefined;
}

/** What one pass's tasks share while it applies. */
interface PassRun {
  pass: Pass;
  known: Known;
  /** Objects new to the destination that exist there without this plan's label (never touched). */
  ownership: Ownership;
  ownerInMirror: (ref: UnversionedRef) => Promise<boolean>;
  results: ApplyResult[];
  /** Tasks whose owner was not at the destination yet: tried again at the end of the pass. */
  pendingOwners: Task[];
}

type Counts = Pick<PassSummary, 'applied' | 'deleted' | 'failed'>;

export class Synchronizer {
  private readonly options: SynchronizerOptions;
  private readonly destination: Destination;
  private readonly signals = new Signals();
  private readonly schedule: Schedule;
  /** Planning of passes and reconciles run one after another on this chain; applying overlaps. */
  private chain: Promise<unknown> = Promise.resolve();
  private queued: { planned: Promise<void>; done: Promise<SyncReport> } | undefined;
  private observed: Record<string, number> = {};
  /** The changes of the pass being planned (taken from `observed`, not yet in a pass). */
  private planning: Record<string, number> = {};
  /** Per pass planned and not finished, the changes (path → source time) not yet settled at the destination. */
  private readonly unsettled = new Map<Pass, Map<string, number>>();
  private known: Known | undefined;
  private closed = false;
  /**
   * Each pass walks its objects with a few more workers than there are apply slots (a worker may be waiting for an
   * earlier pass's apply of the same path); the slots are shared by every pass.
   */
  private readonly inFlightPerPass: number;

  constructor(options: SynchronizerOptions) {
    this.options = options;
    this.destination = new Destination(options);
    this.schedule = new Schedule({ pathOf: (ref) => mirrorPath(options.mirrorDir, ref), maxPassesInFlight, onSettled: this.signals.fire });
    this.inFlightPerPass = options.concurrency * 2;
  }

  /**
   * Applies the mirror head: plans a pass now, or (when a planning step is already waiting) joins it. Resolves when
   * the pass has applied everything. Passes overlap: a pass starts while earlier ones are still applying, sharing
   * `concurrency` slots at the destination, so one slow object never holds back the changes behind it.
   */
  sync(observed: Record<string, number> = {}): Promise<SyncReport> {
    return this.enqueue(observed).done;
  }

  /** Like `sync`, but resolves once the pass is planned (its applies started); failures are logged. */
  async dispatch(observed: Record<string, number> = {}): Promise<void> {
    const { planned, done } = this.enqueue(observed);
    done.catch((error: Error) => this.options.log.warn({ err: error.message }, 'synchronizer pass failed; the next one starts from the last applied commit'));
    await planned;
  }

  /**
   * The source time (epoch ms) of the oldest change handed to this synchronizer and not yet applied at the
   * destination (waiting for a pass, being planned, or in a pass applying); undefined when there is none. The RPO
   * right now is `now` minus it.
   */
  oldestUnapplied(): number | undefined {
    let oldest: number | undefined;
    const take = (at: number) => (oldest = oldest === undefined ? at : Math.min(oldest, at));
    for (const at of Object.values(this.observed)) take(at);
    for (const at of Object.values(this.planning)) take(at);
    for (const changes of this.unsettled.values()) for (const at of changes.values()) take(at);
    return oldest;
  }

  /** Objects in passes not yet finished (planned, waiting or applying). */
  backlog(): number {
    return this.schedule.backlog();
  }

  /** Reads the destination's API resources now (in the background), so the first pass does not wait for them. */
  prepare(): void {
    this.destination.index().catch(() => undefined);
  }

  /** Forget what is cached of the destination's state (another process may have synchronized meanwhile). */
  invalidate(): void {
    this.known = undefined;
  }

  /**
   * Compares the destination with the mirror tree it was last synchronized to (one labelled LIST per kind) and,
   * in `correct` mode, re-applies drifted and missing objects and deletes plan-labelled objects the mirror does not
   * have. Runs when no pass is applying, and no pass starts before it is done.
   */
  reconcile(mode: 'correct' | 'detect', options: ReconcileOptions = {}): Promise<DestinationReport> {
    const run = this.chain.then(async () => {
      await this.drain();
      return reconcileDestination({ ...this.options, destination: this.destination, inventory: async () => (await this.knownState()).inventory }, mode, options);
    });
    this.chain = run.catch(() => undefined);
    return run;
  }

  /**
   * Resolves when every pass planned or queued so far has applied and been recorded (errors are the passes' own):
   * a stop waits for it, so no pass reads or writes the state after its store closed.
   */
  async idle(): Promise<void> {
    await this.chain;
    await this.drain().catch(() => undefined);
  }

  private enqueue(observed: Record<string, number>): { planned: Promise<void>; done: Promise<SyncReport> } {
    // A path changed again before it was applied: its lag counts from the first change not yet applied.
    for (const [path, at] of Object.entries(observed)) this.observed[path] = Math.min(this.observed[path] ?? at, at);
    // Closed (the stage stopped, its state store about to close): no pass is planned any more.
    if (this.closed) return { planned: Promise.resolve(), done: Promise.resolve({ revision: undefined, results: [] }) };
    if (this.queued) return this.queued;
    const planning = this.chain.then(() => {
      this.queued = undefined;
      return this.closed ? undefined : this.plan();
    });
    this.chain = planning.catch(() => undefined);
    const queued = { planned: planning.then(() => undefined), done: planning.then((started) => started?.done ?? { revision: undefined, results: [] }) };
    // A caller takes one of the two (sync: done, dispatch: both): the other one's failure is the same error, already
    // reported to that caller, not an unhandled rejection.
    queued.planned.catch(() => undefined);
    queued.done.catch(() => undefined);
    this.queued = queued;
    return queued;
  }

  /** No pass is planned after this; those planned finish (idle() waits for them). */
  close(): void {
    this.closed = true;
  }

  private waitFor(milestones: Milestone[]): Promise<unknown> {
    return Promise.all(milestones.map((milestone) => this.signals.when(milestone)));
  }

  private async drain(): Promise<void> {
    await this.waitFor(this.schedule.unfinished().map((pass) => pass.done));
  }

  /** The cached inventory and failures, loaded from the state when nothing is cached (first pass, after an error). */
  private async knownState(): Promise<Known> {
    if (this.known) return this.known;
    await this.drain();
    const { state, plan } = this.options;
    const now = Date.now();
    const [failed, inventory, dispatched] = await Promise.all([state.failures(plan), state.inventory(plan), state.getValue(plan, 'applied-head')]);
    const failures = new Map(failed.map((failure) => [failure.path, { attempts: failure.attempts, retryAt: now }]));
    this.known = { inventory, failures, dispatched };
    return this.known;
  }

  /** Works out what the next pass applies and starts it; its `done` settles when it is recorded. */
  private async plan(): Promise<{ done: Promise<SyncReport> } | undefined> {
    // Bounded overlap: wait for the oldest pass when too many are applying.
    while (this.schedule.full()) await Promise.race(this.schedule.applying().map((pass) => this.signals.when(pass.applied)));
    // Every change observed so far is in the head this pass reads; what arrives later waits for the next pass.
    const observed = this.observed;
    this.observed = {};
    this.planning = observed;
    try {
      return await this.planWith(observed);
    } catch (error) {
      // Not planned: the changes wait for the next pass (their time still counts in the RPO).
      for (const [path, at] of Object.entries(observed)) this.observed[path] = Math.min(this.observed[path] ?? at, at);
      throw error;
    } finally {
      this.planning = {};
    }
  }

  private async planWith(observed: Record<string, number>): Promise<{ done: Promise<SyncReport> } | undefined> {
    const { plan, repository, state } = this.options;
    // One round trip: under an initial sync every await here waits behind a busy event loop.
    const [failover, loaded] = await Promise.allSettled([state.getValue(plan, 'failover'), this.knownState()]);
    if (failover.status === 'rejected') throw failover.reason;
    if (failover.value) return undefined;
    const target = await repository.head();
    if (!target) return undefined;
    let known: Known;
    let work: WorkItem[];
    try {
      if (loaded.status === 'rejected') throw loaded.reason;
      known = loaded.value;
      work = await this.workFor(known, target);
    } catch (error) {
      this.invalidate();
      throw error;
    }
    known.dispatched = target;
    const pass = this.schedule.plan(target, work, observed);
    this.unsettled.set(pass, new Map(Object.entries(observed)));
    this.options.log.debug({ revision: target.slice(0, 12), objects: pass.tasks.size, overlapping: pass.earlier.length }, 'pass planned');
    return { done: this.start(pass, known) };
  }

  /**
   * The pass's work (sync/planner.ts): the tree diff since the dispatched commit, or without a usable one (first
   * run, Redis lost, history rewritten) the whole tree; and the failures due, with their blob at the target.
   */
  private async workFor(known: Known, target: string): Promise<WorkItem[]> {
    const { repository, mirrorDir, log } = this.options;
    let baseline: Baseline | undefined;
    if (known.dispatched !== undefined) {
      try {
        baseline = { type: 'diff', changes: await repository.diff(known.dispatched, target, mirrorDir) };
      } catch {
        /* the commit is gone from the mirror (history rewritten): compare everything */
      }
    }
    baseline ??= { type: 'tree', files: await repository.files(target, mirrorDir) };
    const { work, retries, ignored } = planPass({ baseline, inventory: known.inventory, failures: known.failures, inFlight: this.schedule, now: Date.now() });
    for (const path of ignored) log.warn({ path }, 'not a mirror object path; ignored');
    for (const { path, retryAt } of retries) known.failures.get(path)!.retryAt = retryAt; // until this retry's result is known
    for (const { path, ref } of retries) work.push({ path, ref, oid: await repository.oidAt(target, path) });
    return work;
  }

  /**
   * Starts applying a planned pass. Its results are recorded in the order the passes were planned, as the applied
   * commit is written; a pass that fails bumps the schedule's generation, so earlier-planned passes still applying do
   * not advance the applied commit, and the next pass starts from the last recorded state.
   */
  private start(pass: Pass, known: Known): Promise<SyncReport> {
    const { plan, state } = this.options;
    const startedAt = Date.now();
    const failed = (error: unknown) => {
      this.schedule.fail();
      this.invalidate();
      throw error;
    };
    const running = this.run(pass, known);
    void running.then(() => undefined, () => undefined).finally(() => this.schedule.finishApplying(pass));
    return running.then(async ({ results, record }) => {
      await this.waitFor([this.schedule.recordGate(pass)].filter((gate) => gate !== undefined));
      const counts = await record().catch(failed);
      if (this.schedule.advances(pass)) {
        await state.setValue(plan, 'applied-head', pass.target);
        this.options.onApplied?.(pass.target);
      }
      this.options.onPass?.({ revision: pass.target, objects: pass.tasks.size, ...counts, durationMs: Date.now() - startedAt, startedAt });
      return { revision: pass.target, results };
    }, failed).finally(() => {
      this.schedule.finishPass(pass);
      this.unsettled.delete(pass);
    });
  }

  /**
   * Applies a planned pass in the staged order. Stage i of this pass starts when earlier passes have finished their
   * stages before i (their CRDs are established); a namespaced object waits for its own Namespace, in this pass or
   * an earlier one; deletes start when earlier passes are done. A path that an earlier pass is still applying waits
   * for it. (bench/run.ts times passes by wrapping this method: keep its name and result.)
   */
  private async run(pass: Pass, known: Known): Promise<{ results: ApplyResult[]; record: () => Promise<Counts> }> {
    const { repository, mirrorDir, log } = this.options;
    // Objects new to the destination: which of them exist there without this plan's label (never touched).
    // Listed in the background, in apply order: each new object waits only for the listing of its own collection.
    const created = [...pass.tasks.values()].map((task) => task.item).filter((item) => item.oid !== undefined && !known.inventory.has(item.path));
    const ownership = foreignObjects(this.destination, created.map((item) => item.ref), this.options);
    void ownership.listed.then((listed) => log.debug({ revision: pass.target.slice(0, 12), listed }, 'foreign objects listed'));
    const ownerInMirror = async (ref: UnversionedRef) => (await repository.oidAt(pass.target, mirrorPath(mirrorDir, ref))) !== undefined;
    const run: PassRun = { pass, known, ownership, ownerInMirror, results: [], pendingOwners: [] };
    const groups = groupsOf(pass);
    await this.applyStages(run, groups);
    // Objects whose owner was applied in this same pass: once more, now that the owner has its destination UID.
    for (const result of await mapLimit(run.pendingOwners, this.inFlightPerPass, (task) => this.perform(run, task, true))) if (result) run.results.push(result);
    if (groups.deletes.length) {
      await this.waitFor(this.schedule.deleteGate(pass));
      for (const group of groups.deletes) {
        for (const result of await mapLimit(group, this.inFlightPerPass, (task) => this.perform(run, task, true))) if (result) run.results.push(result);
      }
    }
    // Namespaces or CRDs just created: what failed for want of them is retried by the next pass, now.
    if (run.results.some((result) => result.action === 'created' && stageOf(result.ref) === Stage.definitions) && known.failures.size) {
      for (const failure of known.failures.values()) failure.retryAt = 0;
      queueMicrotask(() => void this.dispatch());
    }
    return { results: run.results, record: () => this.record(pass, run.results) };
  }

  /** The apply stages in order, each after the stage before it in every earlier pass; Namespaces beside them. */
  private async applyStages(run: PassRun, groups: PassGroups<WorkItem>): Promise<void> {
    const applyAll = async (tasks: Task[]) => {
      const done = await mapLimit(tasks, this.inFlightPerPass, (task) => this.perform(run, task, false));
      for (const [position, result] of done.entries()) {
        if (result?.ownerPending) run.pendingOwners.push(tasks[position]!);
        else if (result) run.results.push(result);
      }
    };
    // Namespaces are applied beside the stages after theirs: an object there waits for its own Namespace only.
    const namespaces = applyAll(groups.namespaces);
    for (const [index, { stage, waitForReady, tasks }] of groups.stages.entries()) {
      await this.waitFor(this.schedule.stageGate(run.pass, index));
      await applyAll(tasks);
      if (waitForReady) await this.destination.waitForCustomResourceDefinitions(tasks.filter((task) => !task.supersededBy && gatesNextStage(task.item.ref)).map((task) => task.item));
      this.schedule.finishStage(run.pass, index);
      if (tasks.length) this.options.log.debug({ revision: run.pass.target.slice(0, 12), stage, objects: tasks.length }, 'stage applied');
    }
    await namespaces;
  }

  /**
   * One task, in its turn: after what it waits for (sync/scheduler.ts), skipped when a later pass took it over.
   * `final`: an object whose owner is not at the destination yet is reported failed (not tried again later).
   */
  private async perform(run: PassRun, task: Task, final: boolean): Promise<ApplyResult | undefined> {
    for (let blocker = this.schedule.blocker(task); blocker; blocker = this.schedule.blocker(task)) await this.signals.when(blocker);
    if (!this.schedule.start(task)) return undefined;
    const { item } = task;
    const { known, pass } = run;
    const result: ApplyResult = item.oid === undefined ? await this.destination.slots.run(() => this.destination.delete(item))
      : known.inventory.get(item.path) === item.oid ? { path: item.path, ref: item.ref, action: 'unchanged' }
        : await this.destination.apply(item, pass.target, known.inventory.has(item.path), run.ownerInMirror, run.ownership);
    if (result.ownerPending && !final) return result; // tried again at the end of this pass
    this.settle(known, pass, item, result);
    this.schedule.finish(task);
    return result;
  }

  /**
   * The pass's results into the state. Recorded in the order the passes were planned, as the applied commit is: a
   * path applied by two passes ends with the later pass's version in the inventory.
   */
  private async record(pass: Pass, results: ApplyResult[]): Promise<Counts> {
    const { plan, state } = this.options;
    const applied = new Map<string, string>();
    const deleted: string[] = [];
    const failures: { path: string; reason: string }[] = [];
    for (const result of results) {
      const oid = pass.tasks.get(result.path)?.item.oid;
      if (result.action === 'created' || result.action === 'configured') applied.set(result.path, oid!);
      else if (result.action === 'deleted' || (result.action === 'skipped' && oid === undefined)) deleted.push(result.path);
      else if (result.action === 'failed' || result.action === 'skipped') failures.push({ path: result.path, reason: result.reason ?? 'unknown' });
    }
    await state.recordApplied(plan, applied, deleted);
    await state.recordFailures(plan, failures);
    if (applied.size || deleted.length || failures.length) {
      this.options.log.info({ revision: pass.target.slice(0, 12), applied: applied.size, deleted: deleted.length, failed: failures.length }, 'synchronized');
    }
    return { applied: applied.size, deleted: deleted.length, failed: failures.length };
  }

  /** Takes one object's result into the cached inventory and failures, and reports it (with its lag). */
  private settle(known: Known, pass: Pass, item: WorkItem, result: ApplyResult): void {
    if (result.action === 'created' || result.action === 'configured') known.inventory.set(item.path, item.oid!);
    else if (result.action === 'deleted' || (result.action === 'skipped' && item.oid === undefined)) known.inventory.delete(item.path);
    if (result.action === 'failed' || (result.action === 'skipped' && item.oid !== undefined)) {
      const attempts = (known.failures.get(item.path)?.attempts ?? 0) + 1;
      known.failures.set(item.path, { attempts, retryAt: Date.now() + retryDelayMs(attempts) });
    } else known.failures.delete(item.path);
    // Settled, even when it failed: an object that cannot be applied is counted apart (lifeboat_failing_objects), not
    // as an RPO that grows until someone fixes it.
    this.unsettled.get(pass)?.delete(item.path);
    if (result.action === 'unchanged') return;
    const observedAt = pass.observed[item.path];
    this.options.onResult?.(result, observedAt === undefined ? undefined : (result.at ?? Date.now()) - observedAt);
  }
}
