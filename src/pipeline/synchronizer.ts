// The synchronizer: makes the destination equal to the mirror branch, level-based. Each pass diffs the tree of the
// last applied commit (Redis) against the mirror head, retries earlier failures, and applies the difference in the
// one staged order (server-side apply, field manager `lifeboat`), deleting only objects that carry the plan label.
// Every object gets the plan label and the revision annotation; owners are re-linked to destination UIDs. An object
// that cannot be applied is reported with its reason and never blocks the others.
import { KubeError, metadataOnly, type KubeClient } from '../kube/client.ts';
import { ResourceIndex } from '../kube/discovery.ts';
import { describeRef, mirrorPath, parseApiVersion, refFromMirrorPath, refKey, refOf, type KubeObject, type UnversionedRef } from '../kube/ref.ts';
import type { MirrorRepository } from '../mirror/repository.ts';
import type { SyncState } from '../state/state.ts';
import { mapLimit, Semaphore } from '../util/limit.ts';
import type { Logger } from '../util/log.ts';
import { compareForApply, Stage, stageOf, stages, stagesOf } from './order.ts';
import { heldLabel, heldObjectOf, holdableKind, holdEverything, holderRef, holdNamespace, isHolder, standbyForm, type HoldOptions } from './hold.ts';
import { decryptSecret, isEncryptedSecret } from './secrets.ts';
import { annotations, planLabel } from './transforms.ts';
import { parseYaml } from '../util/yaml.ts';

export type ApplyAction = 'created' | 'configured' | 'unchanged' | 'deleted' | 'skipped' | 'failed';

export interface ApplyResult {
  path: string;
  ref: UnversionedRef;
  action: ApplyAction;
  reason?: string;
  /** The object's owner is in the mirror but not yet at the destination. */
  ownerPending?: boolean;
  /** When the apply or delete finished (epoch ms), for the replication lag. */
  at?: number;
}

class OwnerPendingError extends Error {}

/** Which objects exist at the destination without this plan's label. */
interface Ownership {
  /** True or false from the listing of the object's kind and namespace; undefined when that could not be listed. */
  foreign(ref: UnversionedRef): Promise<boolean | undefined>;
  /** Settles when every listing is done; the number of kind-and-namespace groups listed. */
  listed: Promise<number>;
}

const noOwnership: Ownership = { foreign: () => Promise.resolve(undefined), listed: Promise.resolve(0) };

const groupKey = (ref: UnversionedRef) => `${ref.group}/${ref.kind}/${ref.namespace ?? ''}`;

export interface SyncReport {
  revision: string | undefined;
  results: ApplyResult[];
}

export interface DestinationReport {
  mode: 'correct' | 'detect';
  /** The mirror commit the destination was compared with (the last applied one). */
  revision: string | undefined;
  checked: number;
  drifted: { object: string; fields: string[] }[];
  missing: string[];
  orphaned: string[];
  corrected: number;
  failed: { object: string; reason: string }[];
  /** In `correct` mode: what was done to each object. */
  results: { ref: UnversionedRef; action: ApplyAction; reason?: string }[];
  /** Every object found drifted, missing or orphaned (what `correct` would change). */
  differing: UnversionedRef[];
  durationMs: number;
}

export interface ReconcileOptions {
  /** Compare with this mirror commit instead of the last applied one (a point-in-time restore). */
  revision?: string;
  /** Run even though the plan failed over (the restorer itself). */
  ignoreFailover?: boolean;
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
  /** The plan's `recovery.hold`: what the sleeping stand-by keeps for activation (src/pipeline/hold.ts). */
  hold?: HoldOptions;
  /** Each pass, when it finished (after its results are recorded). */
  onPass?: (pass: { revision: string; objects: number; applied: number; deleted: number; failed: number; durationMs: number; startedAt: number }) => void;
}

/** Kinds whose immutable fields may be changed by deleting and re-creating the object. */
const recreateAllowed = new Set(['batch/Job']);

interface WorkItem {
  path: string;
  ref: UnversionedRef;
  oid: string | undefined;
  /** A delete of the live object only (a held object found applied at the sleeping stand-by), not of its holder. */
  liveOnly?: boolean;
}

/** A kind with objects new to the destination in more namespaces than this is checked for foreign objects in one list. */
const clusterListAbove = 64;

/** The largest number of passes applying at once; more commits than that wait and are folded into one pass. */
const maxPassesInFlight = 16;

/** A failed object is retried after 0.5 s, 1 s, 2 s … and then every 15 s, not on every pass. */
const retryDelayMs = (attempts: number) => Math.min(15_000, 500 * 2 ** Math.max(0, attempts - 1));

interface Deferred<T = void> {
  promise: Promise<T>;
  resolve: (value: T) => void;
}

function deferred<T = void>(): Deferred<T> {
  let resolve!: (value: T) => void;
  const promise = new Promise<T>((done) => (resolve = done));
  return { promise, resolve };
}

/** One path's apply or delete in one pass. */
interface Task {
  item: WorkItem;
  pass: Pass;
  /** The same path's task of an earlier pass that was already running when this one was planned. */
  after: Promise<void> | undefined;
  started: boolean;
  /** A later pass took the path over before this task started: it is skipped. */
  superseded: boolean;
  /** The task of that later pass. */
  supersededBy?: Task;
  /** The task applying this object's Namespace in this pass or an earlier one still running: applied first. */
  namespace?: Task;
  done: Deferred;
}

/**
 * Resolves once the object of `task`'s path is applied: by `task`, or by the later tasks that took it over. A later
 * delete is not waited for (deletes wait for earlier passes: that would be a cycle).
 */
async function appliedBy(task: Task): Promise<void> {
  for (let current: Task | undefined = task; current?.item.oid !== undefined; current = current.supersededBy) await current.done.promise;
}

/** The diff from the previous pass's commit to `target`, being applied. */
interface Pass {
  target: string;
  /** Per path, when the listener saw the first change this pass brings to the destination (epoch ms). */
  observed: Record<string, number>;
  /** `stageDone[i]`: this pass's apply stages up to `stages[i]` are done. */
  stageDone: Deferred[];
  done: Promise<SyncReport>;
}

/** What the synchronizer knows of the destination between passes (loaded from the state, kept up to date). */
interface Known {
  inventory: Map<string, string>;
  failures: Map<string, { attempts: number; retryAt: number }>;
  /** The commit the last planned pass diffed to (where the next pass's diff starts). */
  dispatched: string | undefined;
}

export class Synchronizer {
  private readonly options: SynchronizerOptions;
  private index: ResourceIndex | undefined;
  private discovering: Promise<ResourceIndex> | undefined;
  /** Planning of passes and reconciles run one after another on this chain; applying overlaps. */
  private chain: Promise<unknown> = Promise.resolve();
  private queued: { planned: Promise<void>; done: Promise<SyncReport> } | undefined;
  private observed: Record<string, number> = {};
  private readonly slots: Semaphore;
  private passes: Pass[] = [];
  /** Passes still applying (a pass that has applied everything may still wait for earlier ones to be recorded). */
  private applying: Promise<void>[] = [];
  /** The newest task per path, for ordering applies of the same path across passes. */
  private readonly latest = new Map<string, Task>();
  private known: Known | undefined;
  /** Bumped when a pass fails: passes planned before that do not advance the applied commit. */
  private generation = 0;
  /** The last planned pass, done: the applied commit is written in the order passes were planned. */
  private finished: Promise<unknown> = Promise.resolve();

  constructor(options: SynchronizerOptions) {
    this.options = options;
    this.slots = new Semaphore(options.concurrency);
  }

  /**
   * Applies the mirror head: plans a pass now, or (when a planning step is already waiting) joins it. Resolves when
   * the pass has applied everything. Passes overlap: a pass starts while earlier ones are still applying, sharing
   * `concurrency` slots at the destination, so one slow object never holds back the changes behind it.
   */
  sync(observed: Record<string, number> = {}): Promise<SyncReport> {
    return this.schedule(observed).done;
  }

  /** Like `sync`, but resolves once the pass is planned (its applies started); failures are logged. */
  async dispatch(observed: Record<string, number> = {}): Promise<void> {
    const { planned, done } = this.schedule(observed);
    done.catch((error: Error) => this.options.log.warn({ err: error.message }, 'synchronizer pass failed; the next one starts from the last applied commit'));
    await planned;
  }

  /** Objects in passes not yet finished (planned, waiting or applying). */
  backlog(): number {
    return this.latest.size;
  }

  /** Reads the destination's API resources now (in the background), so the first pass does not wait for them. */
  prepare(): void {
    this.destinationIndex().catch(() => undefined);
  }

  /** Forget what is cached of the destination's state (another process may have synchronized meanwhile). */
  invalidate(): void {
    this.known = undefined;
  }

  private schedule(observed: Record<string, number>): { planned: Promise<void>; done: Promise<SyncReport> } {
    // A path changed again before it was applied: its lag counts from the first change not yet applied.
    for (const [path, at] of Object.entries(observed)) this.observed[path] = Math.min(this.observed[path] ?? at, at);
    if (this.queued) return this.queued;
    const planning = this.chain.then(() => {
      this.queued = undefined;
      return this.plan();
    });
    this.chain = planning.catch(() => undefined);
    const queued = { planned: planning.then(() => undefined), done: planning.then((pass) => pass?.done ?? { revision: undefined, results: [] }) };
    this.queued = queued;
    return queued;
  }

  /**
   * Compares the destination with the mirror tree it was last synchronized to (one labelled LIST per kind) and,
   * in `correct` mode, re-applies drifted and missing objects and deletes plan-labelled objects the mirror does not
   * have. Runs when no pass is applying, and no pass starts before it is done.
   */
  reconcile(mode: 'correct' | 'detect', options: ReconcileOptions = {}): Promise<DestinationReport> {
    const run = this.chain.then(async () => {
      await this.drain();
      return this.reconcileNow(mode, options);
    });
    this.chain = run.catch(() => undefined);
    return run;
  }

  private async drain(): Promise<void> {
    await Promise.allSettled(this.passes.map((pass) => pass.done));
  }

  private async destinationIndex(refresh = false): Promise<ResourceIndex> {
    if (refresh) this.index = await ResourceIndex.discover(this.options.client); // after a CRD was established
    else if (!this.index) {
      this.discovering ??= ResourceIndex.discover(this.options.client).finally(() => (this.discovering = undefined));
      this.index = await this.discovering;
    }
    return this.index;
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

  /** Works out what the next pass applies and starts it; its `done` settles when everything is applied. */
  private async plan(): Promise<Pass | undefined> {
    const { plan, repository, state, mirrorDir } = this.options;
    // Bounded overlap: wait for the oldest pass when too many are applying.
    while (this.applying.length >= maxPassesInFlight) await Promise.race(this.applying);
    // Every change observed so far is in the head this pass reads; what arrives later waits for the next pass.
    const observed = this.observed;
    this.observed = {};
    // One round trip: under an initial sync every await here waits behind a busy event loop.
    const [failover, loaded] = await Promise.allSettled([state.getValue(plan, 'failover'), this.knownState()]);
    if (failover.status === 'rejected') throw failover.reason;
    if (failover.value) return undefined;
    const target = await repository.head();
    if (!target) return undefined;
    let known: Known;
    const work = new Map<string, WorkItem>();
    try {
      if (loaded.status === 'rejected') throw loaded.reason;
      known = loaded.value;
      // Level-based but O(changes): the tree diff since the previous pass, plus failures due for a retry. Only
      // without a usable applied commit (first run, Redis lost, history rewritten) is the whole tree compared.
      const add = (path: string, oid: string | undefined) => {
        try {
          work.set(path, { path, ref: refFromMirrorPath(path).ref, oid });
        } catch {
          this.options.log.warn({ path }, 'not a mirror object path; ignored');
        }
      };
      let diffed = false;
      if (known.dispatched !== undefined) {
        try {
          for (const change of await repository.diff(known.dispatched, target, mirrorDir)) add(change.path, change.newOid);
          diffed = true;
        } catch {
          /* the commit is gone from the mirror (history rewritten): compare everything */
        }
      }
      if (!diffed) {
        const targetFiles = await repository.files(target, mirrorDir);
        for (const [path, oid] of targetFiles) if (known.inventory.get(path) !== oid) add(path, oid);
        // Whatever the inventory has that the target does not: deletes to make.
        for (const path of known.inventory.keys()) if (!targetFiles.has(path)) add(path, undefined);
      }
      const now = Date.now();
      for (const [path, failure] of known.failures) {
        if (failure.retryAt > now || work.has(path) || this.latest.has(path)) continue;
        failure.retryAt = now + retryDelayMs(failure.attempts + 1); // until this retry's result is known
        add(path, await repository.oidAt(target, path));
      }
    } catch (error) {
      this.invalidate();
      throw error;
    }
    known.dispatched = target;

    const pass: Pass = { target, observed, stageDone: stages.map(() => deferred()), done: Promise.resolve({ revision: target, results: [] }) };
    const tasks = new Map<string, Task>();
    for (const item of work.values()) {
      const previous = this.latest.get(item.path);
      const task: Task = { item, pass, after: undefined, started: false, superseded: false, done: deferred() };
      if (previous && !previous.started) {
        // Not started yet: this pass applies the newer version instead, and its lag counts from the earlier change.
        previous.superseded = true;
        previous.supersededBy = task;
        task.after = previous.after;
        const earlier = previous.pass.observed[item.path];
        if (earlier !== undefined) observed[item.path] = Math.min(observed[item.path] ?? earlier, earlier);
      } else if (previous) task.after = previous.done.promise;
      tasks.set(item.path, task);
      this.latest.set(item.path, task);
    }
    // A namespaced object waits for its own Namespace when that is being applied (not for every Namespace).
    for (const task of tasks.values()) {
      const { ref, oid } = task.item;
      if (oid === undefined || ref.namespace === undefined || stageOf(ref) === Stage.definitions) continue;
      task.namespace = this.latest.get(mirrorPath(mirrorDir, { group: '', kind: 'Namespace', name: ref.namespace }));
    }
    const earlier = [...this.passes];
    this.passes.push(pass);
    this.options.log.debug({ revision: target.slice(0, 12), objects: tasks.size, overlapping: earlier.length }, 'pass planned');
    const generation = this.generation;
    // The applied commit advances in the order the passes were planned: a pass that finishes before an earlier one
    // waits for it. (Written in finishing order, an older commit could be written last, and the reconciler would
    // take the objects of the newer passes for orphans and delete them.)
    const previous = this.finished;
    const failed = (error: unknown) => {
      this.generation++;
      this.invalidate();
      throw error;
    };
    const running = this.run(pass, tasks, earlier, known);
    const applied: Promise<void> = running.then(() => undefined, () => undefined).finally(() => {
      this.applying = this.applying.filter((other) => other !== applied);
    });
    this.applying.push(applied);
    pass.done = running.then(async ({ results, record }) => {
      await previous;
      await record().catch(failed);
      if (generation === this.generation) {
        await state.setValue(plan, 'applied-head', target);
        this.options.onApplied?.(target);
      }
      return { revision: target, results };
    }, failed).finally(() => {
      this.passes = this.passes.filter((candidate) => candidate !== pass);
      for (const [path, task] of tasks) {
        task.done.resolve(); // a task the pass never reached (it failed) must not hold back later passes
        if (this.latest.get(path) === task) this.latest.delete(path);
      }
      for (const stage of pass.stageDone) stage.resolve();
    });
    this.finished = pass.done.catch(() => undefined);
    return pass;
  }

  /**
   * Applies a planned pass in the staged order. Stage i of this pass starts when earlier passes have finished their
   * stages before i (their CRDs are established); a namespaced object waits for its own Namespace, in this pass or
   * an earlier one; deletes start when earlier passes are done. A path that an earlier pass is still applying waits
   * for it.
   */
  private async run(pass: Pass, tasks: Map<string, Task>, earlier: Pass[], known: Known): Promise<{ results: ApplyResult[]; record: () => Promise<void> }> {
    const { plan, repository, state, mirrorDir } = this.options;
    // Objects new to the destination: which of them exist there without this plan's label (never touched).
    // Listed in the background, in apply order: each new object waits only for the listing of its own collection.
    const ownership = this.foreignObjects([...tasks.values()].map((task) => task.item).filter((item) => item.oid !== undefined && !known.inventory.has(item.path)));
    void ownership.listed.then((listed) => this.options.log.debug({ revision: pass.target.slice(0, 12), listed }, 'foreign objects listed'));
    const { target } = pass;
    const results: ApplyResult[] = [];
    const ownerInMirror = async (ref: UnversionedRef) => (await repository.oidAt(target, mirrorPath(mirrorDir, ref))) !== undefined;
    const applies = [...tasks.values()].filter((task) => task.item.oid !== undefined);
    const deletes = [...tasks.values()].filter((task) => task.item.oid === undefined);
    const pendingOwners: Task[] = [];
    // Each pass walks its objects with a few more workers than there are apply slots (a worker may be waiting for an
    // earlier pass's apply of the same path); the slots are shared by every pass.
    const inFlightPerPass = this.options.concurrency * 2;

    const perform = async (task: Task, action: () => Promise<ApplyResult>, final: boolean): Promise<ApplyResult | undefined> => {
      await task.after;
      if (task.namespace) await appliedBy(task.namespace);
      if (task.superseded) {
        task.done.resolve();
        return undefined;
      }
      task.started = true;
      const { item } = task;
      const result = item.oid !== undefined && known.inventory.get(item.path) === item.oid
        ? { path: item.path, ref: item.ref, action: 'unchanged' as const }
        : await action();
      if (result.ownerPending && !final) return result; // tried again at the end of this pass
      this.settle(known, pass, item, result);
      task.done.resolve();
      return result;
    };

    const applyAll = async (group: Task[]) => {
      const done = await mapLimit(group, inFlightPerPass, (task) => perform(task, () => this.apply(task.item, target, known.inventory.has(task.item.path), ownerInMirror, ownership), false));
      for (const [position, result] of done.entries()) {
        if (result?.ownerPending) pendingOwners.push(group[position]!);
        else if (result) results.push(result);
      }
    };
    // Namespaces are applied beside the stages after theirs: an object there waits for its own Namespace only.
    let namespaces: Promise<void> = Promise.resolve();
    for (const [index, { stage, waitForReady }] of stages.entries()) {
      let group = applies.filter((task) => stageOf(task.item.ref) === stage).sort((a, b) => compareForApply(a.item.ref, b.item.ref));
      if (index > 0) await Promise.all(earlier.map((other) => other.stageDone[index - 1]!.promise));
      if (stage === Stage.definitions) {
        const isNamespace = (task: Task) => task.item.ref.group === '' && task.item.ref.kind === 'Namespace';
        namespaces = applyAll(group.filter(isNamespace));
        group = group.filter((task) => !isNamespace(task));
      }
      await applyAll(group);
      if (waitForReady) await this.waitForCustomResourceDefinitions(group.filter((task) => !task.superseded && task.item.ref.kind === 'CustomResourceDefinition').map((task) => task.item));
      pass.stageDone[index]!.resolve();
      if (group.length) this.options.log.debug({ revision: target.slice(0, 12), stage, objects: group.length }, 'stage applied');
    }
    await namespaces;
    // Objects whose owner was applied in this same pass: once more, now that the owner has its destination UID.
    for (const task of pendingOwners) task.after = undefined;
    for (const result of await mapLimit(pendingOwners, inFlightPerPass, (task) => perform(task, () => this.apply(task.item, target, known.inventory.has(task.item.path), ownerInMirror, ownership), true))) {
      if (result) results.push(result);
    }
    if (deletes.length) {
      await Promise.allSettled(earlier.map((other) => other.done));
      for (const group of stagesOf(deletes.map((task) => ({ ...task.item.ref, task })), 'delete')) {
        for (const result of await mapLimit(group.refs, inFlightPerPass, ({ task }) => perform(task, () => this.slots.run(() => this.delete(task.item)), true))) if (result) results.push(result);
      }
    }

    // Namespaces or CRDs just created: what failed for want of them is retried by the next pass, now.
    if (results.some((result) => result.action === 'created' && stageOf(result.ref) === Stage.definitions) && known.failures.size) {
      for (const failure of known.failures.values()) failure.retryAt = 0;
      queueMicrotask(() => void this.dispatch());
    }
    const applied = new Map<string, string>();
    const deleted: string[] = [];
    const failures: { path: string; reason: string }[] = [];
    for (const result of results) {
      const oid = tasks.get(result.path)?.item.oid;
      if (result.action === 'created' || result.action === 'configured') applied.set(result.path, oid!);
      else if (result.action === 'deleted' || (result.action === 'skipped' && oid === undefined)) deleted.push(result.path);
      else if (result.action === 'failed' || result.action === 'skipped') failures.push({ path: result.path, reason: result.reason ?? 'unknown' });
    }
    // Recorded in the order the passes were planned, as the applied commit is: a path applied by two passes ends
    // with the later pass's version in the inventory.
    const record = async () => {
      await state.recordApplied(plan, applied, deleted);
      await state.recordFailures(plan, failures);
      if (applied.size || deleted.length || failures.length) {
        this.options.log.info({ revision: target.slice(0, 12), applied: applied.size, deleted: deleted.length, failed: failures.length }, 'synchronized');
      }
    };
    return { results, record };
  }

  /** Takes one object's result into the cached inventory and failures, and reports it (with its lag). */
  private settle(known: Known, pass: Pass, item: WorkItem, result: ApplyResult): void {
    if (result.action === 'created' || result.action === 'configured') known.inventory.set(item.path, item.oid!);
    else if (result.action === 'deleted' || (result.action === 'skipped' && item.oid === undefined)) known.inventory.delete(item.path);
    if (result.action === 'failed' || (result.action === 'skipped' && item.oid !== undefined)) {
      const attempts = (known.failures.get(item.path)?.attempts ?? 0) + 1;
      known.failures.set(item.path, { attempts, retryAt: Date.now() + retryDelayMs(attempts) });
    } else known.failures.delete(item.path);
    if (result.action === 'unchanged') return;
    const observedAt = pass.observed[item.path];
    this.options.onResult?.(result, observedAt === undefined ? undefined : (result.at ?? Date.now()) - observedAt);
  }

  private async reconcileNow(mode: 'correct' | 'detect', options: ReconcileOptions): Promise<DestinationReport> {
    const { plan, repository, state, mirrorDir, client } = this.options;
    const started = Date.now();
    const report: DestinationReport = { mode, revision: undefined, checked: 0, drifted: [], missing: [], orphaned: [], corrected: 0, failed: [], results: [], differing: [], durationMs: 0 };
    if (!options.ignoreFailover && (await state.getValue(plan, 'failover'))) return report;
    const revision = options.revision ?? (await state.getValue(plan, 'applied-head'));
    if (!revision) return report;
    report.revision = revision;
    const files = await repository.files(revision, mirrorDir);
    // Objects of mirror commits after the applied one are on their way, not orphans (never deleted here).
    const head = options.revision ? undefined : await repository.head();
    const pending = head && head !== revision ? await repository.files(head, mirrorDir) : undefined;
    const known = await this.knownState();
    const inventory = known.inventory;
    const kinds = new Map<string, UnversionedRef>();
    for (const path of [...files.keys(), ...inventory.keys()]) {
      try {
        const { ref } = refFromMirrorPath(path);
        kinds.set(`${ref.group}/${ref.kind}`, ref);
      } catch {
        /* not an object path */
      }
    }
    // Page by page through what the destination has with this plan's label: each object is compared as it comes
    // (drift) or marked an orphan, then dropped, so memory holds a page per kind, not the whole plan.
    const seen = new Set<string>();
    const index = await this.destinationIndex(true);
    const listedKinds = new Set<string>();
    const ownerInMirror = async (ref: UnversionedRef) => files.has(mirrorPath(mirrorDir, ref));
    const drifted: WorkItem[] = [];
    const orphans: WorkItem[] = [];
    await mapLimit([...kinds.entries()], 2, async ([key, ref]) => {
      const resource = index.byKind(ref.group, ref.kind);
      if (!resource) return;
      for await (const { items } of client.listPages(index.path(ref, {}), resource, { labelSelector: `${planLabel}=${plan}` })) {
        await mapLimit(items, this.options.concurrency, async (current) => {
          delete current.metadata.managedFields; // often most of an object's bytes; never compared
          const objectRef = refOf(current);
          if (isHolder(current)) return; // compared with what it carries, below
          const path = mirrorPath(mirrorDir, objectRef);
          seen.add(path);
          const oid = files.get(path);
          if (oid === undefined) {
            if (pending?.has(path)) return;
            orphans.push({ path, ref: objectRef, oid: undefined });
            report.orphaned.push(describeRef(objectRef));
            return;
          }
          const item = { path, ref: objectRef, oid };
          const differences = await this.driftOf(item, current, ownerInMirror).catch(() => []);
          if (differences === 'held') {
            // Applied, but held while the stand-by sleeps (the plan's hold changed): removed; its holder is checked below.
            seen.delete(path);
            orphans.push({ ...item, oid: undefined, liveOnly: true });
            report.orphaned.push(describeRef(objectRef));
            return;
          }
          report.checked++;
          if (differences.length) {
            drifted.push(item);
            report.drifted.push({ object: describeRef(objectRef), fields: differences.slice(0, 5) });
          }
        });
      }
      listedKinds.add(key);
    });
    await this.reconcileHolders(files, pending, { seen, drifted, orphans, report });
    const missing: WorkItem[] = [];
    for (const [path, oid] of files) {
      if (seen.has(path)) continue;
      let ref: UnversionedRef;
      try {
        ref = refFromMirrorPath(path).ref;
      } catch {
        continue;
      }
      if (!listedKinds.has(`${ref.group}/${ref.kind}`)) continue;
      report.checked++;
      missing.push({ path, ref, oid });
      report.missing.push(describeRef(ref));
    }
    report.differing = [...missing, ...drifted, ...orphans].map((item) => item.ref);
    if (mode === 'correct') {
      const absent = new Set(missing);
      const results: ApplyResult[] = [];
      for (const group of stagesOf([...missing, ...drifted].map((item) => ({ ...item.ref, item })), 'apply')) {
        results.push(...(await mapLimit(group.refs, this.options.concurrency, ({ item }) => this.apply(item, revision, !absent.has(item), ownerInMirror, noOwnership))));
      }
      for (const group of stagesOf(orphans.map((item) => ({ ...item.ref, item })), 'delete')) {
        results.push(...(await mapLimit(group.refs, this.options.concurrency, ({ item }) => this.delete(item))));
      }
      const applied = new Map<string, string>();
      const deleted: string[] = [];
      const liveOnly = new Set(orphans.filter((item) => item.liveOnly).map((item) => item.path));
      for (const result of results) {
        if (result.action === 'created' || result.action === 'configured') applied.set(result.path, files.get(result.path)!);
        else if (result.action === 'deleted') {
          if (!liveOnly.has(result.path)) deleted.push(result.path); // the mirror object stays applied, in its holder
        }
        else report.failed.push({ object: describeRef(result.ref), reason: result.reason ?? result.action });
        if (result.action !== 'failed' && result.action !== 'skipped') report.corrected++;
        report.results.push({ ref: result.ref, action: result.action, ...(result.reason ? { reason: result.reason } : {}) });
        this.options.onResult?.(result, undefined);
      }
      await state.recordApplied(plan, applied, deleted);
      for (const [path, oid] of applied) known.inventory.set(path, oid);
      for (const path of deleted) known.inventory.delete(path);
    }
    report.durationMs = Date.now() - started;
    const found = report.drifted.length + report.missing.length + report.orphaned.length;
    if (found) this.options.log.warn({ drifted: report.drifted.length, missing: report.missing.length, orphaned: report.orphaned.length, mode, corrected: report.corrected }, mode === 'correct' ? 'destination drift corrected' : 'destination drift detected (drift: detect leaves it)');
    return report;
  }

  /** Holders (src/pipeline/hold.ts) compared with the mirror objects they carry: drifted, or orphans to delete. */
  private async reconcileHolders(files: Map<string, string>, pending: Map<string, string> | undefined,
    found: { seen: Set<string>; drifted: WorkItem[]; orphans: WorkItem[]; report: DestinationReport }): Promise<void> {
    const { client, plan, mirrorDir } = this.options;
    const holders = await listHolders(client, plan);
    await mapLimit(holders, this.options.concurrency, async (holder) => {
      let ref: UnversionedRef;
      try {
        ref = refOf(heldObjectOf(holder));
      } catch {
        found.orphans.push({ path: '', ref: refOf(holder), oid: undefined });
        return;
      }
      const path = mirrorPath(mirrorDir, ref);
      const oid = files.get(path);
      if (oid === undefined) {
        if (pending?.has(path)) return;
        found.orphans.push({ path, ref: refOf(holder), oid: undefined });
        found.report.orphaned.push(describeRef(refOf(holder)));
        return;
      }
      found.seen.add(path);
      found.report.checked++;
      const item = { path, ref, oid };
      const revision = holder.metadata.annotations?.[annotations.revision] ?? '';
      const desired = await this.render(item, revision, () => Promise.resolve(false)).catch(() => undefined);
      if (!desired) return;
      const differences = differingFields(desired.data, holder.data, 'data');
      if (differences.length) {
        found.drifted.push(item);
        found.report.drifted.push({ object: describeRef(ref), fields: differences.slice(0, 5) });
      }
    });
  }

  /**
   * Fields where the destination object differs from what lifeboat would apply. A cheap comparison of the
   * fields lifeboat sets finds candidates; a server-side dry-run apply confirms them (the server defaults and
   * normalizes values, e.g. quantities, so only a dry run knows whether applying would change anything).
   */
  private async driftOf(item: WorkItem, current: KubeObject, ownerInMirror: (ref: UnversionedRef) => Promise<boolean>): Promise<string[] | 'held'> {
    const liveRevision = current.metadata.annotations?.[annotations.revision] ?? '';
    const desired = await this.render(item, liveRevision, ownerInMirror);
    if (refKey(refOf(desired)) !== refKey(item.ref)) return 'held';
    delete desired.metadata.ownerReferences;
    const candidates = differingFields(desired, current);
    if (!candidates.length) return [];
    const index = await this.destinationIndex();
    const ref = refOf(desired);
    const dryRun = await this.options.client.request<KubeObject>('PATCH', index.path(ref, { namespace: ref.namespace, name: ref.name }), desired,
      { contentType: 'application/apply-patch+yaml', query: { fieldManager: 'lifeboat', force: true, dryRun: 'All' } });
    return differingFields(comparable(dryRun), comparable(current));
  }

  /** The object as the destination gets it: decrypted, labelled, annotated with the revision, owners re-linked. */
  private async render(item: WorkItem, revision: string, ownerInMirror: (ref: UnversionedRef) => Promise<boolean>): Promise<KubeObject> {
    let object = parseYaml(await this.options.repository.readText(item.oid!)) as KubeObject;
    if (isEncryptedSecret(object)) {
      const sourceNamespace = object.metadata.annotations?.[annotations.sourceNamespace];
      const decrypted = await decryptSecret(sourceNamespace ? { ...object, metadata: { ...object.metadata, namespace: sourceNamespace } } : object, this.options.identities);
      object = { ...decrypted, metadata: { ...decrypted.metadata, namespace: object.metadata.namespace } };
    }
    object.metadata.labels = { ...(object.metadata.labels ?? {}), [planLabel]: this.options.plan };
    object.metadata.annotations = { ...(object.metadata.annotations ?? {}), [annotations.revision]: revision };
    const owners = object.metadata.annotations[annotations.owners];
    if (owners) {
      const references = [];
      for (const owner of JSON.parse(owners) as { apiVersion: string; kind: string; name: string; blockOwnerDeletion?: boolean }[]) {
        const ownerRef = { ...parseApiVersion(owner.apiVersion), kind: owner.kind, namespace: object.metadata.namespace, name: owner.name };
        const live = await this.read(ownerRef);
        if (!live && (await ownerInMirror(ownerRef))) throw new OwnerPendingError(`waiting for its owner ${describeRef(ownerRef)} to be applied`);
        if (live?.metadata.labels?.[planLabel] === this.options.plan && typeof live.metadata.uid === 'string') {
          references.push({ apiVersion: owner.apiVersion, kind: owner.kind, name: owner.name, uid: live.metadata.uid, ...(owner.blockOwnerDeletion ? { blockOwnerDeletion: true } : {}) });
        }
      }
      if (references.length) object.metadata.ownerReferences = references;
    }
    return standbyForm(object, this.options.plan, this.hold);
  }

  private get hold(): HoldOptions {
    return this.options.hold ?? holdEverything;
  }

  /** lifeboat-system, where holders live, created once when a holder is first applied. */
  private holdNamespace: Promise<unknown> | undefined;

  private ensureHoldNamespace(): Promise<unknown> {
    this.holdNamespace ??= this.options.client.request('PATCH', `/api/v1/namespaces/${holdNamespace}`, { apiVersion: 'v1', kind: 'Namespace', metadata: { name: holdNamespace } },
      { contentType: 'application/apply-patch+yaml', query: { fieldManager: 'lifeboat' }, discardBody: true }).catch((error: unknown) => {
      this.holdNamespace = undefined;
      throw error;
    });
    return this.holdNamespace;
  }

  private async read(ref: UnversionedRef): Promise<KubeObject | undefined> {
    const index = await this.destinationIndex();
    let path: string;
    try {
      path = index.objectPath(ref);
    } catch {
      return undefined; // the kind is not served (yet) or the owner is cluster-scoped/namespaced differently
    }
    try {
      return await this.options.client.request<KubeObject>('GET', path);
    } catch (error) {
      if (error instanceof KubeError && error.code === 404) return undefined;
      throw error;
    }
  }

  /**
   * Objects of the destination that lifeboat must not touch (they exist without this plan's label), found with one
   * LIST per kind and namespace instead of a GET per object. Kinds the destination does not serve yet are left
   * out of `listed`; their objects are checked one by one.
   */
  /**
   * Starts listing, per kind and namespace, the objects at the destination without this plan's label among the
   * collections `items` go to. Every pass lists afresh (a listing shared across passes let a foreign object created
   * meanwhile be overwritten). Namespace by namespace, the cost follows the plan, not the cluster (a list across the
   * cluster returns every other application's objects); only a kind in very many namespaces is listed once across
   * the cluster, when allowed.
   */
  private foreignObjects(items: WorkItem[]): Ownership {
    const collections = new Map<string, UnversionedRef>();
    const namespacesPerKind = new Map<string, number>();
    for (const item of [...items].sort((a, b) => compareForApply(a.ref, b.ref))) {
      if (collections.has(groupKey(item.ref))) continue;
      collections.set(groupKey(item.ref), item.ref);
      const kind = `${item.ref.group}/${item.ref.kind}`;
      namespacesPerKind.set(kind, (namespacesPerKind.get(kind) ?? 0) + 1);
    }
    const query = { labelSelector: `${planLabel}!=${this.options.plan}` };
    const requests = new Semaphore(this.options.concurrency);
    /** refKeys of the foreign objects of `ref`'s kind in its namespace, or across the cluster; undefined when not listed. */
    const list = (ref: UnversionedRef, acrossCluster: boolean) => requests.run(async () => {
      const index = await this.destinationIndex();
      const resource = index.byKind(ref.group, ref.kind);
      if (!resource) return undefined;
      try {
        const keys = new Set<string>();
        for await (const { items: page } of this.options.client.listPages(index.path(ref, acrossCluster ? {} : { namespace: ref.namespace }), resource, query, 500, metadataOnly)) {
          for (const object of page) keys.add(refKey({ ...ref, namespace: object.metadata.namespace || undefined, name: object.metadata.name ?? '' }));
        }
        return keys;
      } catch (error) {
        // Across the cluster, perhaps not allowed: then namespace by namespace; in a namespace: object by object.
        this.options.log.debug({ kind: ref.kind, namespace: acrossCluster ? '*' : ref.namespace, err: (error as Error).message }, 'foreign objects not listed');
        return undefined;
      }
    });
    const clusterLists = new Map<string, Promise<Set<string> | undefined>>();
    const lists = new Map<string, Promise<Set<string> | undefined>>();
    for (const [key, ref] of collections) {
      const kind = `${ref.group}/${ref.kind}`;
      if (ref.namespace !== undefined && namespacesPerKind.get(kind)! > clusterListAbove) {
        if (!clusterLists.has(kind)) clusterLists.set(kind, list(ref, true));
        lists.set(key, clusterLists.get(kind)!.then((keys) => keys ?? list(ref, false)));
      } else lists.set(key, list(ref, false));
    }
    return {
      foreign: async (ref) => (await lists.get(groupKey(ref)))?.has(refKey(ref)),
      listed: Promise.all(lists.values()).then((all) => all.filter((keys) => keys !== undefined).length),
    };
  }

  private async apply(item: WorkItem, revision: string, existed: boolean, ownerInMirror: (ref: UnversionedRef) => Promise<boolean>, ownership: Ownership): Promise<ApplyResult> {
    const base = { path: item.path, ref: item.ref };
    try {
      const object = await this.render(item, revision, ownerInMirror);
      const ref = refOf(object);
      let index = await this.destinationIndex();
      if (!index.byKind(ref.group, ref.kind)) index = await this.destinationIndex(true);
      const path = index.path(ref, { namespace: ref.namespace, name: ref.name });
      if (isHolder(object)) await this.ensureHoldNamespace();
      if (!existed) {
        // Never overwrite what someone else owns: an object already there without our plan label is left alone.
        const foreign = await ownership.foreign(ref)
          ?? await this.read(ref).then((live) => live !== undefined && live.metadata.labels?.[planLabel] !== this.options.plan);
        if (foreign) {
          return { ...base, action: 'skipped', reason: `not applied: ${describeRef(ref)} already exists at the destination without ${planLabel}=${this.options.plan}` };
        }
      }
      // Only the request holds one of the shared slots: rendering (git read, YAML, decryption) happens outside,
      // so `concurrency` applies stay in flight at the destination.
      const serverSideApply = () => this.options.client.request('PATCH', path, object, { contentType: 'application/apply-patch+yaml', query: { fieldManager: 'lifeboat', force: true }, discardBody: true });
      await this.slots.run(async () => {
        try {
          await serverSideApply();
        } catch (error) {
          if (error instanceof KubeError && error.code === 422 && /immutable/i.test(error.message) && recreateAllowed.has(`${ref.group}/${ref.kind}`)) {
            await this.options.client.request('DELETE', path, undefined, { query: { propagationPolicy: 'Background' } });
            await serverSideApply();
            return;
          }
          throw error;
        }
      });
      return { ...base, action: existed ? 'configured' : 'created', at: Date.now() };
    } catch (error) {
      const reason = error instanceof Error ? error.message : String(error);
      if (!(error instanceof OwnerPendingError)) this.options.log.warn({ object: describeRef(item.ref), reason }, 'apply failed; will retry');
      return { ...base, action: 'failed', reason, ...(error instanceof OwnerPendingError ? { ownerPending: true } : {}) };
    }
  }

  private async delete(item: WorkItem): Promise<ApplyResult> {
    const base = { path: item.path, ref: item.ref };
    if (!item.liveOnly && holdableKind(item.ref, this.hold)) {
      // Held or not (an APIService is held only with a service), the object may be in either place.
      const holder = await this.delete({ path: item.path, ref: holderRef(this.options.plan, item.ref), oid: undefined });
      if (holder.action === 'failed') return { ...holder, ref: item.ref };
    }
    try {
      const live = await this.read(item.ref);
      if (!live) return { ...base, action: 'deleted', reason: 'already absent' };
      if (live.metadata.labels?.[planLabel] !== this.options.plan) return { ...base, action: 'skipped', reason: `not deleted: it does not carry ${planLabel}=${this.options.plan}` };
      const index = await this.destinationIndex();
      await this.options.client.request('DELETE', index.objectPath(item.ref), undefined, { query: { propagationPolicy: 'Background' } }).catch((error) => {
        if (error instanceof KubeError && error.code === 404) return undefined;
        throw error;
      });
      return { ...base, action: 'deleted', at: Date.now() };
    } catch (error) {
      return { ...base, action: 'failed', reason: error instanceof Error ? error.message : String(error) };
    }
  }

  private async waitForCustomResourceDefinitions(items: WorkItem[]): Promise<void> {
    const deadline = Date.now() + 30_000;
    for (const item of items) {
      while (Date.now() < deadline) {
        const crd = await this.read(item.ref).catch(() => undefined) as (KubeObject & { status?: { conditions?: { type: string; status: string }[] } }) | undefined;
        if (!crd || crd.status?.conditions?.some((condition) => condition.type === 'Established' && condition.status === 'True')) break;
        await new Promise((resolve) => setTimeout(resolve, 200));
      }
    }
    if (items.length) await this.destinationIndex(true);
  }
}

/** The plan's holders at the destination (src/pipeline/hold.ts): none before lifeboat-system exists. */
export async function listHolders(client: KubeClient, plan: string): Promise<KubeObject[]> {
  const holders: KubeObject[] = [];
  const query = { labelSelector: `${planLabel}=${plan},${heldLabel}=true` };
  for await (const { items } of client.listPages(`/api/v1/namespaces/${holdNamespace}/configmaps`, { group: '', version: 'v1', kind: 'ConfigMap' }, query)) holders.push(...items);
  return holders;
}

/** An object without what the server maintains by itself, for comparing two versions of it. */
function comparable(object: KubeObject): KubeObject {
  const { managedFields: _managed, resourceVersion: _version, generation: _generation, ...metadata } = object.metadata;
  return { ...object, metadata };
}

/**
 * Paths (`spec.replicas`, `data.key`) where `actual` does not have what `desired` has: every value of `desired` must
 * be equal in `actual`; lists must have the same length. Fields only `actual` has (defaults, status) are ignored.
 */
export function differingFields(desired: unknown, actual: unknown, path = ''): string[] {
  if (Array.isArray(desired)) {
    if (!Array.isArray(actual) || actual.length !== desired.length) return [path || '.'];
    return desired.flatMap((value, index) => differingFields(value, actual[index], `${path}[${index}]`));
  }
  if (typeof desired === 'object' && desired !== null) {
    if (typeof actual !== 'object' || actual === null || Array.isArray(actual)) return [path || '.'];
    return Object.entries(desired).flatMap(([key, value]) => differingFields(value, (actual as Record<string, unknown>)[key], path ? `${path}.${key}` : key));
  }
  return desired === actual ? [] : [path || '.'];
}
