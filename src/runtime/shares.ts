// Fair shares of the plans' leases across lifeboat processes. Each process that runs a component says so every
// `heartbeatMs` (a Redis sorted set per component and peer group, entries lapsing after `ttlMs`); a process may hold at most
// ⌈plans ÷ live members⌉ leases of a component, and hands one back per look while it holds more (a process that
// joined gets its share; one that died is dropped from the count when its entry lapses, and the others take its
// plans as its leases expire). Without this the first process to start would take every lease.
import type { StateStore } from '../state/state.ts';
import type { Logger } from '../util/log.ts';
import type { LeaseAllowance } from './runnable.ts';

export interface SharesOptions {
  state: StateStore;
  /** This process, as it appears in the member sets and lease values. */
  member: string;
  /**
   * The processes that share these plans' leases: replicas of one installation, which write one mirror. Another
   * lifeboat on the same Redis (another installation, a test's process, a stray one) runs other plans and must not
   * count as a peer: it would lower this process's share and leave some of its plans without a holder.
   */
  group: string;
  components: readonly string[];
  /** Plans every process runs (they read the same plans). */
  plans: () => number;
  heartbeatMs: number;
  ttlMs: number;
  log: Logger;
}

export class LeaseShares implements LeaseAllowance {
  private readonly options: SharesOptions;
  private readonly members = new Map<string, number>();
  private readonly holding = new Map<string, number>();
  private timer: NodeJS.Timeout | undefined;

  constructor(options: SharesOptions) {
    this.options = options;
  }

  async start(): Promise<void> {
    await this.beat();
    this.timer = setInterval(() => void this.beat().catch((error: Error) => this.options.log.warn({ err: error.message }, 'cannot renew lease membership; retrying')), this.options.heartbeatMs);
  }

  private async beat(): Promise<void> {
    const { state, member, ttlMs } = this.options;
    await Promise.all(this.options.components.map(async (component) => {
      const members = await state.heartbeat(this.setOf(component), member, ttlMs);
      this.members.set(component, Math.max(1, members.length));
    }));
  }

  private setOf(component: string): string {
    return `${component}@${this.options.group}`;
  }

  /** ⌈plans ÷ members⌉: what each live process of `component` may hold. */
  share(component: string): number {
    return Math.max(1, Math.ceil(this.options.plans() / (this.members.get(component) ?? 1)));
  }

  mayTake(component: string): boolean {
    return (this.holding.get(component) ?? 0) < this.share(component);
  }

  shouldYield(component: string): boolean {
    return (this.holding.get(component) ?? 0) > this.share(component);
  }

  held(component: string, delta: 1 | -1): void {
    this.holding.set(component, (this.holding.get(component) ?? 0) + delta);
  }

  async stop(): Promise<void> {
    clearInterval(this.timer);
    await Promise.all(this.options.components.map((component) => this.options.state.leave(this.setOf(component), this.options.member).catch(() => undefined)));
  }
}
