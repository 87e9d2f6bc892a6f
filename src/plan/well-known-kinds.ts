// Well-known Kubernetes kinds: their scope, the kinds lifeboat never replicates, and the shape of the fields every
// object of a kind has, which the JSON patch checks walk.
import type { KindPattern } from './parse.ts';
// ---------------------------------------------------------------------------------------------------------------
// Well-known kinds: scope, and a shape of the fields every object of the kind has (after lifeboat's normalization),
// for checking JSON patches. `field?` marks a field objects may lack; `any` a subtree that is not checked.

export type Shape = { type: 'any' } | { type: 'object'; fields: Record<string, { shape: Shape; always: boolean }> } | { type: 'list'; items: Shape; nonEmpty: boolean };

const any: Shape = { type: 'any' };

function object(fields: Record<string, Shape>): Shape {
  return {
    type: 'object',
    fields: Object.fromEntries(Object.entries(fields).map(([name, shape]) => [name.replace(/\?$/, ''), { shape, always: !name.endsWith('?') }])),
  };
}

function list(items: Shape, nonEmpty = false): Shape {
  return { type: 'list', items, nonEmpty };
}

const optional = (...names: string[]) => Object.fromEntries(names.map((name) => [`${name}?`, any]));
const required = (...names: string[]) => Object.fromEntries(names.map((name) => [name, any]));

const container = object({
  ...required('name', 'image', 'resources', 'terminationMessagePath', 'terminationMessagePolicy', 'imagePullPolicy'),
  ...optional('command', 'args', 'workingDir', 'ports', 'envFrom', 'env', 'resizePolicy', 'restartPolicy', 'restartPolicyRules', 'volumeMounts',
    'volumeDevices', 'livenessProbe', 'readinessProbe', 'startupProbe', 'lifecycle', 'securityContext', 'stdin', 'stdinOnce', 'tty'),
});

const podSpec = object({
  containers: list(container, true),
  'initContainers?': list(container),
  ...required('restartPolicy', 'terminationGracePeriodSeconds', 'dnsPolicy', 'securityContext', 'schedulerName', 'enableServiceLinks'),
  ...optional('ephemeralContainers', 'volumes', 'activeDeadlineSeconds', 'nodeSelector', 'serviceAccountName', 'serviceAccount',
    'automountServiceAccountToken', 'nodeName', 'hostNetwork', 'hostPID', 'hostIPC', 'shareProcessNamespace', 'imagePullSecrets', 'hostname',
    'subdomain', 'affinity', 'tolerations', 'hostAliases', 'priorityClassName', 'priority', 'dnsConfig', 'readinessGates', 'runtimeClassName',
    'preemptionPolicy', 'overhead', 'topologySpreadConstraints', 'setHostnameAsFQDN', 'os', 'hostUsers', 'schedulingGates', 'resourceClaims',
    'resources', 'hostnameOverride'),
});

const podTemplate = (labels: boolean) => object({
  metadata: object({ [labels ? 'labels' : 'labels?']: any, ...optional('annotations', 'name', 'namespace', 'generateName', 'finalizers') }),
  spec: podSpec,
});

const workloadSpecs = {
  Deployment: object({
    ...required('replicas', 'selector', 'strategy', 'revisionHistoryLimit', 'progressDeadlineSeconds'), template: podTemplate(true),
    ...optional('minReadySeconds', 'paused'),
  }),
  StatefulSet: object({
    ...required('replicas', 'selector', 'podManagementPolicy', 'updateStrategy', 'revisionHistoryLimit', 'persistentVolumeClaimRetentionPolicy'),
    template: podTemplate(true), ...optional('serviceName', 'volumeClaimTemplates', 'minReadySeconds', 'ordinals'),
  }),
  DaemonSet: object({ ...required('selector', 'updateStrategy', 'revisionHistoryLimit'), template: podTemplate(true), ...optional('minReadySeconds') }),
  ReplicaSet: object({ ...required('replicas', 'selector'), template: podTemplate(true), ...optional('minReadySeconds') }),
  Job: object({
    ...required('parallelism', 'backoffLimit', 'completionMode', 'suspend', 'selector'), template: podTemplate(true),
    ...optional('completions', 'activeDeadlineSeconds', 'manualSelector', 'ttlSecondsAfterFinished', 'podReplacementPolicy', 'backoffLimitPerIndex',
      'maxFailedIndexes', 'podFailurePolicy', 'successPolicy', 'managedBy'),
  }),
  CronJob: object({
    ...required('schedule', 'concurrencyPolicy', 'suspend', 'successfulJobsHistoryLimit', 'failedJobsHistoryLimit'),
    jobTemplate: object({ 'metadata?': any, spec: object({ template: podTemplate(false), ...optional(
      'parallelism', 'completions', 'backoffLimit', 'activeDeadlineSeconds', 'selector', 'manualSelector', 'ttlSecondsAfterFinished', 'completionMode',
      'suspend', 'podReplacementPolicy', 'backoffLimitPerIndex', 'maxFailedIndexes', 'podFailurePolicy', 'successPolicy', 'managedBy') }) }),
    ...optional('timeZone', 'startingDeadlineSeconds'),
  }),
};

interface KindInfo {
  namespaced: boolean;
  /** Top-level fields besides apiVersion, kind and metadata. */
  fields?: Record<string, Shape>;
}

const namespaced = (fields?: Record<string, Shape>): KindInfo => ({ namespaced: true, fields });
const clusterScoped = (fields?: Record<string, Shape>): KindInfo => ({ namespaced: false, fields });

/** Kinds of the built-in API groups, by group ('' is core). A group listed here is complete for validation. */
export const wellKnownKinds: Record<string, Record<string, KindInfo>> = {
  '': {
    ConfigMap: namespaced(optional('data', 'binaryData', 'immutable')),
    Secret: namespaced({ ...required('type'), ...optional('data', 'stringData', 'immutable') }),
    ServiceAccount: namespaced(optional('secrets', 'imagePullSecrets', 'automountServiceAccountToken')),
    Service: namespaced({
      spec: object({
        ...required('type', 'sessionAffinity'),
        ...optional('ports', 'selector', 'clusterIP', 'clusterIPs', 'externalIPs', 'loadBalancerIP', 'loadBalancerSourceRanges', 'externalName',
          'externalTrafficPolicy', 'healthCheckNodePort', 'publishNotReadyAddresses', 'sessionAffinityConfig', 'ipFamilies', 'ipFamilyPolicy',
          'allocateLoadBalancerNodePorts', 'loadBalancerClass', 'internalTrafficPolicy', 'trafficDistribution'),
      }),
    }),
    PersistentVolumeClaim: namespaced({
      spec: object({
        ...required('accessModes', 'resources', 'volumeMode'),
        ...optional('selector', 'volumeName', 'storageClassName', 'dataSource', 'dataSourceRef', 'volumeAttributesClassName'),
      }),
    }),
    Pod: namespaced(), Endpoints: namespaced(), Event: namespaced(), LimitRange: namespaced(), ResourceQuota: namespaced(),
    ReplicationController: namespaced(), PodTemplate: namespaced(), Binding: namespaced(),
    Namespace: clusterScoped(optional('spec')), Node: clusterScoped(), PersistentVolume: clusterScoped(), ComponentStatus: clusterScoped(),
  },
  apps: {
    Deployment: namespaced({ spec: workloadSpecs.Deployment }),
    StatefulSet: namespaced({ spec: workloadSpecs.StatefulSet }),
    DaemonSet: namespaced({ spec: workloadSpecs.DaemonSet }),
    ReplicaSet: namespaced({ spec: workloadSpecs.ReplicaSet }),
    ControllerRevision: namespaced(),
  },
  batch: { Job: namespaced({ spec: workloadSpecs.Job }), CronJob: namespaced({ spec: workloadSpecs.CronJob }) },
  autoscaling: {
    HorizontalPodAutoscaler: namespaced({ spec: object({ ...required('scaleTargetRef', 'minReplicas', 'maxReplicas'), ...optional('metrics', 'behavior') }) }),
  },
  policy: { PodDisruptionBudget: namespaced({ spec: object(optional('minAvailable', 'maxUnavailable', 'selector', 'unhealthyPodEvictionPolicy')) }) },
  'rbac.authorization.k8s.io': {
    Role: namespaced(optional('rules')), RoleBinding: namespaced({ ...required('roleRef'), ...optional('subjects') }),
    ClusterRole: clusterScoped(optional('rules', 'aggregationRule')), ClusterRoleBinding: clusterScoped({ ...required('roleRef'), ...optional('subjects') }),
  },
  'networking.k8s.io': {
    Ingress: namespaced({ spec: object(optional('ingressClassName', 'defaultBackend', 'tls', 'rules')) }),
    NetworkPolicy: namespaced({ spec: object({ ...required('podSelector', 'policyTypes'), ...optional('ingress', 'egress') }) }),
    IngressClass: clusterScoped(), IPAddress: clusterScoped(), ServiceCIDR: clusterScoped(),
  },
  'storage.k8s.io': {
    StorageClass: clusterScoped(), CSIDriver: clusterScoped(), CSINode: clusterScoped(), VolumeAttachment: clusterScoped(),
    VolumeAttributesClass: clusterScoped(), CSIStorageCapacity: namespaced(),
  },
  'scheduling.k8s.io': { PriorityClass: clusterScoped() },
  'apiextensions.k8s.io': { CustomResourceDefinition: clusterScoped() },
  'admissionregistration.k8s.io': {
    ValidatingWebhookConfiguration: clusterScoped(), MutatingWebhookConfiguration: clusterScoped(), ValidatingAdmissionPolicy: clusterScoped(),
    ValidatingAdmissionPolicyBinding: clusterScoped(), MutatingAdmissionPolicy: clusterScoped(), MutatingAdmissionPolicyBinding: clusterScoped(),
  },
  'apiregistration.k8s.io': { APIService: clusterScoped() },
  'coordination.k8s.io': { Lease: namespaced(), LeaseCandidate: namespaced() },
  'discovery.k8s.io': { EndpointSlice: namespaced() },
  'events.k8s.io': { Event: namespaced() },
  'node.k8s.io': { RuntimeClass: clusterScoped() },
  'certificates.k8s.io': { CertificateSigningRequest: clusterScoped(), ClusterTrustBundle: clusterScoped() },
  'flowcontrol.apiserver.k8s.io': { FlowSchema: clusterScoped(), PriorityLevelConfiguration: clusterScoped() },
};

/** Kinds lifeboat never replicates (see DESIGN.md, default exclusions), as `group/Kind`. */
export const alwaysExcluded = new Set([
  'Event', 'events.k8s.io/Event', 'coordination.k8s.io/Lease', 'Endpoints', 'discovery.k8s.io/EndpointSlice', 'Pod', 'Node', 'ComponentStatus',
  'Binding', 'certificates.k8s.io/CertificateSigningRequest', 'apps/ControllerRevision',
]);

/** Scope of a kind when it is well known; undefined for custom resources. */
export function isClusterScoped(pattern: KindPattern): boolean | undefined {
  const info = wellKnownKinds[pattern.group]?.[pattern.kind];
  return info ? !info.namespaced : undefined;
}

export function kindShape(pattern: KindPattern): Shape | undefined {
  const info = wellKnownKinds[pattern.group]?.[pattern.kind];
  if (!info?.fields) return undefined;
  const metadata = object({ name: any, ...(info.namespaced ? { namespace: any } : {}), ...optional('labels', 'annotations', 'finalizers') });
  return object({ apiVersion: any, kind: any, metadata, ...info.fields });
}
