// Exact comparison of a source's objects with the stand-by's, as a person checking a recovery would make it: both
// sides normalized (what the servers generate — uid, resourceVersion, managedFields, status, allocated cluster IPs
// — and lifeboat's own labels and annotations left out), then every field compared, with the documented stand-by
// differences (deactivated workloads, held conversion webhooks) expected exactly. Every difference is reported with
// its path, not as "not equal".
import type { KubeClient } from '../../src/kube/client.ts';
import { KubeError, metadataOnly } from '../../src/kube/client.ts';
import { ResourceIndex } from '../../src/kube/discovery.ts';
import { describeRef, parseApiVersion, refKey, type KubeObject, type UnversionedRef } from '../../src/kube/ref.ts';
import { normalize } from '../../src/pipeline/normalize.ts';
import { annotations as deactivation, deactivatedNodeLabel, planLabel } from '../../src/pipeline/transforms.ts';

type Json = Record<string, unknown>;

/** The stand-by sleeps until recovery (workloads deactivated, webhooks held), then is awake. */
export type StandbyState = 'asleep' | 'awake';

/** The annotation keeping a CRD's conversion webhook while the stand-by sleeps (its `spec.conversion` as JSON). */
export const heldConversionAnnotation = 'lifeboat.dev/held-conversion';
/** Labels of the ConfigMaps (in lifeboat-system) that hold a webhook configuration or APIService while asleep. */
export const heldLabel = 'lifeboat.dev/held';
export const holderNamespace = 'lifeboat-system';

/**
 * Annotations the API server writes itself: a DaemonSet's template generation (its `generation`, counted by the
 * server on every template change) differs at a stand-by whose template was deactivated and woken again.
 * lifeboat's normalization does not drop it (it does drop `deployment.kubernetes.io/revision`), so it is left out here.
 */
const serverAnnotations = ['deprecated.daemonset.template.generation'];

/** Annotations whose values are JSON: compared as values, since key order in them is no intent. */
const jsonAnnotations = new Set<string>([heldConversionAnnotation, deactivation.nodeSelector]);

const isRecord = (value: unknown): value is Json => typeof value === 'object' && value !== null && !Array.isArray(value);

/** An object's identity, as the mirror and lifeboat name it. */
export function identityOf(object: Pick<KubeObject, 'apiVersion' | 'kind' | 'metadata'>): UnversionedRef {
  return { group: parseApiVersion(object.apiVersion).group, kind: object.kind, namespace: object.metadata.namespace, name: object.metadata.name ?? '' };
}

/**
 * The object as compared: normalized like the mirror does it (server-populated fields, status and allocations gone),
 * without lifeboat's labels and annotations except the ones named in `keep`, JSON annotations parsed.
 */
export function comparable(object: KubeObject, keep: ReadonlySet<string> = new Set()): Json {
  const normalized = normalize(object).object as unknown as Json & { metadata: Json };
  const annotations = normalized.metadata.annotations;
  if (isRecord(annotations)) for (const key of serverAnnotations) delete annotations[key];
  for (const field of ['labels', 'annotations'] as const) {
    const map = normalized.metadata[field];
    if (!isRecord(map)) continue;
    for (const key of Object.keys(map)) {
      if (key.startsWith('lifeboat.dev/') && !keep.has(key)) delete map[key];
      else if (jsonAnnotations.has(key) && typeof map[key] === 'string') map[key] = parseJson(map[key]);
    }
    if (Object.keys(map).length === 0) delete normalized.metadata[field];
  }
  return normalized;
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return `(not JSON) ${text}`;
  }
}

/** The lifeboat annotations compared on the stand-by, by state: what deactivation saved, and held conversions. */
const comparedWhileAsleep = new Set<string>([deactivation.deactivated, deactivation.replicas, deactivation.suspend, deactivation.minReplicas, deactivation.nodeSelector, heldConversionAnnotation]);
const comparedWhenAwake = new Set<string>([heldConversionAnnotation]);

/** The plan's `recovery.hold` (every kind held by default): a conversion webhook not held stays as the source has it. */
export interface Hold {
  conversionWebhooks?: boolean;
}

/**
 * What the stand-by must have for a source object: the same object, and while asleep the documented differences —
 * replicas 0 (the count kept in `lifeboat.dev/replicas`), CronJobs suspended, HPAs at minReplicas 1, DaemonSets on a
 * node selector no node has, a conversion webhook replaced by `None` (kept in `lifeboat.dev/held-conversion`).
 */
export function expectedAtStandby(source: KubeObject, state: StandbyState, hold: Hold = {}): Json {
  const expected = comparable(source);
  if (state === 'awake') return expected;
  const notes: Json = {};
  const spec = isRecord(expected.spec) ? expected.spec : {};
  const kind = `${parseApiVersion(source.apiVersion).group}/${source.kind}`;
  if (['apps/Deployment', 'apps/StatefulSet', 'apps/ReplicaSet'].includes(kind)) {
    notes[deactivation.replicas] = String(spec.replicas ?? 1);
    spec.replicas = 0;
  } else if (kind === 'batch/CronJob' || kind === 'batch/Job') {
    notes[deactivation.suspend] = String(spec.suspend ?? false);
    spec.suspend = true;
  } else if (kind === 'autoscaling/HorizontalPodAutoscaler') {
    notes[deactivation.minReplicas] = String(spec.minReplicas ?? 1);
    spec.minReplicas = 1;
  } else if (kind === 'apps/DaemonSet') {
    const podSpec = (spec.template as { spec: Json }).spec;
    notes[deactivation.nodeSelector] = podSpec.nodeSelector ?? null;
    podSpec.nodeSelector = { ...(isRecord(podSpec.nodeSelector) ? podSpec.nodeSelector : {}), [deactivatedNodeLabel]: 'true' };
  } else if (hold.conversionWebhooks !== false && kind === 'apiextensions.k8s.io/CustomResourceDefinition' && isRecord(spec.conversion) && spec.conversion.strategy === 'Webhook') {
    expected.metadata = { ...(expected.metadata as Json), annotations: { ...((expected.metadata as Json).annotations as Json | undefined), [heldConversionAnnotation]: spec.conversion } };
    spec.conversion = { strategy: 'None' };
  }
  if (Object.keys(notes).length > 0) {
    const metadata = expected.metadata as Json;
    metadata.annotations = { ...(metadata.annotations as Json | undefined), ...notes, [deactivation.deactivated]: 'true' };
  }
  return expected;
}

/** One difference: where, and both values. */
export interface Difference {
  path: string;
  expected: unknown;
  actual: unknown;
}

function pathOf(base: string, key: string | number): string {
  if (typeof key === 'number') return `${base}[${key}]`;
  return /^[A-Za-z_][A-Za-z0-9_]*$/.test(key) ? (base ? `${base}.${key}` : key) : `${base}[${JSON.stringify(key)}]`;
}

/** Every path at which `actual` differs from `expected` (maps by key, arrays by index). */
export function differences(expected: unknown, actual: unknown, path = ''): Difference[] {
  if (isRecord(expected) && isRecord(actual)) {
    return [...new Set([...Object.keys(expected), ...Object.keys(actual)])].sort()
      .flatMap((key) => differences(expected[key], actual[key], pathOf(path, key)));
  }
  if (Array.isArray(expected) && Array.isArray(actual)) {
    const found = Array.from({ length: Math.min(expected.length, actual.length) }, (_, index) => differences(expected[index], actual[index], pathOf(path, index))).flat();
    if (expected.length !== actual.length) found.push({ path: `${path}.length`, expected: expected.length, actual: actual.length });
    return found;
  }
  return Object.is(expected, actual) ? [] : [{ path: path || '(the object)', expected, actual }];
}

function show(value: unknown): string {
  if (value === undefined) return '(absent)';
  const text = JSON.stringify(value);
  return text.length > 160 ? `${text.slice(0, 160)}… (${text.length} chars)` : text;
}

/** The source object against the stand-by's, one line per difference: `Kind ns/name: path: source X, stand-by Y`. */
export function compareObject(source: KubeObject, standby: KubeObject, state: StandbyState, hold: Hold = {}): string[] {
  const keep = state === 'asleep' ? comparedWhileAsleep : comparedWhenAwake;
  const found = differences(expectedAtStandby(source, state, hold), comparable(standby, keep));
  // Awake, nothing may still be marked asleep (the annotation itself is lifeboat's bookkeeping, its value is not).
  if (state === 'awake' && standby.metadata.annotations?.[deactivation.deactivated] === 'true') {
    found.push({ path: `metadata.annotations[${JSON.stringify(deactivation.deactivated)}]`, expected: 'not "true" after recovery', actual: 'true' });
  }
  const what = describeRef(identityOf(source));
  return found.map((difference) => `${what}: ${difference.path}: ${state === 'asleep' ? 'expected' : 'source'} ${show(difference.expected)}, stand-by ${show(difference.actual)}`);
}

/** GET that answers undefined for 404. */
export async function fetchObject(client: KubeClient, index: ResourceIndex, ref: UnversionedRef & { version?: string }): Promise<KubeObject | undefined> {
  try {
    return await client.request<KubeObject>('GET', index.objectPath(ref as UnversionedRef));
  } catch (error) {
    if (error instanceof KubeError && error.code === 404) return undefined;
    throw error;
  }
}

async function mapLimited<T, R>(items: readonly T[], limit: number, work: (item: T) => Promise<R>): Promise<R[]> {
  const results: R[] = new Array<R>(items.length);
  let next = 0;
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, async () => {
    while (next < items.length) {
      const index = next++;
      results[index] = await work(items[index] as T);
    }
  }));
  return results;
}

export interface Clusters {
  source: KubeClient;
  standby: KubeClient;
}

/**
 * Compares every named object of the source with the stand-by's. An object missing on either side is a difference
 * too. Discovery is fresh on each call (CRDs may have just become served).
 */
export async function compareWithStandby(clusters: Clusters, refs: readonly UnversionedRef[], state: StandbyState, hold: Hold = {}): Promise<string[]> {
  const [sourceIndex, standbyIndex] = await Promise.all([ResourceIndex.discover(clusters.source), ResourceIndex.discover(clusters.standby)]);
  const results = await mapLimited(refs, 8, async (ref) => {
    const [source, standby] = await Promise.all([fetchObject(clusters.source, sourceIndex, ref), fetchObject(clusters.standby, standbyIndex, ref).catch((error: Error) => error)]);
    if (standby instanceof Error) return [`${describeRef(ref)}: cannot be read at the stand-by: ${standby.message}`];
    if (!source) return [`${describeRef(ref)}: at the stand-by but not at the source`];
    if (!standby) return [`${describeRef(ref)}: missing at the stand-by`];
    return compareObject(source, standby, state, hold);
  });
  return results.flat();
}

/** Every object at a cluster carrying the plan's label, across every listable kind. */
export async function planObjects(client: KubeClient, plan: string): Promise<UnversionedRef[]> {
  const index = await ResourceIndex.discover(client);
  const lists = await mapLimited(index.listWatchable(), 8, async (resource) => {
    const found: UnversionedRef[] = [];
    const path = index.path(resource);
    try {
      for await (const page of client.listPages(path, resource, { labelSelector: `${planLabel}=${plan}` }, 500, metadataOnly)) {
        for (const item of page.items) found.push({ group: resource.group, kind: resource.kind, namespace: item.metadata.namespace, name: item.metadata.name ?? '' });
      }
    } catch (error) {
      // A kind discovered a moment ago whose CRD is gone (a parallel test uninstalled it) has no objects of any plan.
      if (!(error instanceof KubeError && error.code === 404)) throw error;
    }
    return found;
  });
  return lists.flat();
}

export const keyOf = (ref: UnversionedRef): string => refKey(ref);
