// Normalization: the same intent always gives the same bytes, so a no-op change in the source never makes a commit.
// Strips what the source cluster generated (identity, bookkeeping, status, allocations such as cluster IPs, node
// ports and bound volumes) and foreign GitOps markers, then sorts keys. Pure: the input is never mutated.
//
// Kept on purpose: `metadata.finalizers` (user finalizers carry intent, and controller finalizers such as
// `kubernetes.io/pvc-protection` are added again by the destination's controllers anyway); Argo CD's default
// tracking label `app.kubernetes.io/instance` (it is also the common "app instance" label of many charts).
import { Document, isMap, isScalar, visit, type Pair } from 'yaml';
import { emitYaml, exactStrings, type EmitOptions } from '../util/yaml.ts';
import { parseApiVersion, type KubeObject, type ObjectMeta, type OwnerReference } from '../kube/ref.ts';

export interface NormalizeOptions {
  /** Keep `status` (stripped by default everywhere). */
  keepStatus?: boolean;
  /** The caller hands the object over: it is changed in place instead of copied first. */
  owned?: boolean;
  /** Keys sorted (the default); off when the result is normalized again anyway. */
  sorted?: boolean;
}

export interface Normalized {
  object: KubeObject;
  /** The object's ownerReferences, stripped from it so they can be re-linked to destination UIDs at apply time. */
  ownerReferences: OwnerReference[];
}

/** Annotation opting a Service out of dropping its nodePorts (and healthCheckNodePort): set it to "true". */
export const keepNodePortsAnnotation = 'lifeboat.dev/keep-node-ports';

const generatedMetadata = [
  'uid', 'resourceVersion', 'generation', 'creationTimestamp', 'deletionTimestamp', 'deletionGracePeriodSeconds', 'selfLink',
  'managedFields', 'ownerReferences',
] as const;

const droppedAnnotations = new Set([
  'kubectl.kubernetes.io/last-applied-configuration',
  'deployment.kubernetes.io/revision',
  // The DaemonSet controller's count of template changes: each cluster keeps its own (deactivating and waking a
  // DaemonSet bumps it at the stand-by).
  'deprecated.daemonset.template.generation',
]);

/** Label and annotation prefixes of GitOps controllers: a controller at the destination must not adopt or prune. */
const foreignGitOpsPrefixes = ['argocd.argoproj.io/', 'kustomize.toolkit.fluxcd.io/', 'helm.toolkit.fluxcd.io/'];

/** Annotations the PersistentVolume controller writes on a claim when it binds or provisions it. */
const claimBindAnnotations = [
  'pv.kubernetes.io/bind-completed',
  'pv.kubernetes.io/bound-by-controller',
  'volume.beta.kubernetes.io/storage-provisioner',
  'volume.kubernetes.io/storage-provisioner',
  'volume.kubernetes.io/selected-node',
];

/** Labels the Job controller generates (with the selector) unless the Job sets `manualSelector: true`. */
const jobGeneratedLabels = ['controller-uid', 'batch.kubernetes.io/controller-uid', 'job-name', 'batch.kubernetes.io/job-name'];

type Json = Record<string, unknown>;

export function normalize(input: KubeObject, options: NormalizeOptions = {}): Normalized {
  // Copied without what is dropped anyway (managedFields, often as large as the rest; status).
  const { status, metadata: inputMetadata, ...rest } = input;
  const { managedFields: _managedFields, ...keptMetadata } = inputMetadata ?? {};
  const stripped = { ...rest, metadata: keptMetadata, ...(options.keepStatus && status !== undefined ? { status } : {}) } as KubeObject;
  const object = options.owned ? stripped : structuredClone(stripped);
  const metadata: ObjectMeta = object.metadata;
  const ownerReferences = metadata.ownerReferences ?? [];

  for (const field of generatedMetadata) delete metadata[field];
  if (metadata.name) delete metadata.generateName;
  if (!options.keepStatus) delete object.status;

  removeKeys(metadata, 'annotations', (key) => droppedAnnotations.has(key) || isForeignGitOps(key));
  removeKeys(metadata, 'labels', isForeignGitOps);

  const { group } = parseApiVersion(object.apiVersion);
  if (group === '' && object.kind === 'Service') normalizeService(object);
  if (group === '' && object.kind === 'PersistentVolumeClaim') normalizeClaim(object);
  if (group === 'batch' && object.kind === 'Job') normalizeJob(object);
  dropNullTemplateTimestamps(object);

  if (metadata.annotations && Object.keys(metadata.annotations).length === 0) delete metadata.annotations;
  if (metadata.labels && Object.keys(metadata.labels).length === 0) delete metadata.labels;
  return { object: options.sorted === false ? object : sortKeys(object), ownerReferences: structuredClone(ownerReferences) };
}

function isForeignGitOps(key: string): boolean {
  return foreignGitOpsPrefixes.some((prefix) => key.startsWith(prefix));
}

function isRecord(value: unknown): value is Json {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** Deletes the keys of `holder[field]` (a string map) that match; removes the map when that leaves it empty. */
function removeKeys(holder: Json, field: string, drop: (key: string) => boolean): void {
  const map = holder[field];
  if (!isRecord(map)) return;
  const before = Object.keys(map).length;
  for (const key of Object.keys(map)) if (drop(key)) delete map[key];
  if (before > 0 && Object.keys(map).length === 0) delete holder[field];
}

/**
 * Cluster IPs come from the source's service CIDR and node ports from its port range: both are allocated again by
 * the destination. Headless Services (`clusterIP: None`) keep it, since that is intent. nodePorts are dropped even
 * when a person chose them, because the API does not record who did; `lifeboat.dev/keep-node-ports: "true"` keeps
 * them. IP families are dropped only when they are the single-stack IPv4 default, so dual-stack intent survives.
 */
function normalizeService(service: KubeObject): void {
  const spec = service.spec;
  if (!isRecord(spec)) return;
  if (spec.clusterIP !== 'None') {
    delete spec.clusterIP;
    delete spec.clusterIPs;
  }
  if (service.metadata.annotations?.[keepNodePortsAnnotation] !== 'true') {
    delete spec.healthCheckNodePort;
    if (Array.isArray(spec.ports)) for (const port of spec.ports) if (isRecord(port)) delete port.nodePort;
  }
  const families = spec.ipFamilies;
  const defaultFamilies = families === undefined || (Array.isArray(families) && families.length === 1 && families[0] === 'IPv4');
  if (defaultFamilies && (spec.ipFamilyPolicy === undefined || spec.ipFamilyPolicy === 'SingleStack')) {
    delete spec.ipFamilies;
    delete spec.ipFamilyPolicy;
  }
}

/**
 * A claim bound by the controller names a volume of the source; the destination binds or provisions its own. A
 * claim pre-bound by a person (no `pv.kubernetes.io/bound-by-controller: "yes"`) keeps its volumeName.
 */
function normalizeClaim(claim: KubeObject): void {
  const annotations = claim.metadata.annotations ?? {};
  const boundByController = annotations['pv.kubernetes.io/bound-by-controller'] === 'yes';
  if (boundByController && isRecord(claim.spec)) delete claim.spec.volumeName;
  removeKeys(claim.metadata, 'annotations', (key) => claimBindAnnotations.includes(key));
}

/** The generated selector and labels hold the source Job's UID; the destination generates its own. */
function normalizeJob(job: KubeObject): void {
  const spec = job.spec;
  if (isRecord(spec) && spec.manualSelector === true) return;
  const generated = (key: string) => jobGeneratedLabels.includes(key);
  removeKeys(job.metadata, 'labels', generated);
  if (!isRecord(spec)) return;
  const selector = spec.selector;
  if (isRecord(selector)) {
    removeKeys(selector, 'matchLabels', generated);
    const expressions = selector.matchExpressions;
    if (Array.isArray(expressions) && expressions.length === 0) delete selector.matchExpressions;
    if (Object.keys(selector).length === 0) delete spec.selector;
  }
  const template = spec.template;
  if (isRecord(template) && isRecord(template.metadata)) removeKeys(template.metadata, 'labels', generated);
}

/** `creationTimestamp: null` is what Go serializes for an unset template timestamp: noise in every workload. */
function dropNullTemplateTimestamps(value: unknown): void {
  if (Array.isArray(value)) {
    for (const item of value) dropNullTemplateTimestamps(item);
    return;
  }
  if (!isRecord(value)) return;
  for (const [key, child] of Object.entries(value)) {
    if (key === 'metadata' && isRecord(child) && child.creationTimestamp === null) delete child.creationTimestamp;
    dropNullTemplateTimestamps(child);
  }
}

/** A deep copy with every map's keys in code-unit order; arrays keep their order (it carries meaning). */
export function sortKeys<T>(value: T): T {
  if (Array.isArray(value)) return value.map((item: unknown) => sortKeys(item)) as T;
  if (!isRecord(value)) return value;
  // fromEntries defines own properties: a ConfigMap key `__proto__` (valid) must stay data, not become a prototype.
  return Object.fromEntries(Object.keys(value).sort(compareKeys).map((key) => [key, sortKeys(value[key])])) as T;
}

function compareKeys(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

const leadingKeys = ['apiVersion', 'kind', 'metadata'];

function keyRank(key: string): number {
  const index = leadingKeys.indexOf(key);
  return index === -1 ? leadingKeys.length : index;
}

const yamlOptions: EmitOptions = {
  documentOptions: {
    sortMapEntries: true, aliasDuplicateObjects: false, version: '1.1',
    // The merge tag would print a `<<` key bare whatever its node says; without it the key is quoted below.
    // Strings are quoted or escaped where any reader would read something else (exactStrings).
    customTags: (tags) => exactStrings(tags.filter((tag) => typeof tag === 'string' ? tag !== 'merge' : tag.tag !== 'tag:yaml.org,2002:merge')),
  },
  toStringOptions: { lineWidth: 0 },
  compareTopKeys: (a, b) => keyRank(a) - keyRank(b) || compareKeys(a, b),
};

/**
 * The mirror's YAML: apiVersion, kind, metadata first, every other key sorted, no anchors, no folded lines.
 * Strings are quoted by YAML 1.1 rules ("yes", "on", "0755", "y"), so kubectl and other YAML 1.1 readers
 * read the same values as this project's YAML 1.2 parser. Written by the fast emitter when the object is inside
 * its subset (nearly always), else by the library; the text is the same either way.
 */
export function toYaml(object: unknown): string {
  if (typeof object === 'object' && object !== null && !Array.isArray(object)) {
    const fast = emitYaml(object as Record<string, unknown>, yamlOptions);
    if (fast !== undefined) return fast;
  }
  return libraryYaml(object);
}

/** `toYaml` by the `yaml` library alone (the reference the fast emitter is tested against). */
export function libraryYaml(object: unknown): string {
  const document = new Document(object, yamlOptions.documentOptions);
  if (isMap(document.contents)) {
    document.contents.items.sort((a: Pair, b: Pair) => {
      const aKey = isScalar(a.key) ? String(a.key.value) : '';
      const bKey = isScalar(b.key) ? String(b.key.value) : '';
      return yamlOptions.compareTopKeys(aKey, bKey);
    });
  }
  // A plain `<<` key is a merge key to YAML 1.1 readers: quote it so it stays an ordinary key.
  visit(document, {
    Pair(_, pair) {
      if (isScalar(pair.key) && pair.key.value === '<<') pair.key.type = 'QUOTE_DOUBLE';
    },
  });
  return document.toString(yamlOptions.toStringOptions);
}
