// Destination reconcile: compares the destination with the mirror tree it was last synchronized to (one labelled
// LIST per kind, page by page) and finds drifted, missing and orphaned objects; in `correct` mode it re-applies the
// first two and deletes the orphans, in the one staged order. Drift is confirmed by a server-side dry run.
import { dryRunApply } from '../../kube/apply.ts';
import type { KubeClient } from '../../kube/client.ts';
import { describeRef, mirrorPath, refFromMirrorPath, refKey, refOf, type KubeObject, type UnversionedRef } from '../../kube/ref.ts';
import type { MirrorRepository } from '../../mirror/repository.ts';
import type { SyncState } from '../../state/state.ts';
import { mapLimit } from '../../util/limit.ts';
import type { Logger } from '../../util/log.ts';
import { heldLabel, heldObjectOf, holdNamespace, isHolder } from '../hold.ts';
import { stagesOf } from '../order.ts';
import { annotations, planLabel } from '../transforms.ts';
import { fieldManager, type ApplyAction, type ApplyResult, type Destination, type OwnerInMirror } from './destination.ts';
import { noOwnership } from './destination.ts';
import type { WorkItem } from './planner.ts';

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

export interface ReconcileContext {
  plan: string;
  mirrorDir: string;
  repository: MirrorRepository;
  state: SyncState;
  concurrency: number;
  log: Logger;
  destination: Destination;
  /** The synchronizer's cached inventory (loaded when not cached); what `correct` applies and deletes goes in it. */
  inventory: () => Promise<Map<string, string>>;
  onResult?: (result: ApplyResult, lagMs: number | undefined) => void;
}

/** What a comparison found so far. */
interface Found {
  /** Mirror paths found at the destination (applied or held). */
  seen: Set<string>;
  drifted: WorkItem[];
  orphans: WorkItem[];
  report: DestinationReport;
}

export async function reconcileDestination(context: ReconcileContext, mode: 'correct' | 'detect', options: ReconcileOptions): Promise<DestinationReport> {
  const { plan, repository, state, mirrorDir } = context;
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
  const inventory = await context.inventory();
  const found: Found = { seen: new Set(), drifted: [], orphans: [], report };
  const ownerInMirror = async (ref: UnversionedRef) => files.has(mirrorPath(mirrorDir, ref));
  const listedKinds = await compareLabelled(context, files, pending, inventory, found, ownerInMirror);
  await compareHolders(context, files, pending, found);
  const missing: WorkItem[] = [];
  for (const [path, oid] of files) {
    if (found.seen.has(path)) continue;
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
  report.differing = [...missing, ...found.drifted, ...found.orphans].map((item) => item.ref);
  if (mode === 'correct') await correct(context, { revision, files, inventory, ownerInMirror }, { missing, drifted: found.drifted, orphans: found.orphans }, report);
  report.durationMs = Date.now() - started;
  const count = report.drifted.length + report.missing.length + report.orphaned.length;
  if (count) context.log.warn({ drifted: report.drifted.length, missing: report.missing.length, orphaned: report.orphaned.length, mode, corrected: report.corrected }, mode === 'correct' ? 'destination drift corrected' : 'destination drift detected (drift: detect leaves it)');
  return report;
}

/**
 * Page by page through what the destination has with this plan's label, per kind of the mirror tree and the
 * inventory: each object is compared as it comes (drift) or marked an orphan, then dropped, so memory holds a page
 * per kind, not the whole plan. Answers the kinds listed (only their missing objects can be told apart).
 */
async function compareLabelled(context: ReconcileContext, files: Map<string, string>, pending: Map<string, string> | undefined, inventory: Map<string, string>,
  found: Found, ownerInMirror: OwnerInMirror): Promise<Set<string>> {
  const { plan, mirrorDir, destination, concurrency } = context;
  const kinds = new Map<string, UnversionedRef>();
  for (const path of [...files.keys(), ...inventory.keys()]) {
    try {
      const { ref } = refFromMirrorPath(path);
      kinds.set(`${ref.group}/${ref.kind}`, ref);
    } catch {
      /* not an object path */
    }
  }
  const index = await destination.index(true);
  const listedKinds = new Set<string>();
  const { report } = found;
  await mapLimit([...kinds.entries()], 2, async ([key, ref]) => {
    const resource = index.byKind(ref.group, ref.kind);
    if (!resource) return;
    for await (const { items } of destination.client.listPages(index.path(ref, {}), resource, { labelSelector: `${planLabel}=${plan}` })) {
      await mapLimit(items, concurrency, async (current) => {
        delete current.metadata.managedFields; // often most of an object's bytes; never compared
        const objectRef = refOf(current);
        if (isHolder(current)) return; // compared with what it carries, in compareHolders
        const path = mirrorPath(mirrorDir, objectRef);
        found.seen.add(path);
        const oid = files.get(path);
        if (oid === undefined) {
          if (pending?.has(path)) return;
          found.orphans.push({ path, ref: objectRef, oid: undefined });
          report.orphaned.push(describeRef(objectRef));
          return;
        }
        const item = { path, ref: objectRef, oid };
        const differences = await driftOf(destination, item, current, ownerInMirror).catch(() => []);
        if (differences === 'held') {
          // Applied, but held while the stand-by sleeps (the plan's hold changed): removed; its holder is checked next.
          found.seen.delete(path);
          found.orphans.push({ ...item, oid: undefined, liveOnly: true });
          report.orphaned.push(describeRef(objectRef));
          return;
        }
        report.checked++;
        if (differences.length) {
          found.drifted.push(item);
          report.drifted.push({ object: describeRef(objectRef), fields: differences.slice(0, 5) });
        }
      });
    }
    listedKinds.add(key);
  });
  return listedKinds;
}

/** Holders (src/pipeline/hold.ts) compared with the mirror objects they carry: drifted, or orphans to delete. */
async function compareHolders(context: ReconcileContext, files: Map<string, string>, pending: Map<string, string> | undefined, found: Found): Promise<void> {
  const { destination, plan, mirrorDir } = context;
  const holders = await listHolders(destination.client, plan);
  await mapLimit(holders, context.concurrency, async (holder) => {
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
    const desired = await destination.render(item, revision, () => Promise.resolve(false)).catch(() => undefined);
    if (!desired) return;
    const differences = differingFields(desired.data, holder.data, 'data');
    if (differences.length) {
      found.drifted.push(item);
      found.report.drifted.push({ object: describeRef(ref), fields: differences.slice(0, 5) });
    }
  });
}

/** `correct` mode: missing and drifted objects applied again, orphans deleted; the inventory follows. */
async function correct(context: ReconcileContext, at: { revision: string; files: Map<string, string>; inventory: Map<string, string>; ownerInMirror: OwnerInMirror },
  differing: { missing: WorkItem[]; drifted: WorkItem[]; orphans: WorkItem[] }, report: DestinationReport): Promise<void> {
  const { destination, concurrency, state, plan } = context;
  const { missing, drifted, orphans } = differing;
  const absent = new Set(missing);
  const results: ApplyResult[] = [];
  for (const group of stagesOf([...missing, ...drifted].map((item) => ({ ...item.ref, item })), 'apply')) {
    results.push(...(await mapLimit(group.refs, concurrency, ({ item }) => destination.apply(item, at.revision, !absent.has(item), at.ownerInMirror, noOwnership))));
  }
  for (const group of stagesOf(orphans.map((item) => ({ ...item.ref, item })), 'delete')) {
    results.push(...(await mapLimit(group.refs, concurrency, ({ item }) => destination.delete(item))));
  }
  const applied = new Map<string, string>();
  const deleted: string[] = [];
  const liveOnly = new Set(orphans.filter((item) => item.liveOnly).map((item) => item.path));
  for (const result of results) {
    if (result.action === 'created' || result.action === 'configured') applied.set(result.path, at.files.get(result.path)!);
    else if (result.action === 'deleted') {
      if (!liveOnly.has(result.path)) deleted.push(result.path); // the mirror object stays applied, in its holder
    }
    else report.failed.push({ object: describeRef(result.ref), reason: result.reason ?? result.action });
    if (result.action !== 'failed' && result.action !== 'skipped') report.corrected++;
    report.results.push({ ref: result.ref, action: result.action, ...(result.reason ? { reason: result.reason } : {}) });
    context.onResult?.(result, undefined);
  }
  await state.recordApplied(plan, applied, deleted);
  for (const [path, oid] of applied) at.inventory.set(path, oid);
  for (const path of deleted) at.inventory.delete(path);
}

/**
 * Fields where the destination object differs from what lifeboat would apply. A cheap comparison of the
 * fields lifeboat sets finds candidates; a server-side dry-run apply confirms them (the server defaults and
 * normalizes values, e.g. quantities, so only a dry run knows whether applying would change anything).
 */
async function driftOf(destination: Destination, item: WorkItem, current: KubeObject, ownerInMirror: OwnerInMirror): Promise<string[] | 'held'> {
  const liveRevision = current.metadata.annotations?.[annotations.revision] ?? '';
  const desired = await destination.render(item, liveRevision, ownerInMirror);
  if (refKey(refOf(desired)) !== refKey(item.ref)) return 'held';
  delete desired.metadata.ownerReferences;
  const candidates = differingFields(desired, current);
  if (!candidates.length) return [];
  const index = await destination.index();
  const ref = refOf(desired);
  const dryRun = await dryRunApply(destination.client, index.path(ref, { namespace: ref.namespace, name: ref.name }), desired, { fieldManager });
  if (dryRun.action === 'failed') throw dryRun.error;
  return differingFields(comparable(dryRun.object), comparable(current));
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
