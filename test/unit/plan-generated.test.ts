// The generated JSON Schemas and CRDs: committed files equal what hack/gen-schemas.ts produces now (run
// `npm run generate` after changing src/plan/schema.ts), and the CRD schemas stay structural.
import test from 'ava';
import fs from 'node:fs';
import { parse } from 'yaml';
import { customResourceDefinition, editorSchema, generatedFiles, structural } from '../../hack/gen-schemas.ts';
import { kinds } from '../../src/plan/schema.ts';

test('generated files are up to date (npm run generate)', (t) => {
  const files = generatedFiles();
  t.deepEqual([...files.keys()].sort(), [
    'manifests/crds/managedclusters.lifeboat.dev.yaml',
    'manifests/crds/recoveryexecutionjobs.lifeboat.dev.yaml',
    'manifests/crds/recoveryplans.lifeboat.dev.yaml',
    'schemas/managedcluster.json',
    'schemas/recoveryexecutionjob.json',
    'schemas/recoveryplan.json',
  ]);
  for (const [file, content] of files) {
    t.true(fs.existsSync(file), `${file} is missing: run npm run generate`);
    t.is(fs.readFileSync(file, 'utf8'), content, `${file} is stale: run npm run generate`);
  }
});

type Node = Record<string, unknown>;

/** Every schema node of a CRD, with its path. */
function nodes(schema: Node, at = ''): Array<[string, Node]> {
  const found: Array<[string, Node]> = [[at, schema]];
  for (const [name, child] of Object.entries((schema.properties ?? {}) as Record<string, Node>)) found.push(...nodes(child, `${at}.${name}`));
  if (schema.items) found.push(...nodes(schema.items as Node, `${at}[]`));
  if (typeof schema.additionalProperties === 'object') found.push(...nodes(schema.additionalProperties as Node, `${at}{}`));
  return found;
}

test('CRD schemas are structural: typed nodes, no additionalProperties beside properties, no refs or unions', (t) => {
  for (const kind of kinds) {
    const crd = customResourceDefinition(kind) as { spec: { versions: Array<{ schema: { openAPIV3Schema: Node } }> } };
    for (const [at, node] of nodes(crd.spec.versions[0]!.schema.openAPIV3Schema)) {
      t.true(typeof node.type === 'string' || node['x-kubernetes-preserve-unknown-fields'] === true, `${kind}${at} has a type`);
      t.false(node.properties !== undefined && node.additionalProperties !== undefined, `${kind}${at}`);
      for (const key of ['$ref', '$schema', 'anyOf', 'oneOf', 'allOf', 'not', 'propertyNames', 'const']) t.false(key in node, `${kind}${at} has ${key}`);
    }
  }
});

test('free-form JSON patch values keep unknown fields; status is a subresource', (t) => {
  const crd = parse(fs.readFileSync('manifests/crds/recoveryplans.lifeboat.dev.yaml', 'utf8'));
  const version = crd.spec.versions[0];
  t.deepEqual(version.subresources, { status: {} });
  const operation = version.schema.openAPIV3Schema.properties.spec.properties.transforms.items.properties.jsonPatch.items;
  t.deepEqual(operation.properties.value, { description: 'The value, for add, replace and test.', 'x-kubernetes-preserve-unknown-fields': true });
  t.deepEqual(operation.required, ['op', 'path']);
  // kubectl get: READY LAG OBJECTS HELD AGE; -o wide adds the Ready message and the clusters.
  const columns = version.additionalPrinterColumns as { name: string; priority?: number; jsonPath: string }[];
  t.deepEqual(columns.filter((column) => !column.priority).map((column) => column.name), ['Ready', 'Lag', 'Objects', 'Held', 'Age']);
  t.deepEqual(columns.filter((column) => column.priority).map((column) => column.name), ['Status', 'Source', 'Destination', 'Suspended']);
  t.is(columns[0]?.jsonPath, '.status.conditions[?(@.type=="Ready")].status');
  t.deepEqual(version.schema.openAPIV3Schema.properties.status.properties.conditions['x-kubernetes-list-map-keys'], ['type']);
});

test('structural() refuses what kube-apiserver would refuse', (t) => {
  t.throws(() => structural({ type: 'object', anyOf: [{ type: 'string' }] }), { message: '<root>: "anyOf" cannot appear in a structural CRD schema' });
  t.throws(() => structural({ type: 'object', properties: { a: { $ref: '#/x' } } }), { message: '.a: "$ref" cannot appear in a structural CRD schema' });
  t.deepEqual(structural({ type: 'object', properties: { a: { type: 'string' } }, additionalProperties: false }), { type: 'object', properties: { a: { type: 'string' } } });
  t.deepEqual(structural({ description: 'anything' }), { description: 'anything', 'x-kubernetes-preserve-unknown-fields': true });
});

test('editor schemas are strict JSON Schema without Kubernetes extensions', (t) => {
  const schema = editorSchema('RecoveryPlan');
  const text = JSON.stringify(schema);
  t.is(schema.$schema, 'http://json-schema.org/draft-07/schema#');
  t.is(schema.title, 'RecoveryPlan');
  t.false(text.includes('x-kubernetes-'));
  t.is(schema.additionalProperties, false);
  t.deepEqual((schema.properties as Record<string, unknown>).kind, { type: 'string', const: 'RecoveryPlan' });
});
