// `lifeboat operator --all-namespaces`: every namespace that holds a RecoveryPlan or a RecoveryExecutionJob gets the
// controller one namespace has (operator.ts), all of them sharing one Runtime, so plans of several teams' namespaces
// spread over the same replicas. Two cluster-wide informers say which namespaces those are; a namespace whose last
// plan and job are gone loses its controller (its plans stop; the stand-by keeps their objects). Plan names are
// unique across the namespaces (PlanNames): a name names a plan's mirror directory, streams and state.
import { Informer } from '../kube/informer.ts';
import { apiGroup, apiVersion, Kind, resourceNames } from '../plan/schema.ts';
import type { Logger } from '../util/log.ts';
import { Operator, PlanNames, type OperatorOptions } from './operator.ts';

export class AllNamespaces {
  private readonly options: Omit<OperatorOptions, 'namespace'> & { runtime: NonNullable<OperatorOptions['runtime']> };
  private readonly log: Logger;
  private readonly informers: Informer[];
  private readonly operators = new Map<string, Operator>();
  private readonly names = new PlanNames();
  private passes: Promise<void> = Promise.resolve();
  private stopped = false;

  constructor(options: Omit<OperatorOptions, 'namespace'> & { runtime: NonNullable<OperatorOptions['runtime']> }) {
    this.options = options;
    this.log = options.log.child({ component: 'operator', scope: 'all namespaces' });
    this.informers = [Kind.recoveryPlan, Kind.recoveryExecutionJob].map((kind) => new Informer({
      client: options.client, path: `/apis/${apiVersion}/${resourceNames[kind].plural}`, keyBy: 'namespace/name',
      type: { group: apiGroup, version: apiVersion.split('/')[1]!, kind }, log: this.log, onChange: () => this.schedule(),
    }));
  }

  async start(): Promise<void> {
    await this.options.runtime.start();
    for (const informer of this.informers) informer.start();
    await Promise.all(this.informers.map((informer) => informer.ready));
    this.schedule();
    await this.passes;
  }

  private schedule(): void {
    this.passes = this.passes.then(() => this.follow()).catch((error: Error) => this.log.error({ err: error.message }, 'cannot follow the namespaces; retrying at the next change'));
  }

  /** A controller for each namespace with a plan or a job, none for the others. */
  private async follow(): Promise<void> {
    if (this.stopped) return;
    const namespaces = new Set(this.informers.flatMap((informer) => [...informer.objects().values()].map((object) => object.metadata.namespace ?? '')));
    for (const [namespace, operator] of [...this.operators]) {
      if (namespaces.has(namespace)) continue;
      this.operators.delete(namespace);
      this.log.info({ namespace }, 'no plan or job left in the namespace; stopping its controller');
      await operator.stop();
    }
    for (const namespace of [...namespaces].sort()) {
      if (this.operators.has(namespace)) continue;
      this.log.info({ namespace }, 'following the namespace');
      const operator = new Operator({ ...this.options, namespace, shared: { names: this.names } });
      this.operators.set(namespace, operator);
      await operator.start();
    }
  }

  readiness(): { ready: boolean; reasons: string[] } {
    const reasons = new Set<string>();
    for (const informer of this.informers) if (!informer.listed || informer.failing) reasons.add(`cluster-wide list of ${informer === this.informers[0] ? 'recoveryplans' : 'recoveryexecutionjobs'}: ${informer.failing?.error ?? 'not listed yet'}`);
    for (const operator of this.operators.values()) for (const reason of operator.readiness().reasons) reasons.add(reason);
    return { ready: reasons.size === 0, reasons: [...reasons] };
  }

  async stop(): Promise<void> {
    this.stopped = true;
    await Promise.all(this.informers.map((informer) => informer.stop()));
    await this.passes;
    await Promise.all([...this.operators.values()].map((operator) => operator.stop()));
    await this.options.runtime.stop();
  }
}
