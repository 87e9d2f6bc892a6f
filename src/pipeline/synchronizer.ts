// The synchronizer: makes the destination equal to the mirror branch, level-based. Each pass diffs the tree of the
// last applied commit (Redis) against the mirror head, retries earlier failures, and applies the difference in the
// one staged order (server-side apply, field manager `lifeboat`), deleting only objects that carry the plan label.
// Every object gets the plan label and the revision annotation; owners are re-linked to destination UIDs. An object
// that cannot be applied is reported with its reason and never blocks the others.
import { parse } from 'yaml';
import { isRetryable, KubeError, type KubeClient } from '../kube/client.ts';
import { ResourceIndex } from '../kube/discovery.ts';
import { describeRef, mirrorPath, parseApiVersion, refFromMirrorPath, refKey, refOf, type KubeObject, type UnversionedRef } from '../kube/ref.ts';
import type { MirrorRepository } from '../mirror/repository.ts';
import type { SyncState } from '../state/state.ts';
import { mapLimit } from '../util/limit.ts';
import type { Logger } from '../util/log.ts';
import { stagesOf } from './order.ts';
import { decryptSecret, isEncryptedSecret } from './secrets.ts';
import { annotations, planLabel } from './transforms.ts';

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

interface Ownership {
  /** Kind-and-namespace groups whose foreign objects were listed. */
  listed: Set<string>;
  /** refKeys of objects that exist at the destination without this plan's label. */
  foreign: Set<string>;
}

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
}

/** Kinds whose immutable fields may be changed by deleting and re-creating the object. */
const recreateAllowed = new Set(['batch/Job']);

interface WorkItem {
  path: string;
  ref: UnversionedRef;
  oid: string | undefined;
}

export class Synchronizer {
  private readonly options: SynchronizerOptions;
  private index: ResourceIndex | undefined;
  /** Passes and reconciles run one after another on this chain. */
  private chain: Promise<unknown> = Promise.resolve();
  private queued: Promise<SyncReport> | undefined;
  private observed: Record<string, number> = {};

  constructor(options: SynchronizerOptions) {
    this.options = options;
  }

  /** Runs a pass, or (when one is running) schedules exactly one more after it. */
  sync(observed: Record<string, number> = {}): Promise<SyncReport> {
    // A path changed again before it was applied: its lag counts from the first change not yet applied.
    for (const [path, at] of Object.entries(observed)) this.observed[path] = Math.min(this.observed[path] ?? at, at);
    if (this.queued) return this.queued;
    const run = this.chain.then(() => {
      this.queued = undefined;
      return this.pass();
    });
    this.queued = run;
    this.chain = run.catch(() => undefined);
    return run;
  }

  /**
   * Compares the destination with the mirror tree it was last synchronized to (one labelled LIST per kind) and,
   * in `correct` mode, re-applies drifted and missing objects and deletes plan-labelled objects the mirror does not
   * have. Runs between passes, never beside one.
   */
  reconcile(mode: 'correct' | 'detect', options: ReconcileOptions = {}): Promise<DestinationReport> {
    const run = this.chain.then(() => this.reconcileNow(mode, options));
    this.chain = run.catch(() => undefined);
    return run;
  }

  private async destinationIndex(refresh = false): Promise<ResourceIndex> {
    if (!this.index || refresh) this.index = await ResourceIndex.discover(this.options.client);
    return this.index;
  }

  private async pass(): Promise<SyncReport> {
    const { plan, repository, state, mirrorDir } = this.options;
    // Every change observed so far is in the head this pass reads; what arrives during the pass waits for the next.
    const observed = this.observed;
    this.observed = {};
    if (await state.getValue(plan, 'failover')) return { revision: undefined, results: [] };
    const target = await repository.head();
    if (!target) return { revision: undefined, results: [] };
    const appliedHead = await state.getValue(plan, 'applied-head');
    const inventory = await state.inventory(plan);
    // Level-based but O(changes): the tree diff since the last applied commit, plus earlier failures. Only without
    // a usable applied commit (first run, Redis lost, history rewritten) is the whole tree compared.
    const targetOids = new Map<string, string | undefined>();
    const work = new Map<string, WorkItem>();
    const add = (path: string) => {
      if (work.has(path)) return;
      try {
        work.set(path, { path, ref: refFromMirrorPath(path).ref, oid: targetOids.get(path) });
      } catch {
        this.options.log.warn({ path }, 'not a mirror object path; ignored');
      }
    };
    let known = appliedHead !== undefined;
    if (known) {
      try {
        for (const change of await repository.diff(appliedHead, target, mirrorDir)) {
          targetOids.set(change.path, change.newOid);
          add(change.path);
        }
      } catch {
        known = false; // the applied commit is gone from the mirror (history rewritten): compare everything
      }
    }
    if (!known) {
      const targetFiles = await repository.files(target, mirrorDir);
      for (const [path, oid] of targetFiles) targetOids.set(path, oid);
      for (const path of targetFiles.keys()) add(path);
      // Whatever the inventory has that the target does not: deletes to make.
      for (const path of inventory.keys()) if (!targetFiles.has(path)) add(path);
    }
    for (const failure of await state.failures(plan)) {
      if (!targetOids.has(failure.path)) targetOids.set(failure.path, await repository.oidAt(target, failure.path));
      add(failure.path);
    }

    const results: ApplyResult[] = [];
    const applies = [...work.values()].filter((item) => item.oid !== undefined && inventory.get(item.path) !== item.oid);
    const deletes = [...work.values()].filter((item) => item.oid === undefined);
    for (const item of work.values()) if (item.oid !== undefined && inventory.get(item.path) === item.oid) results.push({ path: item.path, ref: item.ref, action: 'unchanged' });

    const ownerInMirror = async (ref: UnversionedRef) => (await repository.oidAt(target, mirrorPath(mirrorDir, ref))) !== undefined;
    const ownership = await this.foreignObjects(applies.filter((item) => !inventory.has(item.path)));
    const pendingOwners: WorkItem[] = [];
    for (const group of stagesOf(applies.map((item) => ({ ...item.ref, item })), 'apply')) {
      const groupResults = await mapLimit(group.refs, this.options.concurrency, ({ item }) => this.apply(item, target, inventory.has(item.path), ownerInMirror, ownership));
      for (const [index, result] of groupResults.entries()) {
        if (result.ownerPending) pendingOwners.push(group.refs[index]!.item);
        else results.push(result);
      }
      if (group.waitForReady) await this.waitForCustomResourceDefinitions(group.refs.map(({ item }) => item).filter((item) => item.ref.kind === 'CustomResourceDefinition'));
    }
    // Objects whose owner was applied in this same pass: once more, now that the owner has its destination UID.
    results.push(...(await mapLimit(pendingOwners, this.options.concurrency, (item) => this.apply(item, target, inventory.has(item.path), ownerInMirror, ownership))));
    for (const group of stagesOf(deletes.map((item) => ({ ...item.ref, item })), 'delete')) {
      results.push(...(await mapLimit(group.refs, this.options.concurrency, ({ item }) => this.delete(item))));
    }

    const applied = new Map<string, string>();
    const deleted: string[] = [];
    const failures: { path: string; reason: string }[] = [];
    for (const result of results) {
      const oid = targetOids.get(result.path);
      if (result.action === 'created' || result.action === 'configured') applied.set(result.path, oid!);
      else if (result.action === 'deleted' || (result.action === 'skipped' && oid === undefined)) deleted.push(result.path);
      else if (result.action === 'failed' || result.action === 'skipped') failures.push({ path: result.path, reason: result.reason ?? 'unknown' });
      const observedAt = observed[result.path];
      if (result.action !== 'unchanged') this.options.onResult?.(result, observedAt === undefined ? undefined : (result.at ?? Date.now()) - observedAt);
    }
    await state.recordApplied(plan, applied, deleted);
    await state.recordFailures(plan, failures);
    await state.setValue(plan, 'applied-head', target);
    if (target !== appliedHead) this.options.onApplied?.(target);
    if (applied.size || deleted.length || failures.length) {
      this.options.log.info({ revision: target.slice(0, 12), applied: applied.size, deleted: deleted.length, failed: failures.length }, 'synchronized');
    }
    return { revision: target, results };
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
    const inventory = await state.inventory(plan);
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
          const path = mirrorPath(mirrorDir, objectRef);
          seen.add(path);
          const oid = files.get(path);
          if (oid === undefined) {
            orphans.push({ path, ref: objectRef, oid: undefined });
            report.orphaned.push(describeRef(objectRef));
            return;
          }
          report.checked++;
          const item = { path, ref: objectRef, oid };
          const differences = await this.driftOf(item, current, ownerInMirror).catch(() => []);
          if (differences.length) {
            drifted.push(item);
            report.drifted.push({ object: describeRef(objectRef), fields: differences.slice(0, 5) });
          }
        });
      }
      listedKinds.add(key);
    });
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
      const noOwnership: Ownership = { listed: new Set(), foreign: new Set() };
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
      for (const result of results) {
        if (result.action === 'created' || result.action === 'configured') applied.set(result.path, files.get(result.path)!);
        else if (result.action === 'deleted') deleted.push(result.path);
        else report.failed.push({ object: describeRef(result.ref), reason: result.reason ?? result.action });
        if (result.action !== 'failed' && result.action !== 'skipped') report.corrected++;
        report.results.push({ ref: result.ref, action: result.action, ...(result.reason ? { reason: result.reason } : {}) });
        this.options.onResult?.(result, undefined);
      }
      await state.recordApplied(plan, applied, deleted);
    }
    report.durationMs = Date.now() - started;
    const found = report.drifted.length + report.missing.length + report.orphaned.length;
    if (found) this.options.log.warn({ drifted: report.drifted.length, missing: report.missing.length, orphaned: report.orphaned.length, mode, corrected: report.corrected }, mode === 'correct' ? 'destination drift corrected' : 'destination drift detected (drift: detect leaves it)');
    return report;
  }

  /**
   * Fields where the destination object differs from what lifeboat would apply. A cheap comparison of the
   * fields lifeboat sets finds candidates; a server-side dry-run apply confirms them (the server defaults and
   * normalizes values, e.g. quantities, so only a dry run knows whether applying would change anything).
   */
  private async driftOf(item: WorkItem, current: KubeObject, ownerInMirror: (ref: UnversionedRef) => Promise<boolean>): Promise<string[]> {
    const liveRevision = current.metadata.annotations?.[annotations.revision] ?? '';
    const desired = await this.render(item, liveRevision, ownerInMirror);
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
    let object = parse(await this.options.repository.readText(item.oid!)) as KubeObject;
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
    return object;
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
  private async foreignObjects(items: WorkItem[]): Promise<Ownership> {
    const ownership: Ownership = { listed: new Set(), foreign: new Set() };
    const groups = new Map<string, UnversionedRef>();
    for (const item of items) groups.set(groupKey(item.ref), item.ref);
    const index = await this.destinationIndex();
    await mapLimit([...groups.entries()], this.options.concurrency, async ([key, ref]) => {
      if (!index.byKind(ref.group, ref.kind)) return;
      try {
        const list = await this.options.client.request<{ items: KubeObject[] }>('GET', index.path(ref, { namespace: ref.namespace }), undefined,
          { query: { labelSelector: `${planLabel}!=${this.options.plan}` } });
        for (const object of list.items) ownership.foreign.add(refKey({ ...ref, name: object.metadata.name ?? '' }));
        ownership.listed.add(key);
      } catch {
        /* checked one by one */
      }
    });
    return ownership;
  }

  private async apply(item: WorkItem, revision: string, existed: boolean, ownerInMirror: (ref: UnversionedRef) => Promise<boolean>, ownership: Ownership): Promise<ApplyResult> {
    const base = { path: item.path, ref: item.ref };
    try {
      const object = await this.render(item, revision, ownerInMirror);
      const ref = refOf(object);
      let index = await this.destinationIndex();
      if (!index.byKind(ref.group, ref.kind)) index = await this.destinationIndex(true);
      const path = index.path(ref, { namespace: ref.namespace, name: ref.name });
      if (!existed) {
        // Never overwrite what someone else owns: an object already there without our plan label is left alone.
        const foreign = ownership.listed.has(groupKey(ref)) ? ownership.foreign.has(refKey(ref))
          : await this.read(ref).then((live) => live !== undefined && live.metadata.labels?.[planLabel] !== this.options.plan);
        if (foreign) {
          return { ...base, action: 'skipped', reason: `not applied: ${describeRef(ref)} already exists at the destination without ${planLabel}=${this.options.plan}` };
        }
      }
      await retry(async () => {
        try {
          await this.options.client.request('PATCH', path, object, { contentType: 'application/apply-patch+yaml', query: { fieldManager: 'lifeboat', force: true } });
        } catch (error) {
          if (error instanceof KubeError && error.code === 422 && /immutable/i.test(error.message) && recreateAllowed.has(`${ref.group}/${ref.kind}`)) {
            await this.options.client.request('DELETE', path, undefined, { query: { propagationPolicy: 'Background' } });
            await this.options.client.request('PATCH', path, object, { contentType: 'application/apply-patch+yaml', query: { fieldManager: 'lifeboat', force: true } });
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
    try {
      const live = await this.read(item.ref);
      if (!live) return { ...base, action: 'deleted', reason: 'already absent' };
      if (live.metadata.labels?.[planLabel] !== this.options.plan) return { ...base, action: 'skipped', reason: `not deleted: it does not carry ${planLabel}=${this.options.plan}` };
      const index = await this.destinationIndex();
      await retry(() => this.options.client.request('DELETE', index.objectPath(item.ref), undefined, { query: { propagationPolicy: 'Background' } }).catch((error) => {
        if (error instanceof KubeError && error.code === 404) return undefined;
        throw error;
      }));
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

/** Retries throttling, server errors and broken connections with exponential backoff (4 tries). */
async function retry<T>(action: () => Promise<T>): Promise<T> {
  for (let attempt = 0; ; attempt++) {
    try {
      return await action();
    } catch (error) {
      if (!isRetryable(error) || attempt >= 3) throw error;
      await new Promise((resolve) => setTimeout(resolve, 200 * 2 ** attempt));
    }
  }
}
