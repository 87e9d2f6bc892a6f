// The processor: pure. A source event in, the message for the mirror out — default exclusions, the plan's scope,
// normalization, transforms, and the object's mirror path. Secret data arrives already encrypted (the listener
// encrypts before anything leaves the source's process), so nothing here ever sees a plaintext value.
import { mirrorPath, refOf, describeRef, type KubeObject, type OwnerReference } from '../kube/ref.ts';
import type { RecoveryPlan } from '../plan/schema.ts';
import { defaultExclusion } from './exclusions.ts';
import type { ObjectMessage, SourceEvent } from './messages.ts';
import { normalize, toYaml } from './normalize.ts';
import { dataHashAnnotation } from './secrets.ts';
import { compileScope, type PlanScope } from './select.ts';
import { annotations, candidateOf, compileTransforms, TransformError, type CompiledTransforms, type KubeObject as TransformObject } from './transforms.ts';

export interface CompiledPlan {
  name: string;
  mirrorDir: string;
  scope: PlanScope;
  transforms: CompiledTransforms;
  replicateSecrets: boolean;
  propagateDeletes: boolean;
}

export function compilePlan(plan: RecoveryPlan): CompiledPlan {
  return {
    name: plan.metadata.name,
    mirrorDir: plan.spec.mirror.path ?? plan.metadata.name,
    scope: compileScope(plan.spec),
    transforms: compileTransforms(plan.spec.transforms),
    replicateSecrets: plan.spec.secrets.mode === 'encrypt',
    propagateDeletes: plan.spec.deletes.propagate,
  };
}

/** Owners kept for re-linking at the destination (by kind and name: UIDs differ between clusters). */
function ownersAnnotation(owners: OwnerReference[]): string | undefined {
  const kept = owners.filter((owner) => !owner.controller).map(({ apiVersion, kind, name, blockOwnerDeletion }) => ({ apiVersion, kind, name, ...(blockOwnerDeletion ? { blockOwnerDeletion } : {}) }));
  return kept.length ? JSON.stringify(kept) : undefined;
}

/** The destination form of an object: normalized, owners recorded, transformed. Throws TransformError. */
export function destinationForm(plan: CompiledPlan, source: KubeObject, namespaced: boolean): KubeObject {
  const { object, ownerReferences } = normalize(source, { sorted: false }); // sorted once, at the end
  const owners = ownersAnnotation(ownerReferences);
  if (owners) object.metadata.annotations = { ...(object.metadata.annotations ?? {}), [annotations.owners]: owners };
  const transformed = plan.transforms(object as TransformObject, namespaced, true) as KubeObject; // normalize's copy, changed in place
  // Encrypted Secret data names the Secret it belongs to; a namespace mapping moves it, so record where it came from.
  if (source.kind === 'Secret' && transformed.metadata.namespace !== source.metadata.namespace && source.metadata.namespace) {
    transformed.metadata.annotations = { ...(transformed.metadata.annotations ?? {}), [annotations.sourceNamespace]: source.metadata.namespace };
  }
  return normalize(transformed, { owned: true }).object; // transforms may add keys: sort again
}

export function processEvent(event: SourceEvent, plan: CompiledPlan): ObjectMessage | undefined {
  const source = event.object;
  const sourceVersion = (source.metadata as { resourceVersion?: unknown }).resourceVersion;
  const base = { plan: plan.name, observedAt: event.observedAt, ...(typeof sourceVersion === 'string' && sourceVersion ? { sourceVersion } : {}) };
  if (defaultExclusion(source).excluded) return undefined;
  const isSecret = event.resource.group === '' && event.resource.kind === 'Secret';
  if (isSecret && !plan.replicateSecrets) return undefined;
  let summary = `${event.resource.group ? `${event.resource.group}/` : ''}${event.resource.kind} ${source.metadata.namespace ? `${source.metadata.namespace}/` : ''}${source.metadata.name}`;
  const inScope = plan.scope.includes(candidateOf(source as TransformObject, event.resource.namespaced));
  let object: KubeObject;
  try {
    object = destinationForm(plan, source, event.resource.namespaced);
  } catch (error) {
    if (error instanceof TransformError) return { type: 'object.failed', ...base, summary, reason: error.message };
    throw error;
  }
  const path = mirrorPath(plan.mirrorDir, refOf(object));
  summary = describeRef(refOf(object));
  // An object that left the plan's scope (its labels changed) is removed like a deleted one.
  if (event.type === 'source.deleted' || !inScope) {
    if (!plan.propagateDeletes) return undefined;
    return { type: 'object.deleted', ...base, path, summary, ...(event.type === 'source.deleted' && event.namespaceTerminating ? { guard: 'namespace' as const } : {}) };
  }
  const secretHash = isSecret ? object.metadata.annotations?.[dataHashAnnotation] : undefined;
  return { type: 'object.changed', ...base, path, content: toYaml(object), summary, ...(secretHash ? { secretHash } : {}) };
}
