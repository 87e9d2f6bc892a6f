// The change-rate ceiling of `npm run bench`: the highest rate of changes each path holds with an end-to-end p99 of at
// most 1 s, found by doubling the rate (100, 200, 400, … changes/s, 10 s each) until a step misses: the p99 is over
// 1 s, fewer than 95 % of the changes could be sent at the rate, or a change was never seen.
//
//   direct    ConfigMaps merge-patched straight in the destination by this process (the same client, 64 requests in
//             flight at most, as the lag phase writes the source), timed from just before the PATCH until a
//             destination watch shows the value.
//   lifeboat  the lag phase's measurement at each rate: source PATCH → destination watch, through the pipeline.
//
// The ratio of the two highest rates held is the figure (≥ 0.8 is the target); the search steps by doubling, so each
// figure is known to within a factor of two.
import { performance } from 'node:perf_hooks';
import type { KubeClient } from '../src/kube/client.ts';
import { CollectionWatch, createNamespaces, deleteNamespaces, mapLimit, paced, sleep } from './kube.ts';
import { distribution, type Distribution } from './report.ts';
import { runLabel } from './workload.ts';

export interface RateStep {
  rate: number;
  sent: number;
  achievedRate: number;
  p99Ms: number | undefined;
  unseen: number;
  held: boolean;
}

export interface RateSearch {
  steps: RateStep[];
  /** The highest rate held (0 when even the first step missed). */
  held: number;
}

export const rateLimits = { p99Ms: 1000, sentShare: 0.95, stepSeconds: 10, first: 100, max: 6400 };

/** Doubles the rate from `first` until a step misses (or `max`); `step` measures one rate. */
export async function searchRate(step: (rate: number) => Promise<Omit<RateStep, 'held'>>, log: (line: string) => void, what: string): Promise<RateSearch> {
  const steps: RateStep[] = [];
  let held = 0;
  for (let rate = rateLimits.first; rate <= rateLimits.max; rate *= 2) {
    const measured = await step(rate);
    const ok = measured.p99Ms !== undefined && measured.p99Ms <= rateLimits.p99Ms && measured.achievedRate >= rateLimits.sentShare * rate && measured.unseen === 0;
    steps.push({ ...measured, held: ok });
    log(`rate (${what}): ${rate}/s → sent ${measured.achievedRate.toFixed(0)}/s, p99 ${measured.p99Ms?.toFixed(0) ?? '-'} ms, ${measured.unseen} unseen: ${ok ? 'held' : 'missed'}`);
    if (!ok) break;
    held = rate;
  }
  return { steps, held };
}

/** One step of direct writes to the destination: `rate` patches/s for `seconds` over `count` ConfigMaps of one namespace. */
export async function directStep(writer: KubeClient, admin: KubeClient, namespace: string, rate: number, seconds: number, signal: AbortSignal): Promise<Omit<RateStep, 'held'>> {
  const names = Array.from({ length: 200 }, (_, index) => `rate-${index}`);
  const path = (name?: string) => `/api/v1/namespaces/${namespace}/configmaps${name ? `/${name}` : ''}`;
  const sentAt = new Map<string, number>();
  const latencies: number[] = [];
  const watch = new CollectionWatch(admin, path(), {}, (type, object, at) => {
    const value = (object as { data?: Record<string, string> }).data?.seq;
    if (type === 'DELETED' || value === undefined) return;
    const key = `${object.metadata.name}=${value}`;
    const sent = sentAt.get(key);
    if (sent !== undefined) {
      latencies.push(at - sent);
      sentAt.delete(key);
    }
  });
  await watch.start();
  try {
    let sent = 0;
    const started = performance.now();
    await paced(Math.round(rate * seconds), rate, 64, signal, (index) => {
      const name = names[index % names.length]!;
      const seq = `${rate}-${index}`;
      sentAt.set(`${name}=${seq}`, performance.now());
      return writer.request('PATCH', path(name), { data: { seq } }, { contentType: 'application/merge-patch+json', discardBody: true }).then(() => void sent++, () => undefined);
    }, started);
    const sendSeconds = (performance.now() - started) / 1000;
    const drainDeadline = performance.now() + 10_000;
    while (sentAt.size && performance.now() < drainDeadline) await sleep(50);
    const latency: Distribution = distribution(latencies);
    return { rate, sent, achievedRate: sent / sendSeconds, p99Ms: latency.p99, unseen: sentAt.size };
  } finally {
    await watch.stop();
  }
}

/** The direct-writes search, in a namespace of its own in the destination (created, then deleted). */
export async function directRateSearch(writer: KubeClient, admin: KubeClient, run: string, log: (line: string) => void, signal: AbortSignal): Promise<RateSearch> {
  const namespace = `${run}-rate`;
  await createNamespaces(admin, [namespace], { [runLabel]: run }, 1);
  try {
    await mapLimit(Array.from({ length: 200 }, (_, index) => `rate-${index}`), 16, (name) => admin.request('POST', `/api/v1/namespaces/${namespace}/configmaps`, { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name }, data: { seq: 'none' } }), signal);
    return await searchRate((rate) => directStep(writer, admin, namespace, rate, rateLimits.stepSeconds, signal), log, 'direct writes to the destination');
  } finally {
    await deleteNamespaces(admin, [namespace], 60_000);
  }
}
