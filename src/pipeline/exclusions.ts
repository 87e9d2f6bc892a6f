// Default exclusions: what lifeboat never replicates whatever the plan says, because the destination makes it
// itself (controller-owned objects, tokens, kube-root-ca.crt, default ServiceAccounts), because it describes
// runtime state rather than intent (Events, Leases, Endpoints, Pods, Nodes, metrics), or because it is lifeboat's
// own. Pure: an object in, a verdict with a reason out. `isExcludedKind` lets the listener skip whole kinds.
import { parseApiVersion, type KubeObject } from '../kube/ref.ts';

export type Exclusion = { excluded: true; reason: string } | { excluded: false };

export interface ExclusionOptions {
  /** Replicate objects in kube-system, kube-public and kube-node-lease too (off by default). */
  includeSystemNamespaces?: boolean;
}

/** Namespaces the cluster itself populates; their objects (and the Namespace objects) are skipped by default. */
export const systemNamespaces: readonly string[] = ['kube-system', 'kube-public', 'kube-node-lease'];

/** Label lifeboat puts on every object it writes. */
export const planLabel = 'lifeboat.dev/plan';
const lifeboatGroup = 'lifeboat.dev';

/** Kinds never replicated, by `<group>/<Kind>`, with the reason shown to the user. */
const excludedKinds: ReadonlyMap<string, string> = new Map([
  ['/Event', 'Events are runtime history, not desired state'],
  ['events.k8s.io/Event', 'Events are runtime history, not desired state'],
  ['coordination.k8s.io/Lease', 'Leases are held by running processes (leader election, node heartbeats)'],
  ['coordination.k8s.io/LeaseCandidate', 'LeaseCandidates are held by running processes'],
  ['/Endpoints', 'Endpoints are maintained by the destination from its own Pods'],
  ['discovery.k8s.io/EndpointSlice', 'EndpointSlices are maintained by the destination from its own Pods'],
  ['/Pod', 'Pods are created by their controllers in the destination'],
  ['/Node', 'Nodes belong to the cluster they run in'],
  ['/ComponentStatus', 'ComponentStatuses report the health of the source control plane'],
  ['/Binding', 'Bindings are scheduling requests, not objects'],
  ['certificates.k8s.io/CertificateSigningRequest', 'CertificateSigningRequests are one-off requests signed by the source cluster'],
  ['apps/ControllerRevision', 'ControllerRevisions are history kept by StatefulSet and DaemonSet controllers'],
]);

/** Why a whole kind is never replicated, or undefined when it may be. */
export function excludedKindReason(group: string, kind: string): string | undefined {
  const listed = excludedKinds.get(`${group}/${kind}`);
  if (listed) return listed;
  if (kind.endsWith('Review')) return `${kind} is a request to the API server (*Review kinds are never stored)`;
  if (group === 'metrics.k8s.io' || group.endsWith('.metrics.k8s.io')) return 'metrics are measurements of the source cluster';
  if (group === lifeboatGroup || group.endsWith(`.${lifeboatGroup}`)) return "lifeboat's own objects are not replicated";
  return undefined;
}

/** True for kinds that are never replicated: the listener does not even watch them. */
export function isExcludedKind(group: string, kind: string): boolean {
  return excludedKindReason(group, kind) !== undefined;
}

/** Whether an object is excluded by the default rules, and why. */
export function defaultExclusion(object: KubeObject, options: ExclusionOptions = {}): Exclusion {
  const reason = exclusionReason(object, options);
  return reason === undefined ? { excluded: false } : { excluded: true, reason };
}

function exclusionReason(object: KubeObject, options: ExclusionOptions): string | undefined {
  const { group } = parseApiVersion(object.apiVersion);
  const { kind } = object;
  const metadata = object.metadata ?? {};
  const kindReason = excludedKindReason(group, kind);
  if (kindReason) return kindReason;

  if (metadata.labels?.[planLabel] !== undefined) return `lifeboat's own object (label ${planLabel})`;

  const controller = metadata.ownerReferences?.find((owner) => owner.controller === true);
  if (controller) return `controlled by ${controller.kind} ${controller.name}, which recreates it in the destination`;

  if (!options.includeSystemNamespaces) {
    if (metadata.namespace !== undefined && systemNamespaces.includes(metadata.namespace)) {
      return `in system namespace ${metadata.namespace}`;
    }
    if (group === '' && kind === 'Namespace' && metadata.name !== undefined && systemNamespaces.includes(metadata.name)) {
      return `system namespace ${metadata.name} exists in every cluster`;
    }
  }

  if (group === '' && kind === 'Secret' && object.type === 'kubernetes.io/service-account-token') {
    return 'service-account token Secrets are issued by the destination for its own ServiceAccounts';
  }
  if (group === '' && kind === 'ConfigMap' && metadata.name === 'kube-root-ca.crt') {
    return 'kube-root-ca.crt is published in every namespace by the destination';
  }
  if (group === '' && kind === 'ServiceAccount' && metadata.name === 'default') {
    return 'the default ServiceAccount is created in every namespace by the destination';
  }
  return undefined;
}
