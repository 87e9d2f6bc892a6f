// The benchmark's workload: N objects spread round-robin over M namespaces, in a fixed mix of kinds, every one
// labelled with the run id so the run can find (and count) exactly its own objects.
import { randomBytes } from 'node:crypto';
import type { KubeObject } from '../src/kube/ref.ts';

export const runLabel = 'bench.lifeboat.dev/run';

export interface KindSpec {
  kind: string;
  apiVersion: string;
  /** Cluster-wide collection path. */
  collection: string;
  /** Collection path in one namespace. */
  namespaced: (namespace: string) => string;
  share: number;
  prefix: string;
}

const core = (plural: string) => ({ collection: `/api/v1/${plural}`, namespaced: (namespace: string) => `/api/v1/namespaces/${namespace}/${plural}` });
const apps = (plural: string) => ({ collection: `/apis/apps/v1/${plural}`, namespaced: (namespace: string) => `/apis/apps/v1/namespaces/${namespace}/${plural}` });

/** The mix: 30 % ConfigMaps, 20 % Secrets, 20 % Deployments, 15 % Services, 15 % ServiceAccounts. */
export const kinds: readonly KindSpec[] = [
  { kind: 'ConfigMap', apiVersion: 'v1', ...core('configmaps'), share: 0.30, prefix: 'cm' },
  { kind: 'Secret', apiVersion: 'v1', ...core('secrets'), share: 0.20, prefix: 'secret' },
  { kind: 'Deployment', apiVersion: 'apps/v1', ...apps('deployments'), share: 0.20, prefix: 'deploy' },
  { kind: 'Service', apiVersion: 'v1', ...core('services'), share: 0.15, prefix: 'svc' },
  { kind: 'ServiceAccount', apiVersion: 'v1', ...core('serviceaccounts'), share: 0.15, prefix: 'sa' },
];

export const kindByName = new Map(kinds.map((spec) => [spec.kind, spec]));

export interface Workload {
  run: string;
  namespaces: string[];
  objects: KubeObject[];
  counts: Record<string, number>;
  /** Replicas of each source Deployment (the stand-by gets 0). */
  replicas: number;
}

/** How many objects of each kind: the shares rounded down, the remainder to ConfigMaps. */
export function kindCounts(total: number): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const spec of kinds) counts[spec.kind] = Math.floor(total * spec.share);
  counts.ConfigMap = (counts.ConfigMap ?? 0) + total - Object.values(counts).reduce((a, b) => a + b, 0);
  return counts;
}

export function makeWorkload(run: string, total: number, namespaceCount: number, replicas = 1): Workload {
  const namespaces = Array.from({ length: namespaceCount }, (_, index) => `${run}-${String(index).padStart(3, '0')}`);
  const counts = kindCounts(total);
  const objects: KubeObject[] = [];
  let slot = 0;
  for (const spec of kinds) {
    for (let index = 0; index < (counts[spec.kind] ?? 0); index++) {
      const namespace = namespaces[slot++ % namespaceCount]!;
      objects.push(makeObject(spec, `${spec.prefix}-${String(index).padStart(5, '0')}`, namespace, run, replicas));
    }
  }
  return { run, namespaces, objects, counts, replicas };
}

function makeObject(spec: KindSpec, name: string, namespace: string, run: string, replicas: number): KubeObject {
  const labels = { [runLabel]: run, app: name, tier: 'bench' };
  const metadata = { name, namespace, labels, annotations: { 'bench.lifeboat.dev/purpose': 'throughput benchmark object' } };
  switch (spec.kind) {
    case 'ConfigMap':
      return { apiVersion: 'v1', kind: 'ConfigMap', metadata, data: {
        'app.properties': `name=${name}\nnamespace=${namespace}\nfeature.flags=alpha,beta,gamma\nretries=3\ntimeout=30s\n`,
        'log-level': 'info', 'bench-counter': '0', payload: randomBytes(96).toString('base64'),
      } } as KubeObject;
    case 'Secret':
      return { apiVersion: 'v1', kind: 'Secret', metadata, type: 'Opaque', stringData: {
        username: `user-${name}`, password: randomBytes(24).toString('base64url'), 'api-token': randomBytes(48).toString('hex'),
      } } as KubeObject;
    case 'Deployment':
      return { apiVersion: 'apps/v1', kind: 'Deployment', metadata, spec: {
        replicas, selector: { matchLabels: { app: name } },
        template: { metadata: { labels }, spec: { containers: [{
          name: 'app', image: `registry.example.com/bench/${name}:1.0`, ports: [{ containerPort: 8080 }],
          env: [{ name: 'NAMESPACE', value: namespace }, { name: 'LOG_LEVEL', value: 'info' }],
          resources: { requests: { cpu: '10m', memory: '16Mi' } },
        }] } },
      } } as KubeObject;
    case 'Service':
      // Headless: the sandbox's service CIDRs are /24s, far too small for thousands of ClusterIPs.
      return { apiVersion: 'v1', kind: 'Service', metadata, spec: { clusterIP: 'None', selector: { app: name }, ports: [{ name: 'http', port: 80, targetPort: 8080 }] } } as KubeObject;
    case 'ServiceAccount':
      return { apiVersion: 'v1', kind: 'ServiceAccount', metadata, automountServiceAccountToken: false } as KubeObject;
    default:
      throw new Error(`no template for ${spec.kind}`);
  }
}

/** ns/name of an object. */
export function keyOf(object: KubeObject): string {
  return `${object.metadata.namespace ?? ''}/${object.metadata.name}`;
}
