// Normalization: objects as the API server returns them in, the exact manifests the mirror stores out.
import test from 'ava';
import { parse } from 'yaml';
import type { KubeObject } from '../../src/kube/ref.ts';
import { normalize, sortKeys, toYaml, type NormalizeOptions } from '../../src/pipeline/normalize.ts';

const serverMetadata = {
  uid: '6c1c1c52-6e57-4f5e-9a42-6d0b1a3c1c1c',
  resourceVersion: '48213',
  generation: 4,
  creationTimestamp: '2026-03-01T10:00:00Z',
  managedFields: [{ manager: 'kubectl', operation: 'Apply', apiVersion: 'v1', time: '2026-03-01T10:00:00Z', fieldsType: 'FieldsV1', fieldsV1: {} }],
  selfLink: '/api/v1/namespaces/shop/x',
};

interface Case {
  title: string;
  input: KubeObject;
  options?: NormalizeOptions;
  expected: unknown;
  ownerReferences?: unknown[];
}

const cases: Case[] = [
  {
    title: 'server bookkeeping, status and the last-applied annotation are stripped',
    input: {
      apiVersion: 'v1', kind: 'ConfigMap',
      metadata: {
        name: 'settings', namespace: 'shop', ...serverMetadata, deletionTimestamp: '2026-03-02T00:00:00Z', deletionGracePeriodSeconds: 0,
        annotations: { 'kubectl.kubernetes.io/last-applied-configuration': '{"apiVersion":"v1"}' },
        labels: { app: 'shop' },
      },
      data: { b: '2', a: '1' },
      status: { x: 1 },
    },
    expected: { apiVersion: 'v1', data: { a: '1', b: '2' }, kind: 'ConfigMap', metadata: { labels: { app: 'shop' }, name: 'settings', namespace: 'shop' } },
  },
  {
    title: 'ownerReferences are returned separately; generateName goes when there is a name; finalizers stay',
    input: {
      apiVersion: 'v1', kind: 'ConfigMap',
      metadata: {
        name: 'cfg-x7k2p', generateName: 'cfg-', namespace: 'shop', finalizers: ['example.com/keep'],
        ownerReferences: [{ apiVersion: 'example.com/v1', kind: 'Widget', name: 'w', uid: 'u-1', controller: false }],
      },
    },
    expected: { apiVersion: 'v1', kind: 'ConfigMap', metadata: { finalizers: ['example.com/keep'], name: 'cfg-x7k2p', namespace: 'shop' } },
    ownerReferences: [{ apiVersion: 'example.com/v1', kind: 'Widget', name: 'w', uid: 'u-1', controller: false }],
  },
  {
    title: 'generateName stays when there is no name; keepStatus keeps status',
    input: { apiVersion: 'example.com/v1', kind: 'Widget', metadata: { generateName: 'w-', namespace: 'shop' }, status: { ready: true } },
    options: { keepStatus: true },
    expected: { apiVersion: 'example.com/v1', kind: 'Widget', metadata: { generateName: 'w-', namespace: 'shop' }, status: { ready: true } },
  },
  {
    title: "DaemonSet: the controller's template generation annotation goes (each cluster counts its own)",
    input: {
      apiVersion: 'apps/v1', kind: 'DaemonSet',
      metadata: { name: 'agent', namespace: 'ops', ...serverMetadata, annotations: { 'deprecated.daemonset.template.generation': '3', team: 'ops' } },
      spec: { selector: { matchLabels: { app: 'agent' } }, template: { metadata: { labels: { app: 'agent' } }, spec: { containers: [{ name: 'agent', image: 'agent:1' }] } } },
    },
    expected: {
      apiVersion: 'apps/v1', kind: 'DaemonSet', metadata: { name: 'agent', namespace: 'ops', annotations: { team: 'ops' } },
      spec: { selector: { matchLabels: { app: 'agent' } }, template: { metadata: { labels: { app: 'agent' } }, spec: { containers: [{ name: 'agent', image: 'agent:1' }] } } },
    },
  },
  {
    title: 'Deployment: revision annotation, GitOps markers and null template timestamps go; empty maps are removed',
    input: {
      apiVersion: 'apps/v1', kind: 'Deployment',
      metadata: {
        name: 'web', namespace: 'shop', ...serverMetadata,
        annotations: { 'deployment.kubernetes.io/revision': '7', 'argocd.argoproj.io/tracking-id': 'shop:apps/Deployment:shop/web', 'kustomize.toolkit.fluxcd.io/prune': 'disabled' },
        labels: { 'kustomize.toolkit.fluxcd.io/name': 'apps', 'kustomize.toolkit.fluxcd.io/namespace': 'flux-system', 'helm.toolkit.fluxcd.io/name': 'web', 'argocd.argoproj.io/instance': 'shop' },
      },
      spec: {
        replicas: 3,
        selector: { matchLabels: { app: 'web' } },
        template: {
          metadata: { creationTimestamp: null, labels: { app: 'web' }, annotations: { 'kubectl.kubernetes.io/restartedAt': '2026-03-01T11:00:00Z' } },
          spec: { containers: [{ name: 'web', image: 'nginx:1.27', resources: {} }] },
        },
      },
      status: { replicas: 3, readyReplicas: 3 },
    },
    expected: {
      apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name: 'web', namespace: 'shop' },
      spec: {
        replicas: 3,
        selector: { matchLabels: { app: 'web' } },
        template: {
          metadata: { annotations: { 'kubectl.kubernetes.io/restartedAt': '2026-03-01T11:00:00Z' }, labels: { app: 'web' } },
          spec: { containers: [{ image: 'nginx:1.27', name: 'web', resources: {} }] },
        },
      },
    },
  },
  {
    title: 'CronJob and StatefulSet: every nested null creationTimestamp goes',
    input: {
      apiVersion: 'apps/v1', kind: 'StatefulSet', metadata: { name: 'db', namespace: 'shop' },
      spec: {
        template: { metadata: { creationTimestamp: null }, spec: {} },
        volumeClaimTemplates: [{ metadata: { name: 'data', creationTimestamp: null }, spec: { resources: { requests: { storage: '1Gi' } } } }],
      },
    },
    expected: {
      apiVersion: 'apps/v1', kind: 'StatefulSet', metadata: { name: 'db', namespace: 'shop' },
      spec: { template: { metadata: {}, spec: {} }, volumeClaimTemplates: [{ metadata: { name: 'data' }, spec: { resources: { requests: { storage: '1Gi' } } } }] },
    },
  },
  {
    title: 'Service: cluster IPs, node ports and default IP families are allocations of the source',
    input: {
      apiVersion: 'v1', kind: 'Service', metadata: { name: 'web', namespace: 'shop' },
      spec: {
        type: 'LoadBalancer', clusterIP: '10.0.0.12', clusterIPs: ['10.0.0.12'], ipFamilies: ['IPv4'], ipFamilyPolicy: 'SingleStack',
        externalTrafficPolicy: 'Local', healthCheckNodePort: 31999,
        ports: [{ name: 'http', port: 80, targetPort: 8080, protocol: 'TCP', nodePort: 31080 }, { name: 'https', port: 443, protocol: 'TCP', nodePort: 31443 }],
        selector: { app: 'web' },
      },
      status: { loadBalancer: { ingress: [{ ip: '192.0.2.1' }] } },
    },
    expected: {
      apiVersion: 'v1', kind: 'Service', metadata: { name: 'web', namespace: 'shop' },
      spec: {
        externalTrafficPolicy: 'Local',
        ports: [{ name: 'http', port: 80, protocol: 'TCP', targetPort: 8080 }, { name: 'https', port: 443, protocol: 'TCP' }],
        selector: { app: 'web' }, type: 'LoadBalancer',
      },
    },
  },
  {
    title: 'Service: headless keeps clusterIP None; dual-stack intent stays',
    input: {
      apiVersion: 'v1', kind: 'Service', metadata: { name: 'db', namespace: 'shop' },
      spec: { clusterIP: 'None', clusterIPs: ['None'], ipFamilies: ['IPv4', 'IPv6'], ipFamilyPolicy: 'PreferDualStack', ports: [{ port: 5432 }] },
    },
    expected: {
      apiVersion: 'v1', kind: 'Service', metadata: { name: 'db', namespace: 'shop' },
      spec: { clusterIP: 'None', clusterIPs: ['None'], ipFamilies: ['IPv4', 'IPv6'], ipFamilyPolicy: 'PreferDualStack', ports: [{ port: 5432 }] },
    },
  },
  {
    title: 'Service: single-stack IPv6 is not the default and stays',
    input: { apiVersion: 'v1', kind: 'Service', metadata: { name: 'v6', namespace: 'shop' }, spec: { ipFamilies: ['IPv6'], ipFamilyPolicy: 'SingleStack' } },
    expected: { apiVersion: 'v1', kind: 'Service', metadata: { name: 'v6', namespace: 'shop' }, spec: { ipFamilies: ['IPv6'], ipFamilyPolicy: 'SingleStack' } },
  },
  {
    title: 'Service: the keep-node-ports annotation keeps chosen node ports',
    input: {
      apiVersion: 'v1', kind: 'Service', metadata: { name: 'np', namespace: 'shop', annotations: { 'lifeboat.dev/keep-node-ports': 'true' } },
      spec: { type: 'NodePort', clusterIP: '10.0.0.9', ports: [{ port: 80, nodePort: 30080 }] },
    },
    expected: {
      apiVersion: 'v1', kind: 'Service', metadata: { annotations: { 'lifeboat.dev/keep-node-ports': 'true' }, name: 'np', namespace: 'shop' },
      spec: { ports: [{ nodePort: 30080, port: 80 }], type: 'NodePort' },
    },
  },
  {
    title: 'a custom resource named Service is not a Service',
    input: { apiVersion: 'serving.knative.dev/v1', kind: 'Service', metadata: { name: 'web', namespace: 'shop' }, spec: { clusterIP: '10.0.0.1' } },
    expected: { apiVersion: 'serving.knative.dev/v1', kind: 'Service', metadata: { name: 'web', namespace: 'shop' }, spec: { clusterIP: '10.0.0.1' } },
  },
  {
    title: 'PersistentVolumeClaim bound by the controller: volumeName and bind annotations go',
    input: {
      apiVersion: 'v1', kind: 'PersistentVolumeClaim',
      metadata: {
        name: 'data', namespace: 'shop', finalizers: ['kubernetes.io/pvc-protection'],
        annotations: {
          'pv.kubernetes.io/bind-completed': 'yes', 'pv.kubernetes.io/bound-by-controller': 'yes',
          'volume.beta.kubernetes.io/storage-provisioner': 'ebs.csi.aws.com', 'volume.kubernetes.io/storage-provisioner': 'ebs.csi.aws.com',
          'volume.kubernetes.io/selected-node': 'node-1', 'backup.example.com/policy': 'daily',
        },
      },
      spec: { accessModes: ['ReadWriteOnce'], resources: { requests: { storage: '5Gi' } }, storageClassName: 'gp3', volumeMode: 'Filesystem', volumeName: 'pvc-6c1c1c52' },
      status: { phase: 'Bound' },
    },
    expected: {
      apiVersion: 'v1', kind: 'PersistentVolumeClaim',
      metadata: { annotations: { 'backup.example.com/policy': 'daily' }, finalizers: ['kubernetes.io/pvc-protection'], name: 'data', namespace: 'shop' },
      spec: { accessModes: ['ReadWriteOnce'], resources: { requests: { storage: '5Gi' } }, storageClassName: 'gp3', volumeMode: 'Filesystem' },
    },
  },
  {
    title: 'PersistentVolumeClaim pre-bound by a person keeps its volumeName',
    input: {
      apiVersion: 'v1', kind: 'PersistentVolumeClaim',
      metadata: { name: 'static', namespace: 'shop', annotations: { 'pv.kubernetes.io/bind-completed': 'yes' } },
      spec: { volumeName: 'nfs-share' },
    },
    expected: { apiVersion: 'v1', kind: 'PersistentVolumeClaim', metadata: { name: 'static', namespace: 'shop' }, spec: { volumeName: 'nfs-share' } },
  },
  {
    title: 'Job with a generated selector: UID labels and the selector go',
    input: {
      apiVersion: 'batch/v1', kind: 'Job',
      metadata: {
        name: 'migrate', namespace: 'shop',
        labels: { 'batch.kubernetes.io/controller-uid': 'u-9', 'batch.kubernetes.io/job-name': 'migrate', 'controller-uid': 'u-9', 'job-name': 'migrate', team: 'db' },
      },
      spec: {
        backoffLimit: 2,
        selector: { matchLabels: { 'batch.kubernetes.io/controller-uid': 'u-9' } },
        template: {
          metadata: { creationTimestamp: null, labels: { 'batch.kubernetes.io/controller-uid': 'u-9', 'batch.kubernetes.io/job-name': 'migrate', 'controller-uid': 'u-9', 'job-name': 'migrate', team: 'db' } },
          spec: { restartPolicy: 'Never', containers: [{ name: 'm', image: 'migrate:1' }] },
        },
      },
      status: { succeeded: 1 },
    },
    expected: {
      apiVersion: 'batch/v1', kind: 'Job', metadata: { labels: { team: 'db' }, name: 'migrate', namespace: 'shop' },
      spec: { backoffLimit: 2, template: { metadata: { labels: { team: 'db' } }, spec: { containers: [{ image: 'migrate:1', name: 'm' }], restartPolicy: 'Never' } } },
    },
  },
  {
    title: 'Job with a generated selector and no other labels: empty label maps go',
    input: {
      apiVersion: 'batch/v1', kind: 'Job',
      metadata: { name: 'once', namespace: 'shop', labels: { 'controller-uid': 'u-1', 'job-name': 'once' } },
      spec: { selector: { matchLabels: { 'controller-uid': 'u-1' } }, template: { metadata: { labels: { 'controller-uid': 'u-1', 'job-name': 'once' } } } },
    },
    expected: { apiVersion: 'batch/v1', kind: 'Job', metadata: { name: 'once', namespace: 'shop' }, spec: { template: { metadata: {} } } },
  },
  {
    title: 'Job with a manual selector keeps it all',
    input: {
      apiVersion: 'batch/v1', kind: 'Job', metadata: { name: 'manual', namespace: 'shop', labels: { 'job-name': 'manual' } },
      spec: { manualSelector: true, selector: { matchLabels: { 'job-name': 'manual' } }, template: { metadata: { labels: { 'job-name': 'manual' } } } },
    },
    expected: {
      apiVersion: 'batch/v1', kind: 'Job', metadata: { labels: { 'job-name': 'manual' }, name: 'manual', namespace: 'shop' },
      spec: { manualSelector: true, selector: { matchLabels: { 'job-name': 'manual' } }, template: { metadata: { labels: { 'job-name': 'manual' } } } },
    },
  },
  {
    title: 'a data key named __proto__ stays data',
    input: JSON.parse('{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"c","namespace":"shop"},"data":{"z":"1","__proto__":"x"}}') as KubeObject,
    expected: JSON.parse('{"apiVersion":"v1","data":{"__proto__":"x","z":"1"},"kind":"ConfigMap","metadata":{"name":"c","namespace":"shop"}}'),
  },
  {
    title: 'empty annotations and labels maps are removed',
    input: { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'c', namespace: 'shop', annotations: {}, labels: {} } },
    expected: { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'c', namespace: 'shop' } },
  },
];

function deepFreeze<T>(value: T): T {
  if (typeof value === 'object' && value !== null) {
    for (const child of Object.values(value)) deepFreeze(child);
    Object.freeze(value);
  }
  return value;
}

for (const { title, input, options, expected, ownerReferences } of cases) {
  test(title, (t) => {
    const before = structuredClone(input);
    const result = normalize(deepFreeze(input), options);
    t.deepEqual(result.object, expected);
    t.deepEqual(result.ownerReferences, ownerReferences ?? []);
    t.deepEqual(input, before, 'the input is not mutated');
    t.deepEqual(normalize(result.object, options).object, result.object, 'normalization is idempotent');
    t.is(JSON.stringify(result.object), JSON.stringify(sortKeys(expected)), 'keys are sorted at every level');
  });
}

test('the same intent with different server noise gives identical bytes', (t) => {
  const a: KubeObject = { kind: 'ConfigMap', apiVersion: 'v1', metadata: { namespace: 'shop', name: 'c', uid: '1', resourceVersion: '10' }, data: { y: '1', x: '2' } };
  const b: KubeObject = { apiVersion: 'v1', data: { x: '2', y: '1' }, kind: 'ConfigMap', metadata: { resourceVersion: '99', name: 'c', uid: '2', namespace: 'shop', annotations: {} } };
  t.is(toYaml(normalize(a).object), toYaml(normalize(b).object));
});

test('sortKeys sorts maps at every depth and keeps array order', (t) => {
  const sorted = sortKeys({ b: [{ d: 1, c: 2 }, 3, 'z', null], a: { z: { y: 1, x: 2 } } });
  t.is(JSON.stringify(sorted), '{"a":{"z":{"x":2,"y":1}},"b":[{"c":2,"d":1},3,"z",null]}');
});

test('toYaml puts apiVersion, kind and metadata first, sorts the rest, and never folds or aliases', (t) => {
  const shared = { app: 'web' };
  const long = 'x'.repeat(150);
  const yaml = toYaml({
    spec: { selector: { matchLabels: shared }, template: { metadata: { labels: shared } } },
    metadata: { namespace: 'shop', name: 'web' },
    data: { long },
    kind: 'Deployment',
    apiVersion: 'apps/v1',
  });
  t.is(yaml, [
    'apiVersion: apps/v1',
    'kind: Deployment',
    'metadata:',
    '  name: web',
    '  namespace: shop',
    'data:',
    `  long: ${long}`,
    'spec:',
    '  selector:',
    '    matchLabels:',
    '      app: web',
    '  template:',
    '    metadata:',
    '      labels:',
    '        app: web',
    '',
  ].join('\n'));
});

test('toYaml quotes strings a YAML 1.1 reader (kubectl) would take for something else, and round-trips', (t) => {
  const object = {
    apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'c' },
    data: { bool: 'yes', on: 'on', octal: '0755', date: '2026-03-01', number: '1.5', empty: '', multi: 'a\nb\n', '<<': 'merge' },
  };
  const yaml = toYaml(object);
  t.is(yaml, [
    'apiVersion: v1',
    'kind: ConfigMap',
    'metadata:',
    '  name: c',
    'data:',
    '  "<<": merge',
    '  bool: "yes"',
    '  date: "2026-03-01"',
    '  empty: ""',
    '  multi: |',
    '    a',
    '    b',
    '  number: "1.5"',
    '  octal: "0755"',
    '  "on": "on"',
    '',
  ].join('\n'));
  t.deepEqual(parse(yaml), object);
});
