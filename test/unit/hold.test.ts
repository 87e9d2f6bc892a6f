import test from 'ava';
import fastJsonPatch from 'fast-json-patch';
import type { KubeObject } from '../../src/kube/ref.ts';
import {
  activationRank, backendsOf, conversionRestorePatch, heldObjectOf, holdEverything, holderName, isHeld, standbyForm,
} from '../../src/pipeline/hold.ts';

const service = { namespace: 'certs', name: 'webhook', path: '/validate' };
const webhookConfiguration: KubeObject = {
  apiVersion: 'admissionregistration.k8s.io/v1', kind: 'ValidatingWebhookConfiguration', metadata: { name: 'certs', labels: { 'lifeboat.dev/plan': 'p' }, annotations: { 'lifeboat.dev/revision': 'abc' } },
  webhooks: [{ name: 'a.certs.example.com', clientConfig: { service }, failurePolicy: 'Fail' }, { name: 'b.certs.example.com', clientConfig: { service: { ...service, name: 'other' } } }],
};
const aggregated: KubeObject = { apiVersion: 'apiregistration.k8s.io/v1', kind: 'APIService', metadata: { name: 'v1beta1.metrics.k8s.io' }, spec: { group: 'metrics.k8s.io', service: { namespace: 'monitoring', name: 'metrics' } } };
const local: KubeObject = { apiVersion: 'apiregistration.k8s.io/v1', kind: 'APIService', metadata: { name: 'v1.apps' }, spec: { group: 'apps', service: null } };
const conversion = { strategy: 'Webhook', webhook: { conversionReviewVersions: ['v1'], clientConfig: { service: { namespace: 'certs', name: 'webhook', path: '/convert' } } } };
const crd: KubeObject = { apiVersion: 'apiextensions.k8s.io/v1', kind: 'CustomResourceDefinition', metadata: { name: 'certificates.example.com' }, spec: { group: 'example.com', conversion } };

test('webhook configurations and APIServices with a service are held; local APIServices and other kinds are not', (t) => {
  t.true(isHeld(webhookConfiguration, holdEverything));
  t.true(isHeld({ ...webhookConfiguration, kind: 'MutatingWebhookConfiguration' }, holdEverything));
  t.true(isHeld(aggregated, holdEverything));
  t.false(isHeld(local, holdEverything));
  t.false(isHeld(crd, holdEverything));
  t.false(isHeld({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'x' } }, holdEverything));
});

test('a plan opts out per kind', (t) => {
  t.false(isHeld(webhookConfiguration, { ...holdEverything, admissionWebhooks: false }));
  t.true(isHeld(aggregated, { ...holdEverything, admissionWebhooks: false }));
  t.false(isHeld(aggregated, { ...holdEverything, apiServices: false }));
  t.deepEqual(standbyForm(crd, 'p', { ...holdEverything, conversionWebhooks: false }), crd);
});

test('a holder carries the object verbatim, with its plan label and revision outside', (t) => {
  const holder = standbyForm(webhookConfiguration, 'p', holdEverything);
  t.is(holder.kind, 'ConfigMap');
  t.is(holder.metadata.namespace, 'lifeboat-system');
  t.is(holder.metadata.name, 'held.p.validatingwebhookconfiguration.certs');
  t.deepEqual(holder.metadata.labels, { 'lifeboat.dev/plan': 'p', 'lifeboat.dev/held': 'true' });
  t.is(holder.metadata.annotations?.['lifeboat.dev/revision'], 'abc');
  t.deepEqual(heldObjectOf(holder), webhookConfiguration);
});

test('a holder name too long for a ConfigMap is hashed, and stays a valid name', (t) => {
  const name = holderName('p', { kind: 'ValidatingWebhookConfiguration', name: 'x'.repeat(253) });
  t.true(name.length <= 253);
  t.regex(name, /^held\.p\.validatingwebhookconfiguration\.[0-9a-f]{32}$/);
  t.not(name, holderName('p', { kind: 'ValidatingWebhookConfiguration', name: 'y'.repeat(253) }));
});

test('a CRD with a conversion webhook sleeps with strategy None, and the restore patch gives the webhook back exactly', (t) => {
  const dormant = standbyForm(crd, 'p', holdEverything);
  t.deepEqual((dormant.spec as { conversion: unknown }).conversion, { strategy: 'None' });
  const patch = conversionRestorePatch(dormant)!;
  const woken = fastJsonPatch.applyPatch(structuredClone(dormant), patch).newDocument;
  t.deepEqual(woken, { ...crd, metadata: { ...crd.metadata, annotations: {} } });
  t.is(conversionRestorePatch(crd), undefined);
  // A CRD without a webhook is applied as it is.
  const plain = { ...crd, spec: { group: 'example.com' } };
  t.is(standbyForm(plain, 'p', holdEverything), plain);
});

test('backends: every Service the object calls, once each; APIServices activate before webhooks', (t) => {
  t.deepEqual(backendsOf(webhookConfiguration), [{ namespace: 'certs', name: 'webhook' }, { namespace: 'certs', name: 'other' }]);
  t.deepEqual(backendsOf(aggregated), [{ namespace: 'monitoring', name: 'metrics' }]);
  t.deepEqual(backendsOf(standbyForm(crd, 'p', holdEverything)), [{ namespace: 'certs', name: 'webhook' }]);
  t.deepEqual(backendsOf(local), []);
  t.true(activationRank(aggregated) < activationRank(webhookConfiguration));
});
