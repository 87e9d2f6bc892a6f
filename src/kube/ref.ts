// The one object identity used by every stage: an ObjectRef (group, version, kind, namespace, name), the stable key
// that names an object independently of its API version, and the codec between a ref and its file in the mirror
// (`<plan>/namespaces/<namespace>/<Kind>.<group>/<name>.yaml`, `<plan>/cluster/<Kind>.<group>/<name>.yaml`).

/** An owner reference as the API server stores it in `metadata.ownerReferences`. */
export interface OwnerReference {
  apiVersion: string;
  kind: string;
  name: string;
  uid: string;
  controller?: boolean;
  blockOwnerDeletion?: boolean;
}

/** `metadata` of any Kubernetes object; fields lifeboat does not interpret pass through untouched. */
export interface ObjectMeta {
  name?: string;
  generateName?: string;
  namespace?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
  ownerReferences?: OwnerReference[];
  finalizers?: string[];
  [field: string]: unknown;
}

/** Any Kubernetes object as raw JSON: what the API server sent, never a typed model that drops fields. */
export interface KubeObject {
  apiVersion: string;
  kind: string;
  metadata: ObjectMeta;
  [field: string]: unknown;
}

/** Identity of one object. The core group is `''`; cluster-scoped objects have no namespace. */
export interface ObjectRef {
  group: string;
  version: string;
  kind: string;
  namespace?: string;
  name: string;
}

/** An identity without the API version: what a mirror path or a ref key can express. */
export type UnversionedRef = Omit<ObjectRef, 'version'>;

/** Splits `apps/v1` into group `apps` and version `v1`; `v1` is the core group `''`. */
export function parseApiVersion(apiVersion: string): { group: string; version: string } {
  const parts = apiVersion.split('/');
  if (parts.length === 1 && parts[0]) return { group: '', version: parts[0] };
  if (parts.length === 2 && parts[0] && parts[1]) return { group: parts[0], version: parts[1] };
  throw new Error(`invalid apiVersion ${JSON.stringify(apiVersion)}: expected "<version>" or "<group>/<version>"`);
}

/** The apiVersion of a ref: `v1` for the core group, `<group>/<version>` otherwise. */
export function apiVersionOf(ref: Pick<ObjectRef, 'group' | 'version'>): string {
  return ref.group === '' ? ref.version : `${ref.group}/${ref.version}`;
}

/** The identity of an object from its apiVersion, kind and metadata. Throws when one of them is missing. */
export function refOf(object: { apiVersion?: unknown; kind?: unknown; metadata?: { name?: unknown; namespace?: unknown } }): ObjectRef {
  const { apiVersion, kind } = object;
  const name = object.metadata?.name;
  const namespace = object.metadata?.namespace;
  if (typeof apiVersion !== 'string' || typeof kind !== 'string' || kind === '' || typeof name !== 'string' || name === '') {
    const seen = `apiVersion=${JSON.stringify(apiVersion)} kind=${JSON.stringify(kind)} name=${JSON.stringify(name)}`;
    throw new Error(`object has no identity: apiVersion, kind and metadata.name are all required (${seen})`);
  }
  const ref: ObjectRef = { ...parseApiVersion(apiVersion), kind, name };
  if (typeof namespace === 'string' && namespace !== '') ref.namespace = namespace;
  return ref;
}

/**
 * A stable string key for an object, independent of its API version: `<group>/<kind>/<namespace>/<name>` with empty
 * segments for the core group and for cluster-scoped objects (`apps/Deployment/shop/web`, `/ConfigMap/shop/settings`,
 * `rbac.authorization.k8s.io/ClusterRole//admin`). Always four segments, so two different refs never share a key.
 */
export function refKey(ref: UnversionedRef): string {
  return `${ref.group}/${ref.kind}/${ref.namespace ?? ''}/${ref.name}`;
}

/** The inverse of refKey. */
export function refFromKey(key: string): UnversionedRef {
  const parts = key.split('/');
  const [group, kind, namespace, name] = parts;
  if (parts.length !== 4 || !kind || !name || group === undefined || namespace === undefined) {
    throw new Error(`invalid object key ${JSON.stringify(key)}: expected "<group>/<kind>/<namespace>/<name>"`);
  }
  return namespace === '' ? { group, kind, name } : { group, kind, namespace, name };
}

/** A short human description for messages and logs: `Deployment.apps shop/web`, `Namespace shop`. */
export function describeRef(ref: UnversionedRef): string {
  const kind = ref.group === '' ? ref.kind : `${ref.kind}.${ref.group}`;
  return ref.namespace ? `${kind} ${ref.namespace}/${ref.name}` : `${kind} ${ref.name}`;
}

// ---------------------------------------------------------------------------------------------------------------
// Mirror paths. Object names are DNS subdomains or path segment names (RBAC names may hold ':'), so they need no
// escaping; anything that could climb out of or split a directory is refused instead of being written.

const namespacesDir = 'namespaces';
const clusterDir = 'cluster';
const suffix = '.yaml';

/** Why a string cannot be one path segment of a mirror path, or undefined when it can. */
function segmentProblem(value: string): string | undefined {
  if (value === '') return 'is empty';
  if (value === '.' || value === '..') return 'is a relative directory name';
  if (/[/\\\0]/.test(value)) return 'contains a path separator';
  return undefined;
}

function checkSegment(what: string, value: string): void {
  const problem = segmentProblem(value);
  if (problem) throw new Error(`cannot build a mirror path: ${what} ${JSON.stringify(value)} ${problem}`);
}

/** The `<Kind>.<group>` directory of a kind (`Deployment.apps`), or `<Kind>` for the core group. */
function kindDir(ref: Pick<ObjectRef, 'group' | 'kind'>): string {
  return ref.group === '' ? ref.kind : `${ref.kind}.${ref.group}`;
}

/** The file of an object in the mirror, relative to the repository root. */
export function mirrorPath(plan: string, ref: UnversionedRef): string {
  checkSegment('plan', plan);
  checkSegment('kind', ref.kind);
  if (ref.kind.includes('.')) throw new Error(`cannot build a mirror path: kind ${JSON.stringify(ref.kind)} contains a dot`);
  if (ref.group !== '') checkSegment('group', ref.group);
  checkSegment('name', ref.name);
  const file = `${kindDir(ref)}/${ref.name}${suffix}`;
  if (ref.namespace === undefined) return `${plan}/${clusterDir}/${file}`;
  checkSegment('namespace', ref.namespace);
  return `${plan}/${namespacesDir}/${ref.namespace}/${file}`;
}

/** The plan and object identity of a mirror file: the exact inverse of mirrorPath. Throws for any other path. */
export function refFromMirrorPath(path: string): { plan: string; ref: UnversionedRef } {
  const fail = (why: string): never => {
    throw new Error(`${JSON.stringify(path)} is not a lifeboat mirror path (${why}); expected ` +
      `<plan>/namespaces/<namespace>/<Kind>.<group>/<name>.yaml or <plan>/cluster/<Kind>.<group>/<name>.yaml`);
  };
  const parts = path.split('/');
  let plan: string | undefined;
  let namespace: string | undefined;
  let kindPart: string | undefined;
  let file: string | undefined;
  if (parts.length === 5 && parts[1] === namespacesDir) [plan, , namespace, kindPart, file] = parts;
  else if (parts.length === 4 && parts[1] === clusterDir) [plan, , kindPart, file] = parts;
  else return fail(`wrong number of segments or no "${namespacesDir}"/"${clusterDir}" directory`);
  if (!plan || !kindPart || !file) return fail('empty segment');
  if (!file.endsWith(suffix)) return fail(`the file name does not end in ${suffix}`);
  const name = file.slice(0, -suffix.length);
  const dot = kindPart.indexOf('.');
  const kind = dot === -1 ? kindPart : kindPart.slice(0, dot);
  const group = dot === -1 ? '' : kindPart.slice(dot + 1);
  for (const [what, value] of [['plan', plan], ['namespace', namespace], ['kind', kind], ['group', group], ['name', name]] as const) {
    if (value === undefined || (what === 'group' && value === '')) continue;
    const problem = segmentProblem(value);
    if (problem) return fail(`${what} ${problem}`);
  }
  if (dot !== -1 && group === '') return fail('empty group after the kind');
  const ref: UnversionedRef = namespace === undefined ? { group, kind, name } : { group, kind, namespace, name };
  return { plan, ref };
}

/** An object's name ('' when it has none, as an object being created with generateName). */
export const nameOf = (object: KubeObject): string => object.metadata.name ?? '';
/** metadata.generation (0 when absent: kinds without a spec, objects not stored yet). */
export const generationOf = (object: KubeObject): number => Number((object.metadata as { generation?: number }).generation ?? 0);
