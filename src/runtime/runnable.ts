// A stage of one plan's pipeline as something that can be started and stopped (controller-runtime's Runnable):
// the listener, processor, mirror writer, synchronizer and reconciler each are one. A stage that must run once per
// plan across every lifeboat process is wrapped in a lease (`Leased`), which starts it when this process takes the
// lease and stops it when the lease is lost or handed over; the stage itself knows nothing of leases.
import type { Lease } from '../state/state.ts';
import type { Logger } from '../util/log.ts';

/** Ready, or why not (one line for /readyz and the plan's status). */
export type Readiness = { ready: true } | { ready: false; reason: string };

export const ready: Readiness = { ready: true };
export const notReady = (reason: string): Readiness => ({ ready: false, reason });

export interface Runnable {
  /** The component it is (`listener`, `processor`, `mirror`, `synchronizer`, `reconciler`). */
  readonly name: string;
  /** Starts its work and resolves once it runs (its initial work, e.g. a list, goes on in the background). */
  start(signal: AbortSignal): Promise<void>;
  /** Finishes what it holds (a batch, a pass) and stops; safe to call when never started or already stopped. */
  stop(): Promise<void>;
  readiness(): Readiness;
}

/**
 * Stops runnables in the order of `order` (names not in it last, in the order given): each stage finishes what the
 * previous one handed it before it stops. Errors of one do not keep the others running.
 */
export async function stopInOrder(runnables: readonly Runnable[], order: readonly string[], log: Logger): Promise<void> {
  const rank = (runnable: Runnable) => {
    const index = order.indexOf(runnable.name);
    return index === -1 ? order.length : index;
  };
  for (const runnable of [...runnables].sort((a, b) => rank(a) - rank(b))) {
    await runnable.stop().catch((error: Error) => log.warn({ component: runnable.name, err: error.message }, 'stopped with an error'));
  }
}

/** How many leases of a component this process may hold now (its fair share), and whether to hand one back. */
export interface LeaseAllowance {
  /** True when this process may take one more lease of `component`. */
  mayTake(component: string): boolean;
  /** True when this process holds more than its share of `component` and should hand one lease back. */
  shouldYield(component: string): boolean;
  held(component: string, delta: 1 | -1): void;
}

export const unlimited: LeaseAllowance = { mayTake: () => true, shouldYield: () => false, held: () => undefined };

export interface LeasedOptions {
  lease: Lease;
  /** How often to try for the lease while another process holds it (and to check the fair share). */
  retryMs: number;
  allowance?: LeaseAllowance;
  log: Logger;
}

/**
 * A runnable started only while this process holds its lease. Not holding it is a ready stand-by: the holder does the
 * work, and this process takes over within `retryMs` of the lease expiring (the holder died) or being handed back.
 */
export class Leased implements Runnable {
  readonly name: string;
  private readonly inner: Runnable;
  private readonly options: LeasedOptions;
  private timer: NodeJS.Timeout | undefined;
  private running = false;
  private stopped = true;
  /** The inner runnable's start or stop in progress: one transition at a time. */
  private transition: Promise<void> = Promise.resolve();
  private controller: AbortController | undefined;
  /** After handing the lease back, this process leaves it to the others for a while. */
  private yieldedUntil = 0;

  constructor(inner: Runnable, options: LeasedOptions) {
    this.name = inner.name;
    this.inner = inner;
    this.options = options;
  }

  get holder(): boolean {
    return this.running;
  }

  async start(signal: AbortSignal): Promise<void> {
    this.stopped = false;
    signal.addEventListener('abort', () => void this.stop(), { once: true });
    await this.tick();
    const schedule = () => {
      this.timer = setTimeout(() => void this.tick().catch((error: Error) => this.options.log.warn({ component: this.name, err: error.message }, 'lease check failed; retrying')).finally(() => {
        if (!this.stopped) schedule();
      }), this.options.retryMs);
    };
    schedule();
  }

  /** One look at the lease: take it when free and allowed, hand it back when this process holds more than its share. */
  private tick(): Promise<void> {
    this.transition = this.transition.then(async () => {
      const { lease, allowance = unlimited, log } = this.options;
      if (this.stopped) return;
      if (this.running) {
        if (!allowance.shouldYield(this.name)) return;
        log.info({ component: this.name }, 'handing the lease over: this process holds more than its share');
        this.yieldedUntil = Date.now() + 3 * this.options.retryMs;
        await this.release();
        return;
      }
      if (Date.now() < this.yieldedUntil || !allowance.mayTake(this.name)) return;
      // Counted before the acquire, not after: the other plans' looks run meanwhile, and each must see this one, or
      // every plan of a process starting together takes its lease (and hands the extra ones back a pass later).
      allowance.held(this.name, 1);
      let acquired = false;
      try {
        acquired = await lease.tryAcquire();
      } finally {
        if (!acquired || this.stopped) allowance.held(this.name, -1);
      }
      if (!acquired) return;
      if (this.stopped) {
        await lease.release();
        return;
      }
      this.running = true;
      log.info({ component: this.name }, 'took the lease; starting');
      lease.keepAlive(() => {
        log.warn({ component: this.name }, 'lost the lease; another process runs this stage now');
        this.transition = this.transition.then(() => this.release());
      });
      this.controller = new AbortController();
      try {
        await this.inner.start(this.controller.signal);
      } catch (error) {
        log.warn({ component: this.name, err: (error as Error).message }, 'stage failed to start; handing the lease back');
        await this.release();
      }
    });
    return this.transition;
  }

  /** Stops the inner runnable and gives the lease up (a no-op when not running). */
  private async release(): Promise<void> {
    if (!this.running) return;
    this.running = false;
    this.options.allowance?.held(this.name, -1);
    this.controller?.abort();
    await this.inner.stop();
    await this.options.lease.release();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    this.transition = this.transition.then(() => this.release());
    await this.transition;
  }

  readiness(): Readiness {
    return this.running ? this.inner.readiness() : ready;
  }
}
