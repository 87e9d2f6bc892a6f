// What every stage of one plan is built from: the plan, small ports to the outside (kube clients, bus, state,
// mirror) and the plan's shared reporting (metrics, failures, dead letters). The optional in-process shortcuts —
// commits handed from the mirror writer to the synchronizer, the listener pacing on the synchronizer's backlog —
// exist only when those stages share a process (`Shortcuts`); apart, the same work goes through JetStream and Redis.
// Readiness never needs them: "initial sync done" is read from JetStream's consumer backlogs and Redis.
import type { Bus } from '../bus/bus.ts';
import type { KubeClient } from '../kube/client.ts';
import type { Metrics } from '../metrics/metrics.ts';
import type { MirrorPusher } from '../mirror/pusher.ts';
import type { MirrorRepository } from '../mirror/repository.ts';
import type { RecoveryPlan } from '../plan/schema.ts';
import type { StateStore } from '../state/state.ts';
import type { Logger } from '../util/log.ts';
import type { FailureStage, ObjectFailures } from '../pipeline/failures.ts';
import type { CommitMessage } from '../pipeline/messages.ts';
import type { CompiledPlan } from '../pipeline/processor.ts';

/** The pipeline's components, in pipeline order (and the order `--components` lists them). */
export const components = ['listener', 'processor', 'mirror', 'synchronizer', 'reconciler'] as const;
export type Component = (typeof components)[number];

/** `lifeboat operator --components recovery`: RecoveryExecutionJobs only, no pipeline stage (the 3-cluster stand-by). */
export const recoveryComponent = 'recovery';

/** `listener,mirror` → the set, or an error naming what is not a component. */
export function parseComponents(value: string): Set<Component> {
  const names = value.split(',').map((name) => name.trim()).filter(Boolean);
  const unknown = names.filter((name) => !(components as readonly string[]).includes(name));
  if (unknown.length || !names.length) throw new Error(`--components ${value}: ${unknown.length ? `unknown ${unknown.join(', ')}` : 'empty'} (components: ${components.join(', ')})`);
  return new Set(names as Component[]);
}

/** In-process shortcuts between stages that share a process (a stage sets its side when it starts). */
export interface Shortcuts {
  /** The mirror writer committed: the synchronizer here starts a pass at once (the stream message is then skipped). */
  handOver?: (message: CommitMessage) => void;
  /** Objects the synchronizer here has queued: an initial list waits while there are too many. */
  syncBacklog?: () => number | undefined;
}

export interface PlanPorts {
  name: string;
  plan: RecoveryPlan;
  compiled: CompiledPlan;
  bus: Bus;
  state: StateStore;
  mirror: MirrorRepository;
  metrics: Metrics;
  log: Logger;
  /** Present when a stage here needs it (listener, reconciler: source; synchronizer: destination). */
  source: KubeClient | undefined;
  sourceCluster: string;
  destination: KubeClient | undefined;
  identities: readonly string[];
  hashKey: string;
  planRevision: () => string | undefined;
  pusher: MirrorPusher | undefined;
  failures: ObjectFailures;
  objectFailed(stage: FailureStage, object: string, reason: string): void;
  deadLettered(stage: 'processor' | 'mirror' | 'synchronizer', message: unknown, error: Error): void;
  shortcuts: Shortcuts | undefined;
}

/** The client a stage needs, or a bug in the wiring. */
export function required(client: KubeClient | undefined, role: string): KubeClient {
  if (!client) throw new Error(`no ${role} client wired for this stage`);
  return client;
}
