// Invalid plans, table-driven: for each, the exact lines `lifeboat plan validate` prints (file:line:col, YAML path,
// message), all of them at once. The table is test/fixtures/plans/invalid-cases.ts.
import test from 'ava';
import { loadPlans } from '../../src/plan/load.ts';
import { formatPlanError } from '../../src/plan/parse.ts';
import { clusters, invalidCases } from '../fixtures/plans/invalid-cases.ts';

for (const invalid of invalidCases) {
  test(`invalid: ${invalid.name}`, (t) => {
    const files = Object.entries({ 'clusters.yaml': clusters, ...invalid.files }).map(([path, text]) => ({ path, text }));
    const existing = invalid.existing;
    const set = loadPlans(files, { fileExists: existing ? (path) => existing.includes(path) : () => true });
    t.deepEqual(set.errors.map(formatPlanError), invalid.expected);
  });
}

test('the table covers at least 35 invalid plan sets', (t) => {
  t.true(invalidCases.length >= 35, `${invalidCases.length} cases`);
});

test('an object with an error is left out; the others are kept', (t) => {
  const bad = invalidCases.find((invalid) => invalid.name === 'unknown clusters')!;
  const set = loadPlans(Object.entries({ 'clusters.yaml': clusters, ...bad.files }).map(([path, text]) => ({ path, text })));
  t.deepEqual([...set.clusters.keys()], ['prod', 'standby']);
  t.deepEqual([...set.plans.keys()], []);
});

test('errors carry file, position, YAML path, message and severity as data', (t) => {
  const bad = invalidCases.find((invalid) => invalid.name === 'unknown clusters')!;
  const set = loadPlans(Object.entries({ 'clusters.yaml': clusters, ...bad.files }).map(([path, text]) => ({ path, text })));
  t.deepEqual(set.errors, [{
    file: 'plan.yaml', line: 9, column: 14, path: 'spec.destination.cluster', message: 'unknown cluster "dr-west" (known: prod, standby)', severity: 'error',
  }]);
});
