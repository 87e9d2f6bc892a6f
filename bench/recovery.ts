// Recovery time: activating N deactivated Deployments at the stand-by with `lifeboat recover` (the Restorer: job
// record, discovery, one labelled LIST per kind, one JSON patch per object) against a ceiling measured in the same
// run — the same objects woken by direct JSON patches of `spec.replicas` at the same concurrency. Three rounds of
// both, each from a settled cluster; the medians are reported.
import { performance } from 'node:perf_hooks';
import type { KubeClient } from '../src/kube/client.ts';
import { silentLogger } from '../src/util/log.ts';
import { jobsNamespace, Restorer } from '../src/recovery/restorer.ts';
import { CommandState } from '../src/state/state.ts';
import { createNamespaces, deleteNamespaces, mapLimit } from './kube.ts';

export interface RecoveryResult {
  deployments: number;
  /** Medians over the rounds. */
  ceilingSeconds: number;
  seconds: number;
  ceilingRounds: number[];
  lifeboatRounds: number[];
  ratio: number;
  phase: string | undefined;
  failed: number;
}

const rounds = 3;

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)]!;
}

const sleepingDeployment = (name: string, plan: string) => ({
  apiVersion: 'apps/v1', kind: 'Deployment',
  metadata: { name, labels: { 'lifeboat.dev/plan': plan }, annotations: { 'lifeboat.dev/deactivated': 'true', 'lifeboat.dev/replicas': '1' } },
  spec: { replicas: 0, selector: { matchLabels: { app: name } }, template: { metadata: { labels: { app: name } }, spec: { containers: [{ name: 'app', image: 'registry.example.com/app:1' }] } } },
});

export async function recoveryBench(admin: KubeClient, writer: KubeClient, run: string, count: number, concurrency: number, log: (line: string) => void, signal: AbortSignal): Promise<RecoveryResult> {
  const plan = `${run}-recovery`;
  const namespace = plan;
  const path = (name?: string) => `/apis/apps/v1/namespaces/${namespace}/deployments${name ? `/${name}` : ''}`;
  const names = Array.from({ length: count }, (_, index) => `app-${String(index).padStart(4, '0')}`);
  await createNamespaces(admin, [namespace], { 'lifeboat.dev/bench': run }, 1);
  try {
    await mapLimit(names, 32, (name) => admin.request('POST', path(), sleepingDeployment(name, plan)), signal);
    // Both phases start with the Deployment and ReplicaSet controllers done reacting to what came before (creation,
    // the ceiling's wake-up and the deactivation after it), so neither is timed against the other's aftermath.
    const settled = async () => {
      const deadline = performance.now() + 180_000;
      while (performance.now() < deadline) {
        signal.throwIfAborted();
        const items = (await admin.request<{ items: { metadata: { generation?: number }; spec: { replicas: number }; status?: { observedGeneration?: number; replicas?: number } }[] }>('GET', path())).items;
        // Observed, and the ReplicaSets have created (or removed) the Pods: status.replicas counts them.
        const done = (item: (typeof items)[number]) => (item.status?.observedGeneration ?? 0) >= (item.metadata.generation ?? 1) && (item.status?.replicas ?? 0) === item.spec.replicas;
        if (items.length === count && items.every(done)) return;
        await new Promise((resolve) => setTimeout(resolve, 500));
      }
      log('recovery: the Deployment controller did not settle within 180s; timing anyway');
    };
    const deactivate = () => mapLimit(names, 32, (name) => admin.request('PATCH', path(name), [
      { op: 'replace', path: '/spec/replicas', value: 0 }, { op: 'add', path: '/metadata/annotations/lifeboat.dev~1deactivated', value: 'true' },
      { op: 'add', path: '/metadata/annotations/lifeboat.dev~1replicas', value: '1' },
    ], { contentType: 'application/json-patch+json' }), signal);
    const awake = async () => (await admin.request<{ items: { spec: { replicas: number } }[] }>('GET', path())).items.filter((item) => item.spec.replicas === 1).length;

    // Rounds of both, each from a settled cluster, medians reported: the controllers' reaction to a thousand
    // wake-ups (a Pod each) lands on whichever phase it overlaps, and one round swung the ratio from 0.7 to 1.7.
    const ceilings: number[] = [];
    const lifeboats: number[] = [];
    let status: Awaited<ReturnType<Restorer['run']>> | undefined;
    for (let round = 1; round <= rounds; round++) {
      await settled();
      log(`recovery ${round}/${rounds}: ceiling — waking ${count} Deployments by direct patches, ${concurrency} in flight`);
      let started = performance.now();
      await mapLimit(names, concurrency, (name) => writer.request('PATCH', path(name), [{ op: 'replace', path: '/spec/replicas', value: 1 }], { contentType: 'application/json-patch+json' }), signal);
      ceilings.push((performance.now() - started) / 1000);
      await deactivate();
      await settled();

      log(`recovery ${round}/${rounds}: lifeboat recover — ${count} Deployments`);
      started = performance.now();
      const restorer = new Restorer({
        plan, mirrorDir: plan, jobName: `bench-${plan}-${round}`, destination: writer, repository: undefined, state: new CommandState(), identities: [], concurrency, log: silentLogger,
      });
      status = await restorer.run({ dryRun: false });
      lifeboats.push((performance.now() - started) / 1000);
      const woken = await awake();
      if (woken !== count) throw new Error(`recovery: ${woken} of ${count} Deployments awake after lifeboat recover`);
      log(`recovery ${round}/${rounds}: ceiling ${ceilings.at(-1)!.toFixed(1)}s, lifeboat ${lifeboats.at(-1)!.toFixed(1)}s (job: ${status.recoverySeconds?.toFixed(1)}s, ${status.phase})`);
      if (round < rounds) await deactivate();
    }
    const ceilingSeconds = median(ceilings);
    const seconds = median(lifeboats);
    const failed = Object.values(status?.counts ?? {}).reduce((sum, entry) => sum + (entry.failed ?? 0), 0);
    return { deployments: count, ceilingSeconds, seconds, ratio: seconds / ceilingSeconds, phase: status?.phase, failed, ceilingRounds: ceilings, lifeboatRounds: lifeboats };
  } finally {
    for (let round = 1; round <= rounds; round++) {
      await admin.request('DELETE', `/apis/lifeboat.dev/v1alpha1/namespaces/${jobsNamespace}/recoveryexecutionjobs/bench-${plan}-${round}`).catch(() => undefined);
    }
    await deleteNamespaces(admin, [namespace], 120_000);
  }
}
