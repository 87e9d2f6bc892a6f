// Leased runnables and their fair share, without Redis: leases that are free (or not) after an await, as Redis answers,
// and an allowance of two. Plans of one process that look for their leases at the same moment take no more than it.
import test from 'ava';
import { Leased, ready, type LeaseAllowance, type Runnable } from '../../src/runtime/runnable.ts';
import type { Lease } from '../../src/state/state.ts';
import { silentLogger } from '../../src/util/log.ts';

/** A lease answered after a turn of the event loop, as a Redis round trip is. */
function fakeLease(free: boolean): Lease {
  return {
    tryAcquire: () => new Promise<boolean>((resolve) => setImmediate(() => resolve(free))),
    keepAlive: () => undefined,
    release: () => Promise.resolve(),
  } as unknown as Lease;
}

/** At most `share` leases of a component, as LeaseShares counts them. */
function allowance(share: number): LeaseAllowance & { holding: number } {
  const counted = {
    holding: 0,
    mayTake: () => counted.holding < share,
    shouldYield: () => counted.holding > share,
    held: (_component: string, delta: 1 | -1) => void (counted.holding += delta),
  };
  return counted;
}

const stage = (): Runnable & { started: number } => {
  const runnable = { name: 'synchronizer', started: 0, start: async () => void runnable.started++, stop: async () => undefined, readiness: () => ready };
  return runnable;
};

test('four plans looking at once with a share of two: two take their lease, the others stand by', async (t) => {
  const share = allowance(2);
  const stages = Array.from({ length: 4 }, stage);
  const leased = stages.map((inner) => new Leased(inner, { lease: fakeLease(true), retryMs: 60_000, allowance: share, log: silentLogger }));
  const controller = new AbortController();
  await Promise.all(leased.map((runnable) => runnable.start(controller.signal)));
  t.is(leased.filter((runnable) => runnable.holder).length, 2);
  t.is(stages.reduce((sum, inner) => sum + inner.started, 0), 2);
  t.is(share.holding, 2);
  await Promise.all(leased.map((runnable) => runnable.stop()));
  t.is(share.holding, 0);
});

test('a lease held elsewhere gives its place in the share back: the next plan takes it', async (t) => {
  const share = allowance(1);
  const taken = new Leased(stage(), { lease: fakeLease(false), retryMs: 60_000, allowance: share, log: silentLogger });
  const free = new Leased(stage(), { lease: fakeLease(true), retryMs: 60_000, allowance: share, log: silentLogger });
  const controller = new AbortController();
  await taken.start(controller.signal);
  t.is(share.holding, 0);
  await free.start(controller.signal);
  t.true(free.holder);
  t.false(taken.holder);
  t.is(share.holding, 1);
  await Promise.all([taken.stop(), free.stop()]);
  t.is(share.holding, 0);
});
