// The plan's transforms, applied in plan order to a normalized object. Pure: object in, new object out (the input
// is never mutated). A transform's `select` matches the object as it was in the source (its source namespace),
// so a namespace mapping earlier in the list does not change what later transforms select.
// Deactivation keeps what it changes in annotations, so the restorer can undo it exactly.
import jsonpatch, { type Operation } from 'fast-json-patch';
import { parseJsonPointer } from '../plan/parse.ts';
import type { Transform } from '../plan/schema.ts';
import { shortened } from '../util/quote.ts';
import { compileSelector, type Candidate } from './select.ts';

export type KubeObject = Record<string, unknown> & {
  apiVersion: string;
  kind: string;
  metadata: Record<string, unknown> & { name: string; namespace?: string; labels?: Record<string, string>; annotations?: Record<string, string> };
};

/** Annotations written by deactivation, read by activation. */
export const annotations = {
  deactivated: 'lifeboat.dev/deactivated',
  replicas: 'lifeboat.dev/replicas',
  suspend: 'lifeboat.dev/suspend',
  minReplicas: 'lifeboat.dev/min-replicas',
  nodeSelector: 'lifeboat.dev/node-selector',
  savedPaths: 'lifeboat.dev/saved-paths',
  owners: 'lifeboat.dev/owners',
  revision: 'lifeboat.dev/revision',
  sourceNamespace: 'lifeboat.dev/source-namespace',
} as const;
export { planLabel } from './exclusions.ts';
/** DaemonSets are deactivated by a node selector no node carries. */
export const deactivatedNodeLabel = 'lifeboat.dev/deactivated';

export class TransformError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'TransformError';
  }
}

type Json = Record<string, unknown>;

const isRecord = (value: unknown): value is Json => typeof value === 'object' && value !== null && !Array.isArray(value);

function setAnnotation(object: KubeObject, key: string, value: string): void {
  object.metadata.annotations = { ...(object.metadata.annotations ?? {}), [key]: value };
}

function groupOf(apiVersion: string): string {
  return apiVersion.includes('/') ? apiVersion.slice(0, apiVersion.indexOf('/')) : '';
}

/** The pod specs inside an object: Pod, workload templates, CronJob job templates. */
export function podSpecs(object: KubeObject): Json[] {
  const spec = object.spec;
  if (!isRecord(spec)) return [];
  if (object.kind === 'Pod') return [spec];
  if (object.kind === 'CronJob') {
    const inner = isRecord(spec.jobTemplate) && isRecord(spec.jobTemplate.spec) && isRecord(spec.jobTemplate.spec.template) ? spec.jobTemplate.spec.template.spec : undefined;
    return isRecord(inner) ? [inner] : [];
  }
  const template = isRecord(spec.template) ? spec.template.spec : undefined;
  return isRecord(template) ? [template] : [];
}

function containersOf(podSpec: Json, name: string): Json[] {
  const all = ['initContainers', 'containers', 'ephemeralContainers'].flatMap((field) => (Array.isArray(podSpec[field]) ? (podSpec[field] as unknown[]).filter(isRecord) : []));
  return name === '*' ? all : all.filter((container) => container.name === name);
}

/** Rewrites an image whose registry/repository starts with `from` (whole path components); tag and digest stay. */
export function rewriteImage(image: string, rewrites: readonly { from: string; to: string }[]): string {
  for (const { from, to } of rewrites) {
    if (image === from) return to;
    const next = image.charAt(from.length);
    if (image.startsWith(from) && (next === '/' || next === ':' || next === '@')) return to + image.slice(from.length);
  }
  return image;
}

const scalable = new Set(['apps/Deployment', 'apps/StatefulSet', 'apps/ReplicaSet', '/ReplicationController']);
const suspendable = new Set(['batch/CronJob', 'batch/Job']);

function readPointer(object: Json, pointer: string): unknown {
  let current: unknown = object;
  for (const segment of parseJsonPointer(pointer)) current = isRecord(current) ? current[segment] : Array.isArray(current) ? current[Number(segment)] : undefined;
  return current;
}

function writePointer(object: Json, pointer: string, value: unknown): void {
  const segments = parseJsonPointer(pointer);
  let current: Json = object;
  for (const segment of segments.slice(0, -1)) {
    if (!isRecord(current[segment])) current[segment] = {};
    current = current[segment] as Json;
  }
  current[segments.at(-1) ?? ''] = value;
}

function deactivate(object: KubeObject, options: NonNullable<Transform['deactivate']>): void {
  const kindKey = `${groupOf(object.apiVersion)}/${object.kind}`;
  const spec: Json = isRecord(object.spec) ? object.spec : {};
  if (scalable.has(kindKey) || suspendable.has(kindKey) || kindKey === 'apps/DaemonSet' || kindKey === 'autoscaling/HorizontalPodAutoscaler') object.spec = spec;
  let changed = false;
  if (scalable.has(kindKey)) {
    if (object.metadata.annotations?.[annotations.replicas] === undefined) setAnnotation(object, annotations.replicas, String(spec.replicas ?? 1));
    spec.replicas = 0;
    changed = true;
  } else if (suspendable.has(kindKey)) {
    if (object.metadata.annotations?.[annotations.suspend] === undefined) setAnnotation(object, annotations.suspend, String(spec.suspend ?? false));
    spec.suspend = true;
    changed = true;
  } else if (kindKey === 'apps/DaemonSet') {
    const template = isRecord(spec.template) ? spec.template : (spec.template = {});
    const podSpec = isRecord(template.spec) ? template.spec : (template.spec = {});
    setAnnotation(object, annotations.nodeSelector, JSON.stringify(podSpec.nodeSelector ?? null));
    podSpec.nodeSelector = { ...(isRecord(podSpec.nodeSelector) ? podSpec.nodeSelector : {}), [deactivatedNodeLabel]: 'true' };
    changed = true;
  } else if (kindKey === 'autoscaling/HorizontalPodAutoscaler') {
    // An HPA whose target has 0 replicas does not scale it; minReplicas 1 keeps it valid and is restored on activation.
    setAnnotation(object, annotations.minReplicas, String(spec.minReplicas ?? 1));
    spec.minReplicas = 1;
    changed = true;
  }
  const saved: Record<string, unknown> = {};
  for (const pointer of options.replicasPaths ?? []) {
    saved[pointer] = readPointer(object, pointer) ?? null;
    writePointer(object, pointer, 0);
  }
  for (const pointer of options.suspendPaths ?? []) {
    saved[pointer] = readPointer(object, pointer) ?? null;
    writePointer(object, pointer, true);
  }
  if (Object.keys(saved).length) {
    setAnnotation(object, annotations.savedPaths, JSON.stringify(saved));
    changed = true;
  }
  if (changed) setAnnotation(object, annotations.deactivated, 'true');
}

function mapNamespaces(object: KubeObject, mapping: Record<string, string>): void {
  const map = (namespace: unknown) => (typeof namespace === 'string' ? mapping[namespace] ?? namespace : namespace);
  if (object.metadata.namespace !== undefined) object.metadata.namespace = map(object.metadata.namespace) as string;
  if (object.kind === 'Namespace' && object.apiVersion === 'v1') object.metadata.name = map(object.metadata.name) as string;
  // Bindings name ServiceAccounts by namespace.
  if ((object.kind === 'RoleBinding' || object.kind === 'ClusterRoleBinding') && Array.isArray(object.subjects)) {
    for (const subject of object.subjects.filter(isRecord)) if (subject.kind === 'ServiceAccount') subject.namespace = map(subject.namespace);
  }
}

function editMap(current: Record<string, string> | undefined, edit: { set?: Record<string, string>; remove?: string[] }): Record<string, string> | undefined {
  const next = { ...(current ?? {}), ...(edit.set ?? {}) };
  for (const key of edit.remove ?? []) delete next[key];
  return Object.keys(next).length ? next : undefined;
}

function editEnv(object: KubeObject, edit: NonNullable<Transform['env']>): void {
  for (const podSpec of podSpecs(object)) {
    for (const container of containersOf(podSpec, edit.container)) {
      let env = (Array.isArray(container.env) ? container.env : []).filter(isRecord);
      const remove = new Set([...(edit.remove ?? []), ...Object.keys(edit.set ?? {})]);
      env = env.filter((entry) => !remove.has(String(entry.name)));
      for (const [name, value] of Object.entries(edit.set ?? {})) env.push({ name, value });
      if (env.length) container.env = env;
      else delete container.env;
    }
  }
}

function editArgs(object: KubeObject, edit: NonNullable<Transform['args']>): void {
  for (const podSpec of podSpecs(object)) {
    for (const container of containersOf(podSpec, edit.container)) {
      container.args = edit.set ? [...edit.set] : [...(Array.isArray(container.args) ? container.args : []), ...(edit.append ?? [])];
    }
  }
}

function applyJsonPatch(object: KubeObject, operations: NonNullable<Transform['jsonPatch']>): KubeObject {
  try {
    // In place: the object is already a copy, and the library copies through JSON.stringify, which refuses bigints.
    return jsonpatch.applyPatch(object, operations as Operation[], true, true).newDocument as KubeObject;
  } catch (error) {
    const detail = error instanceof Error ? error.message.split('\n')[0] : String(error);
    // Which operation, so a person finds it in the plan: fast-json-patch names its index and the operation.
    const { index, operation } = error as { index?: number; operation?: { op?: string; path?: string } };
    const which = typeof index === 'number' && operation ? ` at operation ${index + 1} (${operation.op} ${shortened(String(operation.path))})` : '';
    throw new TransformError(`jsonPatch failed${which}: ${detail}`);
  }
}

/** A candidate for selection, from the object as the source has it. */
export function candidateOf(object: KubeObject, namespaced: boolean): Candidate {
  return {
    group: groupOf(object.apiVersion), kind: object.kind, namespace: object.metadata.namespace, name: object.metadata.name,
    labels: object.metadata.labels, namespaced,
  };
}

/** `owned`: the caller hands the object over (a copy of its own), so it is changed in place instead of copied. */
export type CompiledTransforms = (object: KubeObject, namespaced: boolean, owned?: boolean) => KubeObject;

/** Compiles the plan's transforms once; the result applies them in order to one object. */
export function compileTransforms(transforms: readonly Transform[]): CompiledTransforms {
  const compiled = transforms.map((transform) => ({ transform, select: transform.select ? compileSelector(transform.select) : undefined }));
  return (input, namespaced, owned = false) => {
    const candidate = candidateOf(input, namespaced);
    // Selectors match the object as it came in, before any transform changed its labels.
    const source = owned && candidate.labels ? { ...candidate, labels: { ...candidate.labels } } : candidate;
    let object = owned ? input : structuredClone(input);
    for (const { transform, select } of compiled) {
      if (select && !select.matches(source)) continue;
      if (transform.deactivate) deactivate(object, transform.deactivate);
      else if (transform.namespaceMapping) mapNamespaces(object, transform.namespaceMapping);
      else if (transform.images) {
        const rewrites = transform.images;
        for (const podSpec of podSpecs(object)) {
          for (const container of containersOf(podSpec, '*')) if (typeof container.image === 'string') container.image = rewriteImage(container.image, rewrites);
        }
      } else if (transform.labels) {
        const labels = editMap(object.metadata.labels, transform.labels);
        if (labels) object.metadata.labels = labels;
        else delete object.metadata.labels;
      } else if (transform.annotations) {
        const edited = editMap(object.metadata.annotations, transform.annotations);
        if (edited) object.metadata.annotations = edited;
        else delete object.metadata.annotations;
      } else if (transform.env) editEnv(object, transform.env);
      else if (transform.args) editArgs(object, transform.args);
      else if (transform.jsonPatch) object = applyJsonPatch(object, transform.jsonPatch);
    }
    return object;
  };
}
