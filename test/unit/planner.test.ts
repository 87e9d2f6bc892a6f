// The pass planner, table-style: what one pass applies, deletes and retries, from plain data (no git, no Redis).
import test from 'ava';
import { planPass, retryDelayMs, type Baseline, type Failure, type PassInput } from '../../src/pipeline/sync/planner.ts';

const cm = (name: string) => `shop/namespaces/web/ConfigMap/${name}.yaml`;
const ns = (name: string) => `shop/cluster/Namespace/${name}.yaml`;
const now = 1_000_000;

const diff = (...changes: [string, string | undefined][]): Baseline => ({ type: 'diff', changes: changes.map(([path, newOid]) => ({ path, newOid })) });
const tree = (...files: [string, string][]): Baseline => ({ type: 'tree', files: new Map(files) });

interface Case {
  name: string;
  baseline: Baseline;
  inventory?: [string, string][];
  failures?: [string, Failure][];
  inFlight?: string[];
  /** path → oid (undefined: a delete), in the order planned. */
  work: [string, string | undefined][];
  retries?: [string, number][];
  ignored?: string[];
}

const cases: Case[] = [
  { name: 'an empty diff plans nothing', baseline: diff(), work: [] },
  { name: 'a diff adds', baseline: diff([cm('a'), 'a1']), work: [[cm('a'), 'a1']] },
  { name: 'a diff changes', baseline: diff([cm('a'), 'a2']), inventory: [[cm('a'), 'a1']], work: [[cm('a'), 'a2']] },
  { name: 'a diff deletes', baseline: diff([cm('a'), undefined]), inventory: [[cm('a'), 'a1']], work: [[cm('a'), undefined]] },
  { name: 'a diff keeps its order', baseline: diff([cm('b'), 'b1'], [ns('web'), 'n1'], [cm('a'), undefined]), work: [[cm('b'), 'b1'], [ns('web'), 'n1'], [cm('a'), undefined]] },
  {
    name: 'a diff to what the inventory already has is still planned (the pass reports it unchanged)',
    baseline: diff([cm('a'), 'a1']), inventory: [[cm('a'), 'a1']], work: [[cm('a'), 'a1']],
  },
  {
    name: 'a diff leaves the rest of the inventory alone (O(changes), no full compare)',
    baseline: diff([cm('a'), 'a2']), inventory: [[cm('a'), 'a1'], [cm('gone'), 'g1']], work: [[cm('a'), 'a2']],
  },
  {
    name: 'without a dispatched commit: the whole tree against the inventory, deletes from the inventory',
    baseline: tree([cm('a'), 'a1'], [cm('b'), 'b2'], [cm('c'), 'c1']),
    inventory: [[cm('a'), 'a1'], [cm('b'), 'b1'], [cm('gone'), 'g1']],
    work: [[cm('b'), 'b2'], [cm('c'), 'c1'], [cm('gone'), undefined]],
  },
  { name: 'a tree equal to the inventory plans nothing', baseline: tree([cm('a'), 'a1']), inventory: [[cm('a'), 'a1']], work: [] },
  { name: 'an empty tree deletes the whole inventory', baseline: tree(), inventory: [[cm('a'), 'a1'], [ns('web'), 'n1']], work: [[cm('a'), undefined], [ns('web'), undefined]] },
  {
    name: 'a failure due is retried, with its next retry time as if it failed once more',
    baseline: diff(), failures: [[cm('a'), { attempts: 2, retryAt: now }]], work: [], retries: [[cm('a'), now + retryDelayMs(3)]],
  },
  { name: 'a failure not due yet waits', baseline: diff(), failures: [[cm('a'), { attempts: 1, retryAt: now + 1 }]], work: [] },
  { name: 'a failure still in flight waits for that pass', baseline: diff(), failures: [[cm('a'), { attempts: 1, retryAt: 0 }]], inFlight: [cm('a')], work: [] },
  {
    name: 'a failure already in the work is not planned twice',
    baseline: diff([cm('a'), 'a2']), failures: [[cm('a'), { attempts: 4, retryAt: 0 }]], work: [[cm('a'), 'a2']],
  },
  {
    name: 'a failure already in the full compare is not planned twice',
    baseline: tree([cm('a'), 'a2']), failures: [[cm('a'), { attempts: 1, retryAt: 0 }]], work: [[cm('a'), 'a2']],
  },
  {
    name: 'only the failures due are retried, in the order they failed',
    baseline: diff([cm('x'), 'x1']),
    failures: [[cm('b'), { attempts: 1, retryAt: 0 }], [cm('late'), { attempts: 1, retryAt: now + 500 }], [cm('a'), { attempts: 1, retryAt: now }]],
    work: [[cm('x'), 'x1']], retries: [[cm('b'), now + retryDelayMs(2)], [cm('a'), now + retryDelayMs(2)]],
  },
  {
    name: 'paths that are not mirror object paths are ignored and named',
    baseline: diff(['shop/README', 'r1'], [cm('a'), 'a1']), failures: [['shop/notes.txt', { attempts: 1, retryAt: 0 }]],
    work: [[cm('a'), 'a1']], ignored: ['shop/README', 'shop/notes.txt'],
  },
];

for (const c of cases) {
  test(`planner: ${c.name}`, (t) => {
    const input: PassInput = {
      baseline: c.baseline, inventory: new Map(c.inventory ?? []), failures: new Map(c.failures ?? []), inFlight: new Set(c.inFlight ?? []), now,
    };
    const plan = planPass(input);
    t.deepEqual(plan.work.map((item) => [item.path, item.oid]), c.work);
    t.deepEqual(plan.retries.map((retry) => [retry.path, retry.retryAt]), c.retries ?? []);
    t.deepEqual(plan.ignored, c.ignored ?? []);
  });
}

test('planner: work items carry the ref their path names', (t) => {
  const { work, retries } = planPass({ baseline: diff([cm('a'), 'a1']), inventory: new Map(), failures: new Map([[ns('web'), { attempts: 1, retryAt: 0 }]]), inFlight: new Set(), now });
  t.deepEqual(work[0]!.ref, { group: '', kind: 'ConfigMap', namespace: 'web', name: 'a' });
  t.deepEqual(retries[0]!.ref, { group: '', kind: 'Namespace', name: 'web' });
});

test('planner: the input is not changed (the synchronizer applies the new retry times)', (t) => {
  const failures = new Map([[cm('a'), { attempts: 1, retryAt: 0 }]]);
  planPass({ baseline: diff(), inventory: new Map(), failures, inFlight: new Set(), now });
  t.deepEqual([...failures], [[cm('a'), { attempts: 1, retryAt: 0 }]]);
});

test('retry delays double from 0.5 s up to 15 s', (t) => {
  t.deepEqual([0, 1, 2, 3, 4, 5, 6, 7, 10].map(retryDelayMs), [500, 500, 1000, 2000, 4000, 8000, 15_000, 15_000, 15_000]);
});
