// What a sleeping stand-by must not run yet. An admission webhook, an aggregated API (APIService) or a CRD's
// conversion webhook points at a Service whose pods sleep at the stand-by: applied as they are, the webhook refuses
// every write it matches (lifeboat's own applies and the recovery's activation included, with failurePolicy Fail),
// the APIService makes discovery fail and namespace deletion hang, and the CRD cannot serve its other versions.
//
// So, while the stand-by sleeps:
//   - admission webhook configurations, and APIServices with a service, are *held*: the mirror has them as they
//     are, and the stand-by has, in lifeboat-system, one ConfigMap per object (its "holder") carrying it verbatim;
//   - a CRD with a conversion webhook is applied with `conversion: {strategy: None}`, the original conversion kept
//     in an annotation (custom resources are stored and readable in the storage version meanwhile).
// Activation (the restorer) wakes the workloads first, waits for these Services to have ready endpoints, then
// gives the CRDs their conversion back, applies the APIServices, and the admission webhooks last. The stand-by
// alone can do it: everything it needs is in the stand-by. Pure functions; a plan opts out per kind.
import { createHash } from 'node:crypto';
import type { Operation } from 'fast-json-patch';
import { refOf, type KubeObject, type UnversionedRef } from '../kube/ref.ts';
import { parseJson, stringifyJson } from '../util/json.ts';
import { planLabel } from './exclusions.ts';
import { annotations } from './transforms.ts';

/** The plan's `recovery.hold`: which kinds wait for activation (all by default). */
export interface HoldOptions {
  admissionWebhooks: boolean;
  apiServices: boolean;
  conversionWebhooks: boolean;
}

export const holdEverything: HoldOptions = { admissionWebhooks: true, apiServices: true, conversionWebhooks: true };

export const holdNamespace = 'lifeboat-system';
export const heldLabel = 'lifeboat.dev/held';
/** On a holder: the held object's kind and name, for people (`kubectl get cm -l lifeboat.dev/held`). */
export const heldObjectAnnotation = 'lifeboat.dev/held-object';
/** On a CRD at the sleeping stand-by: its `spec.conversion` as JSON. */
export const heldConversionAnnotation = 'lifeboat.dev/held-conversion';
export const holderKey = 'object.json';

const admissionKinds = new Set(['ValidatingWebhookConfiguration', 'MutatingWebhookConfiguration']);
const admissionGroup = 'admissionregistration.k8s.io';
const apiServiceGroup = 'apiregistration.k8s.io';

type Json = Record<string, unknown>;
const isRecord = (value: unknown): value is Json => typeof value === 'object' && value !== null && !Array.isArray(value);

/** True for the kinds that may be held (whatever their content): their deletes remove a holder too. */
export function holdableKind(ref: Pick<UnversionedRef, 'group' | 'kind'>, hold: HoldOptions): boolean {
  if (ref.group === admissionGroup && admissionKinds.has(ref.kind)) return hold.admissionWebhooks;
  return ref.group === apiServiceGroup && ref.kind === 'APIService' && hold.apiServices;
}

/** True when the stand-by keeps `object` in a holder while it sleeps. A local APIService (no service) is not held. */
export function isHeld(object: KubeObject, hold: HoldOptions): boolean {
  const ref = refOf(object);
  if (!holdableKind(ref, hold)) return false;
  if (ref.kind === 'APIService') return isRecord(object.spec) && isRecord(object.spec.service);
  return true;
}

/** The holder's name: readable when it fits, a hash otherwise; one per plan and object. */
export function holderName(plan: string, ref: Pick<UnversionedRef, 'kind' | 'name'>): string {
  const readable = `held.${plan}.${ref.kind.toLowerCase()}.${ref.name}`;
  if (readable.length <= 253) return readable;
  return `held.${plan.slice(0, 63)}.${ref.kind.toLowerCase()}.${createHash('sha256').update(ref.name).digest('hex').slice(0, 32)}`;
}

export function holderRef(plan: string, ref: Pick<UnversionedRef, 'kind' | 'name'>): UnversionedRef {
  return { group: '', kind: 'ConfigMap', namespace: holdNamespace, name: holderName(plan, ref) };
}

/** The ConfigMap that carries `object` (as the destination would get it) at the sleeping stand-by. */
export function holderOf(object: KubeObject, plan: string): KubeObject {
  const ref = refOf(object);
  return {
    apiVersion: 'v1', kind: 'ConfigMap',
    metadata: {
      name: holderName(plan, ref), namespace: holdNamespace,
      labels: { [planLabel]: plan, [heldLabel]: 'true' },
      annotations: {
        [heldObjectAnnotation]: `${object.apiVersion} ${object.kind} ${ref.name}`,
        // The revision it carries, outside too: drift is judged against the same revision (see the synchronizer).
        ...(object.metadata.annotations?.[annotations.revision] !== undefined ? { [annotations.revision]: object.metadata.annotations[annotations.revision] } : {}),
      },
    },
    data: { [holderKey]: stringifyJson(object) },
  };
}

export function isHolder(object: KubeObject): boolean {
  return object.kind === 'ConfigMap' && object.metadata.namespace === holdNamespace && object.metadata.labels?.[heldLabel] === 'true';
}

/** The object a holder carries. */
export function heldObjectOf(holder: KubeObject): KubeObject {
  const text = isRecord(holder.data) ? holder.data[holderKey] : undefined;
  if (typeof text !== 'string') throw new Error(`ConfigMap ${holdNamespace}/${holder.metadata.name} has no ${holderKey}`);
  const object = parseJson(text) as KubeObject;
  if (!isRecord(object) || typeof object.kind !== 'string' || !isRecord(object.metadata)) throw new Error(`ConfigMap ${holdNamespace}/${holder.metadata.name}: ${holderKey} is not an object`);
  return object;
}

function conversionOf(object: KubeObject): Json | undefined {
  const spec = isRecord(object.spec) ? object.spec : undefined;
  return spec && isRecord(spec.conversion) ? spec.conversion : undefined;
}

const isDefinition = (object: KubeObject) => object.kind === 'CustomResourceDefinition' && object.apiVersion.startsWith('apiextensions.k8s.io/');

/** A CRD with a conversion webhook, as the sleeping stand-by holds it; any other object unchanged. */
export function dormantConversion(object: KubeObject, hold: HoldOptions): KubeObject {
  const conversion = conversionOf(object);
  if (!hold.conversionWebhooks || !isDefinition(object) || conversion?.strategy !== 'Webhook') return object;
  return {
    ...object,
    metadata: { ...object.metadata, annotations: { ...object.metadata.annotations, [heldConversionAnnotation]: JSON.stringify(conversion) } },
    spec: { ...(object.spec as Json), conversion: { strategy: 'None' } },
  };
}

/** The object as the sleeping stand-by gets it: a holder, a dormant CRD, or itself. */
export function standbyForm(object: KubeObject, plan: string, hold: HoldOptions): KubeObject {
  if (isHeld(object, hold)) return holderOf(object, plan);
  return dormantConversion(object, hold);
}

/** The JSON patch giving a dormant CRD its conversion back (undefined when it has none held). */
export function conversionRestorePatch(crd: KubeObject): Operation[] | undefined {
  const held = crd.metadata.annotations?.[heldConversionAnnotation];
  if (held === undefined) return undefined;
  const key = `/metadata/annotations/${heldConversionAnnotation.replace(/~/g, '~0').replace(/\//g, '~1')}`;
  return [
    { op: 'test', path: key, value: held },
    { op: 'add', path: '/spec/conversion', value: JSON.parse(held) as unknown },
    { op: 'remove', path: key },
  ];
}

export interface ServiceRef {
  namespace: string;
  name: string;
}

/** The Services `object` calls: webhook client configs, an APIService's service, a CRD's (held) conversion. */
export function backendsOf(object: KubeObject): ServiceRef[] {
  const services: unknown[] = [];
  if (Array.isArray(object.webhooks)) for (const webhook of object.webhooks) if (isRecord(webhook) && isRecord(webhook.clientConfig)) services.push(webhook.clientConfig.service);
  if (object.kind === 'APIService' && isRecord(object.spec)) services.push(object.spec.service);
  const held = object.metadata.annotations?.[heldConversionAnnotation];
  const conversion = held ? JSON.parse(held) as unknown : conversionOf(object);
  if (isRecord(conversion) && isRecord(conversion.webhook) && isRecord(conversion.webhook.clientConfig)) services.push(conversion.webhook.clientConfig.service);
  const found = new Map<string, ServiceRef>();
  for (const service of services) {
    if (isRecord(service) && typeof service.namespace === 'string' && typeof service.name === 'string') found.set(`${service.namespace}/${service.name}`, { namespace: service.namespace, name: service.name });
  }
  return [...found.values()];
}

/** Activation order of held objects: APIServices before admission webhooks (a webhook may call an aggregated API). */
export function activationRank(object: KubeObject): number {
  return object.kind === 'APIService' ? 0 : 1;
}
