// Mirror writer: objects stream → commits on the mirror branch → commits stream. One per plan across every lifeboat
// process (the runner wraps it in a lease); messages are acknowledged once their commit exists.
import type { Subscription } from '../../bus/bus.ts';
import { objectMessagesOf, type ObjectMessage } from '../../pipeline/messages.ts';
import { MirrorWriter, sharedAck, type Acknowledgeable } from '../../pipeline/mirror-writer.ts';
import type { Stall } from '../../pipeline/failures.ts';
import { parseDuration } from '../../plan/duration.ts';
import type { PlanPorts } from '../ports.ts';
import { notReady, ready, type Readiness, type Runnable } from '../runnable.ts';

export class MirrorStage implements Runnable {
  readonly name = 'mirror';
  private readonly ports: PlanPorts;
  private subscription: Subscription | undefined;
  writer: MirrorWriter | undefined;

  constructor(ports: PlanPorts) {
    this.ports = ports;
  }

  get consumer(): Subscription | undefined {
    return this.subscription;
  }

  private createWriter(): MirrorWriter {
    const { plan, name, compiled, mirror, bus, state, metrics, log } = this.ports;
    return new MirrorWriter({
      plan: name, mirrorDir: compiled.mirrorDir, repository: mirror,
      commitIntervalMs: parseDuration(plan.spec.sync.commitInterval), maxBatch: plan.spec.sync.maxBatch,
      trailers: () => ({ Plan: name, 'Plan-Revision': this.ports.planRevision() ?? 'unknown', 'Source-Cluster': this.ports.sourceCluster }),
      publishCommit: (message) => {
        this.ports.shortcuts?.handOver?.(message);
        return bus.publish('commits', name, message, `${name}:${message.commit}`);
      },
      onCommit: ({ durationMs, commit }) => {
        metrics.commits.inc({ plan: name });
        metrics.commitDuration.observe({ plan: name }, durationMs / 1000);
        state.setValue(name, 'mirror-head', commit).catch((error: Error) => log.warn({ err: error.message }, 'cannot record the mirror head in Redis'));
        this.ports.pusher?.request().catch((error: Error) => log.warn({ err: error.message }, 'cannot push the mirror; retrying with the next commit'));
      },
      onFailed: (message) => log.warn({ object: message.summary, reason: message.reason }, 'object cannot be processed'),
      guard: { ...plan.spec.deletes.guard, windowMs: parseDuration(plan.spec.deletes.guard.window) },
      decisions: {
        held: () => state.heldDeletes(name),
        hold: (entries) => state.holdDeletes(name, entries),
        rejected: () => state.rejectedDeletes(name),
        clear: (paths) => state.clearDeleteDecisions(name, paths),
      },
      onHeld: (_held, total) => metrics.heldDeletes.set({ plan: name }, total),
      paused: () => state.pausedPaths(name),
      versions: { load: () => state.committedVersions(name), record: (versions) => state.recordCommittedVersions(name, versions) },
      log: log.child({ component: 'mirror' }),
    });
  }

  async start(): Promise<void> {
    const { bus, name, plan, log } = this.ports;
    const writer = this.createWriter();
    this.writer = writer;
    log.info('this process is the mirror writer');
    this.subscription = await bus.consume({
      stream: 'objects', plan: name, durable: 'mirror', maxMessages: plan.spec.sync.maxBatch, manualAck: true,
      handle: async (messages, raws) => {
        log.debug({ component: 'mirror', messages: messages.length }, 'batching');
        const objects: ObjectMessage[] = [];
        const acks: (Acknowledgeable | undefined)[] = [];
        messages.forEach((message, index) => {
          const carried = objectMessagesOf(message);
          const raw = raws[index];
          if (carried.length === 0) {
            log.warn({ seq: raw?.seq }, 'not an object message; dropped');
            raw?.term();
            return;
          }
          const ack = raw && carried.length > 1 ? sharedAck(raw, carried.length) : raw;
          for (const object of carried) {
            objects.push(object);
            acks.push(ack);
          }
        });
        writer.add(objects, acks);
      },
      onError: (error) => log.warn({ err: error.message }, 'mirror error; retrying'),
      onDeadLetter: (message, error) => this.ports.deadLettered('mirror', message, error),
    });
  }

  /** Stops taking messages, then commits what it holds. */
  async stop(): Promise<void> {
    await this.subscription?.stop();
    this.subscription = undefined;
    await this.writer?.stop();
  }

  stalls(): Stall[] {
    const failure = this.subscription ? this.writer?.failure : undefined;
    if (!failure) return [];
    // git libraries do not always keep the errno code; the message names it.
    const unwritable = /\b(EROFS|EACCES|EPERM|ENOSPC|EDQUOT)\b/.test(`${failure.code ?? ''} ${failure.error}`);
    return [{ component: 'mirror', summary: unwritable ? 'mirror not writable' : 'mirror commits failing', error: failure.error, since: new Date(failure.since).toISOString() }];
  }

  readiness(): Readiness {
    const stall = this.stalls()[0];
    if (stall) return notReady(`${stall.summary} since ${stall.since}: ${stall.error}`);
    return this.subscription ? ready : notReady('mirror writer not consuming yet');
  }
}
