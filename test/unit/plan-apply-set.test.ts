// What `lifeboat plan apply` sends: documents as written (no defaults), the label, clusters before plans, jobs left
// out, a foreign metadata.namespace refused, kubeconfig paths warned about; what an apply did; what --prune removes.
import test from 'ava';
import { applyAction, applySet, displayName, pruneCandidates, resourcePath, appliedKinds, type ApplyAction } from '../../src/plan/apply-set.ts';
import type { KubeObject } from '../../src/kube/ref.ts';
import { hasErrors, loadPlans, type PlanFile } from '../../src/plan/load.ts';

const clusters: PlanFile = { path: 'plans/clusters.yaml', text: `apiVersion: lifeboat.dev/v1alpha1
kind: ManagedCluster
metadata:
  name: source
spec:
  kubeconfig:
    path: ../kubeconfig
    context: source
---
apiVersion: lifeboat.dev/v1alpha1
kind: ManagedCluster
metadata:
  name: destination
spec:
  secretRef:
    name: destination-kubeconfig
` };
const plan = (namespace = ''): PlanFile => ({ path: 'plans/shop.yaml', text: `apiVersion: lifeboat.dev/v1alpha1
kind: RecoveryPlan
metadata:
  name: shop
${namespace ? `  namespace: ${namespace}\n` : ''}  labels:
    team: shop
spec:
  source:
    cluster: source
  destination:
    cluster: destination
  resources:
    include:
      - namespaces: [shop]
  secrets:
    mode: exclude
` });
const job: PlanFile = { path: 'plans/job.yaml', text: `apiVersion: lifeboat.dev/v1alpha1
kind: RecoveryExecutionJob
metadata:
  name: failover
spec:
  plan: shop
` };

test('documents are applied as written, labelled, clusters first; jobs and kubeconfig paths are warned about', (t) => {
  const files = [clusters, plan(), job];
  const set = loadPlans(files, { fileExists: () => true });
  t.false(hasErrors(set), JSON.stringify(set.errors));
  const result = applySet(set, files, 'lifeboat-system');
  t.deepEqual(result.problems, []);
  t.deepEqual(result.resources.map((resource) => displayName(resource.type, resource.name)),
    ['managedcluster.lifeboat.dev/destination', 'managedcluster.lifeboat.dev/source', 'recoveryplan.lifeboat.dev/shop']);
  const shop = result.resources[2]!.object;
  t.deepEqual(shop.metadata, { name: 'shop', namespace: 'lifeboat-system', labels: { team: 'shop', 'app.kubernetes.io/managed-by': 'lifeboat-plan-apply' } });
  // As written: no mirror.path, sync or deletes defaults filled in.
  t.deepEqual(Object.keys(shop.spec as object), ['source', 'destination', 'resources', 'secrets']);
  t.is(result.warnings.length, 2);
  t.regex(result.warnings[0]!, /^plans\/clusters\.yaml:4:9: ManagedCluster source: spec\.kubeconfig\.path is applied as written; the operator resolves \.\.\/kubeconfig against its working directory.*spec\.secretRef/);
  t.regex(result.warnings[1]!, /^plans\/job\.yaml:4:9: RecoveryExecutionJob failover is not applied/);
});

test('a metadata.namespace other than the target namespace is a problem; the same one is fine', (t) => {
  for (const [namespace, problems] of [['elsewhere', 1], ['lifeboat-system', 0]] as const) {
    const files = [clusters, plan(namespace)];
    const result = applySet(loadPlans(files, { fileExists: () => true }), files, 'lifeboat-system');
    t.is(result.problems.length, problems, namespace);
  }
});

const object = (resourceVersion: string, spec: unknown, labels?: Record<string, string>): KubeObject =>
  ({ apiVersion: 'lifeboat.dev/v1alpha1', kind: 'RecoveryPlan', metadata: { name: 'shop', resourceVersion, ...(labels ? { labels } : {}) }, spec });

test('applyAction: created, configured, unchanged, for an apply and a dry run', (t) => {
  const cases: [KubeObject | undefined, KubeObject, boolean, ApplyAction][] = [
    [undefined, object('1', {}), false, 'created'],
    [undefined, object('1', {}), true, 'created'],
    [object('1', { a: 1 }), object('1', { a: 1 }), false, 'unchanged'],
    [object('1', { a: 1 }), object('2', { a: 2 }), false, 'configured'],
    [object('1', { a: 1 }), object('1', { a: 1 }), true, 'unchanged'],
    [object('1', { a: 1 }), object('1', { a: 2 }), true, 'configured'],
    [object('1', { a: 1 }), object('1', { a: 1 }, { team: 'x' }), true, 'configured'],
  ];
  for (const [before, after, dryRun, expected] of cases) t.is(applyAction(before, after, dryRun), expected);
});

test('pruneCandidates: the labelled resources the files no longer define, by name', (t) => {
  const labelled = ['web', 'shop', 'old'].map((name) => ({ ...object('1', {}), metadata: { name } }));
  t.deepEqual(pruneCandidates(labelled, new Set(['shop'])), ['old', 'web']);
  t.deepEqual(pruneCandidates(labelled, new Set(['shop', 'web', 'old'])), []);
  t.is(resourcePath(appliedKinds[1], 'ns', 'shop'), '/apis/lifeboat.dev/v1alpha1/namespaces/ns/recoveryplans/shop');
});
