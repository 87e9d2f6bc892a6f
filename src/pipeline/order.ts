// The apply order, decided here and nowhere else. Objects go in stages: definitions (CRDs, Namespaces,
// ClusterRoles: wait until CRDs are Established and Namespaces exist before going on), then the `*Class` kinds, then
// everything else in kind order (built-in kinds before custom resources), then admission webhooks and policies last
// so they cannot reject the objects being restored. Within a stage: kind rank, group, kind, namespace, name.
// Deletes run in exactly the reverse order. The dependency rules (which stage a kind is in, what an object waits for)
// are rows of tables below, pinned by test/unit/order.test.ts.
import type { UnversionedRef } from '../kube/ref.ts';

export const Stage = {
  definitions: 'definitions',
  classes: 'classes',
  resources: 'resources',
  admission: 'admission',
} as const;
export type Stage = (typeof Stage)[keyof typeof Stage];

/** The stages in apply order; `waitForReady`: the next stage starts only when this one's objects are ready. */
export const stages: readonly { stage: Stage; waitForReady: boolean }[] = [
  { stage: Stage.definitions, waitForReady: true },
  { stage: Stage.classes, waitForReady: false },
  { stage: Stage.resources, waitForReady: false },
  { stage: Stage.admission, waitForReady: false },
];

type KindId = `${string}/${string}`;

/** `<group>/<Kind>` of the definitions stage, in order. */
const definitionKinds: readonly KindId[] = [
  'apiextensions.k8s.io/CustomResourceDefinition',
  '/Namespace',
  'rbac.authorization.k8s.io/ClusterRole',
];

/** `<group>/<Kind>` of the admission stage, in order: each policy before its binding. */
const admissionKinds: readonly KindId[] = [
  'admissionregistration.k8s.io/ValidatingAdmissionPolicy',
  'admissionregistration.k8s.io/ValidatingAdmissionPolicyBinding',
  'admissionregistration.k8s.io/MutatingAdmissionPolicy',
  'admissionregistration.k8s.io/MutatingAdmissionPolicyBinding',
  'admissionregistration.k8s.io/MutatingWebhookConfiguration',
  'admissionregistration.k8s.io/ValidatingWebhookConfiguration',
];

/** `<group>/<Kind>` of the resources stage: what a workload needs comes before the workload. */
const resourceKinds: readonly KindId[] = [
  '/ServiceAccount',
  '/Secret',
  '/ConfigMap',
  '/LimitRange',
  '/ResourceQuota',
  '/PersistentVolume',
  '/PersistentVolumeClaim',
  'rbac.authorization.k8s.io/ClusterRoleBinding',
  'rbac.authorization.k8s.io/Role',
  'rbac.authorization.k8s.io/RoleBinding',
  '/Service',
  'apps/DaemonSet',
  'apps/Deployment',
  'apps/ReplicaSet',
  '/ReplicationController',
  'apps/StatefulSet',
  'batch/Job',
  'batch/CronJob',
  'autoscaling/HorizontalPodAutoscaler',
  'policy/PodDisruptionBudget',
  'networking.k8s.io/Ingress',
  'networking.k8s.io/NetworkPolicy',
  'apiregistration.k8s.io/APIService',
];

/** `<group>/<Kind>` of the classes stage that are built in or common (any other kind ending in Class joins them). */
const classKinds: readonly KindId[] = [
  'storage.k8s.io/StorageClass',
  'storage.k8s.io/VolumeAttributesClass',
  'networking.k8s.io/IngressClass',
  'scheduling.k8s.io/PriorityClass',
  'node.k8s.io/RuntimeClass',
  'resource.k8s.io/DeviceClass',
  'gateway.networking.k8s.io/GatewayClass',
  'snapshot.storage.k8s.io/VolumeSnapshotClass',
];

/**
 * Which stage a kind is in: the first row that matches, by its listed kinds or by the end of its kind's name; a kind
 * no row matches is in the resources stage. A custom resource follows its CRD because CRDs are definitions.
 */
export const stageRules: readonly { name: string; stage: Stage; kinds?: readonly KindId[]; kindSuffix?: string }[] = [
  { name: 'definitions', stage: Stage.definitions, kinds: definitionKinds },
  { name: 'admission last', stage: Stage.admission, kinds: admissionKinds },
  { name: 'class kinds', stage: Stage.classes, kinds: classKinds },
  { name: 'kind ends with Class', stage: Stage.classes, kindSuffix: 'Class' },
];

const rankOf = (kinds: readonly KindId[]) => new Map(kinds.map((kind, index) => [kind, index]));
const definitionRanks = rankOf(definitionKinds);
const admissionRanks = rankOf(admissionKinds);
const resourceRanks = rankOf(resourceKinds);

type KindOf = Pick<UnversionedRef, 'group' | 'kind'>;

/** Built-in API groups: the core group, groups without a dot (`apps`, `batch`) and `*.k8s.io`. */
function isBuiltInGroup(group: string): boolean {
  return group === '' || !group.includes('.') || group.endsWith('.k8s.io');
}

const ruleKinds = stageRules.map((rule) => new Set(rule.kinds ?? []));

export function stageOf(ref: KindOf): Stage {
  const id: KindId = `${ref.group}/${ref.kind}`;
  const rule = stageRules.find((candidate, index) => ruleKinds[index]!.has(id) || (candidate.kindSuffix !== undefined && ref.kind.endsWith(candidate.kindSuffix)));
  return rule?.stage ?? Stage.resources;
}

/** Kinds whose objects must be ready (a CRD Established: its kind served) before the next stage starts. */
const readyBeforeNextStage: readonly KindId[] = ['apiextensions.k8s.io/CustomResourceDefinition'];

/** Whether the next stage waits until this object is ready: true for a CRD (its custom resources come next). */
export function gatesNextStage(ref: KindOf): boolean {
  return readyBeforeNextStage.includes(`${ref.group}/${ref.kind}`);
}

export function isNamespace(ref: KindOf): boolean {
  return ref.group === '' && ref.kind === 'Namespace';
}

/**
 * What a namespaced object waits for when it is being applied at the same time: its own Namespace (not every
 * Namespace). Definitions wait for nothing (their stage goes first); so do cluster-scoped objects.
 */
export function dependsOn(ref: UnversionedRef): UnversionedRef | undefined {
  if (ref.namespace === undefined || stageOf(ref) === Stage.definitions) return undefined;
  return { group: '', kind: 'Namespace', name: ref.namespace };
}

/** Position of a kind inside its stage: listed kinds first, then other built-in kinds, then custom resources. */
export function kindRank(ref: KindOf): number {
  const id: KindId = `${ref.group}/${ref.kind}`;
  const listed = definitionRanks.get(id) ?? admissionRanks.get(id) ?? resourceRanks.get(id);
  if (listed !== undefined) return listed;
  return isBuiltInGroup(ref.group) ? resourceKinds.length : resourceKinds.length + 1;
}

const stageRanks = new Map(stages.map(({ stage }, index) => [stage, index]));

function compareStrings(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** The one apply comparator: stage, kind rank, group, kind, namespace (cluster-scoped first), name. */
export function compareForApply(a: UnversionedRef, b: UnversionedRef): number {
  return (stageRanks.get(stageOf(a)) ?? 0) - (stageRanks.get(stageOf(b)) ?? 0)
    || kindRank(a) - kindRank(b)
    || compareStrings(a.group, b.group)
    || compareStrings(a.kind, b.kind)
    || compareStrings(a.namespace ?? '', b.namespace ?? '')
    || compareStrings(a.name, b.name);
}

/** Deletes run in exactly the reverse apply order: webhooks first, Namespaces and CRDs last. */
export function compareForDelete(a: UnversionedRef, b: UnversionedRef): number {
  return compareForApply(b, a);
}

export type Direction = 'apply' | 'delete';

export interface StageGroup<T> {
  stage: Stage;
  /** Wait for these objects to be ready (CRDs Established, Namespaces Active) before the next group; apply only. */
  waitForReady: boolean;
  refs: T[];
}

/** Groups refs by stage, sorted, in apply order (or reverse for delete); stages with no refs are left out. */
export function stagesOf<T extends UnversionedRef>(refs: readonly T[], direction: Direction = 'apply'): StageGroup<T>[] {
  const compare = direction === 'apply' ? compareForApply : compareForDelete;
  const ordered = direction === 'apply' ? stages : [...stages].reverse();
  return ordered
    .map(({ stage, waitForReady }) => ({ stage, waitForReady: direction === 'apply' && waitForReady, refs: refs.filter((ref) => stageOf(ref) === stage).sort(compare) }))
    .filter((group) => group.refs.length > 0);
}
