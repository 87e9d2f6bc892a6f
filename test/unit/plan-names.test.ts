// `lifeboat status --plans DIR` filters by the plan names of the files (planNames): plain files are read by the
// mirror's fast YAML reader, files with comments, anchors or flow style by the plan parser — the same names either
// way; a file that does not parse names no plan.
import test from 'ava';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { stringify } from 'yaml';
import { planNames } from '../../src/cli/context.ts';

const plan = (name: string) => ({ apiVersion: 'lifeboat.dev/v1alpha1', kind: 'RecoveryPlan', metadata: { name }, spec: { source: { cluster: 'a' }, destination: { cluster: 'b' } } });

test('planNames reads every RecoveryPlan of a directory, plain or not, and skips what does not parse', async (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'lifeboat-plan-names-'));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  const cluster = { apiVersion: 'lifeboat.dev/v1alpha1', kind: 'ManagedCluster', metadata: { name: 'a' }, spec: { kubeconfig: { path: '/k', context: 'a' } } };
  fs.writeFileSync(path.join(dir, 'plain.yaml'), `---\n${stringify(cluster)}---\n${stringify(plan('shop'))}---\n${stringify(plan('billing'))}`);
  fs.writeFileSync(path.join(dir, 'commented.yaml'), `# the payments plan\n${stringify(plan('payments'))}`);
  fs.writeFileSync(path.join(dir, 'flow.yaml'), `{apiVersion: lifeboat.dev/v1alpha1, kind: RecoveryPlan, metadata: {name: "flow-style"}}\n`);
  fs.writeFileSync(path.join(dir, 'quoted.yaml'), stringify(plan('quoted')).replace('name: quoted', "name: 'quoted'"));
  fs.writeFileSync(path.join(dir, 'broken.yaml'), 'kind: RecoveryPlan\nmetadata: {name: [\n');
  t.deepEqual([...(await planNames(dir))].sort(), ['billing', 'flow-style', 'payments', 'quoted', 'shop']);
});
