// `lifeboat operator`: the plans come from RecoveryPlan and ManagedCluster resources of one namespace of the
// operator's own cluster, and each plan's status goes back on its resource (src/operator). The rest is `lifeboat
// run`'s (daemon.ts): NATS, Redis, the mirror, metrics and readiness, signals.
import os from 'node:os';
import type { Command } from 'commander';
import { KubeClient, loadKubeConfig } from '../kube/client.ts';
import { inCluster, loadInClusterConfig } from '../kube/in-cluster.ts';
import { eventRecorder } from '../operator/events.ts';
import { JobController, type JobControllerOptions } from '../operator/jobs.ts';
import { AllNamespaces } from '../operator/all-namespaces.ts';
import { Operator } from '../operator/operator.ts';
import { components, recoveryComponent } from '../runtime/ports.ts';
import { Runtime } from '../runtime/runtime.ts';
import { consoleTokenSecret, operatorConsoleToken } from '../console/server.ts';
import { daemonOptions, runDaemon, type DaemonFlags } from './daemon.ts';
import { urlWithoutCredentials } from '../util/redact.ts';
import { sharedOptions, sharedValues, UsageError } from './options.ts';
import { describe } from './commands.ts';

/** The namespace outside a pod, when none is given. */
export const defaultNamespace = 'lifeboat-system';

interface OperatorFlags extends DaemonFlags {
  kubeconfig?: string;
  context?: string;
  namespace?: string;
  allNamespaces?: boolean;
  planPollInterval: string;
  standbyNamespace?: string;
}

/**
 * The operator's own cluster: the kubeconfig and context given; else, in a pod, the in-cluster configuration (its
 * service-account token, CA and namespace); else the default kubeconfig chain.
 */
function ownCluster(flags: OperatorFlags) {
  if (flags.kubeconfig === undefined && flags.context === undefined && inCluster()) {
    const { kubeConfig, namespace } = loadInClusterConfig();
    return { kubeConfig, namespace: flags.namespace ?? namespace ?? defaultNamespace, where: 'in-cluster' };
  }
  const kubeConfig = loadKubeConfig({ path: flags.kubeconfig, context: flags.context });
  return { kubeConfig, namespace: flags.namespace ?? defaultNamespace, where: kubeConfig.getCurrentContext() };
}

export function registerOperator(program: Command): void {
  daemonOptions(sharedOptions(program.command('operator')
    .description(describe('operator')), ['plans', 'mirror', 'redis', 'nats']))
    .option('--kubeconfig <file>', "the operator's own cluster (default: in a pod its service account, else $KUBECONFIG or ~/.kube/config)")
    .option('--context <name>', 'the kubeconfig context of that cluster (default: its current-context)')
    .option('--namespace <ns>', `the namespace whose resources it runs (default: its own in a pod, else ${defaultNamespace})`)
    .option('-A, --all-namespaces', 'run the resources of every namespace (needs manifests/rbac/all-namespaces: a ClusterRole); plan names must then be unique across namespaces')
    .option('--plan-poll-interval <ms>', 'with --plans: how often the plans source is polled', '10000')
    .option('--standby-namespace <ns>', "3-cluster topology, the management cluster's operator: copy each plan it runs (spec, mirror remote, its clusters) into this namespace of the plan's destination cluster, where the stand-by's operator (--components recovery) recovers it alone")
    .addHelpText('after', `
Each RecoveryPlan is validated on its own, with the checks of \`lifeboat plan validate\` against the namespace's other
plans and ManagedClusters: an invalid one gets Ready=False (reason InvalidSpec, the message naming the field) and
is not run (a running plan whose new spec is invalid stops); the others run. A new spec restarts its plan within seconds; spec.suspend: true stops its writes; deleting a
RecoveryPlan stops its pipeline and leaves the stand-by's objects where they are. A ManagedCluster's
spec.kubeconfig.path is relative to the working directory; spec.secretRef reads the kubeconfig from a Secret of the
operator's namespace (key kubeconfig by default), watched: new data (rotated credentials) restarts the plans using it.
A missing Secret or key gives those plans Ready=False, reason ClusterNotReadable, naming it.
Each ManagedCluster gets a permission preflight with its own credentials (SelfSubjectAccessReview, on change and every
60 s): Ready=False, reason PermissionDenied, names what a source cannot read or a destination cannot write ("cannot
list secrets in namespace shop"); SourceWritable=True warns of a source identity that can write. In a pod,
LIFEBOAT_SERVICEACCOUNT_DIR replaces the token directory.

RecoveryExecutionJobs of the namespace are run once each, by one replica. With --plans SRC (a directory or a git
repository, as for lifeboat run) the plans come from SRC instead of resources, as lifeboat run runs them (status:
lifeboat status), and RecoveryExecutionJobs of the namespace still recover them. With --components recovery it runs
RecoveryExecutionJobs only (the stand-by's operator of the 3-cluster topology: no pipeline, no NATS).`)
    .action(async (options: OperatorFlags, command: Command) => {
      if (options.allNamespaces && options.namespace) throw new UsageError('give either --namespace or --all-namespaces, not both');
      if (options.allNamespaces && sharedValues(command).explicit.plans) throw new UsageError('--all-namespaces follows resources; with --plans the plans come from files: give one of them');
      // `--components recovery`: the stand-by's operator of the 3-cluster topology runs RecoveryExecutionJobs only
      // (another cluster's operator replicates); it needs no NATS and runs no pipeline.
      const recoveryOnly = options.components.split(',').map((name) => name.trim()).includes(recoveryComponent);
      if (recoveryOnly && options.components.trim() !== recoveryComponent) throw new UsageError(`--components ${options.components}: ${recoveryComponent} runs alone (an operator that only recovers runs no pipeline stage)`);
      if (recoveryOnly && (options.allNamespaces || sharedValues(command).explicit.plans)) throw new UsageError(`--components ${recoveryComponent} follows the resources of one namespace: leave out --all-namespaces and --plans`);
      const cluster = ownCluster(options);
      const shared = sharedValues(command);
      // Resources unless a plans source is given (--plans or $LIFEBOAT_PLANS).
      const plansSource = shared.explicit.plans ? shared.plans : undefined;
      const flags = recoveryOnly ? { ...options, components: components.join(',') } : options;
      await runDaemon(command, flags, 'operator', async ({ log, connectBus, state, mirror, metrics, pusher, identities, components: only }) => {
        const client = await KubeClient.create(cluster.kubeConfig, { maxSockets: 8 });
        const instance = `${os.hostname()}/${process.pid}`;
        const consoleSetup = {
          mode: 'operator' as const, token: () => operatorConsoleToken(client, cluster.namespace),
          tokenWhere: process.env.LIFEBOAT_CONSOLE_TOKEN ? '$LIFEBOAT_CONSOLE_TOKEN' : `Secret ${cluster.namespace}/${consoleTokenSecret}, key token`,
          noTokenHint: `create the Secret: kubectl -n ${cluster.namespace} create secret generic ${consoleTokenSecret} --from-literal=token=$(openssl rand -base64 24), then restart the operator`,
        };
        const describe = { cluster: cluster.where, server: client.server.origin, namespace: options.allNamespaces ? '*' : cluster.namespace, ...(plansSource ? { plans: plansSource } : {}) };
        if (plansSource) {
          const runtime = new Runtime({ plans: plansSource, mirror, bus: await connectBus(), state, metrics, log, identities, pusher, components: only, planPollMs: Number(options.planPollInterval) });
          return { service: filePlansOperator(runtime, client, cluster.namespace, instance, { state, metrics, mirror, identities, log }), describe, console: consoleSetup };
        }
        const runtime = recoveryOnly ? undefined : new Runtime({ mirror, bus: await connectBus(), state, metrics, log, identities, pusher, components: only, planGauges: false });
        if (recoveryOnly && options.standbyNamespace) throw new UsageError(`--standby-namespace is for the management cluster's operator; --components ${recoveryComponent} is the stand-by's`);
        // The stand-by's operator keeps its mirror in step with the remote the management cluster's operator pushes
        // to: every 10 s, and once more before each recovery (so a point in time of a minute ago is there).
        const refreshMirror = recoveryOnly && pusher ? () => withTimeout(pusher.fetchNow().then(() => undefined), 20_000, `fetching ${flags.mirrorRemote ?? 'the mirror remote'}`) : undefined;
        if (recoveryOnly) pusher?.start(10_000);
        const standby = options.standbyNamespace ? { namespace: options.standbyNamespace, ...(options.mirrorRemote ? { mirrorRemote: urlWithoutCredentials(options.mirrorRemote) } : {}) } : undefined;
        const parts = { client, runtime, state, metrics, mirror, identities, log, instance, own: { kubeConfig: cluster.kubeConfig, where: cluster.where }, standby, refreshMirror };
        const operator = options.allNamespaces && runtime ? new AllNamespaces({ ...parts, runtime }) : new Operator({ ...parts, namespace: cluster.namespace });
        if (recoveryOnly) Object.assign(describe, { components: [recoveryComponent] });
        const service = {
          start: () => operator.start(),
          stop: async () => {
            if (recoveryOnly) pusher?.stop();
            await operator.stop();
            client.close();
          },
          readiness: () => operator.readiness(),
          planContexts: () => runtime?.planContexts() ?? new Map(),
        };
        return { service, describe, console: consoleSetup };
      });
    });
}

/**
 * `--plans SRC`: the plans of a plans source run as `lifeboat run` runs them; the namespace's RecoveryExecutionJobs
 * recover them (a job names a plan of SRC).
 */
function filePlansOperator(runtime: Runtime, client: KubeClient, namespace: string, instance: string, parts: Pick<JobControllerOptions, 'state' | 'metrics' | 'mirror' | 'identities' | 'log'>) {
  const jobs = new JobController({
    ...parts, client, namespace, instance, recordEvent: eventRecorder(client, namespace, instance, parts.log), onDone: () => undefined,
    planOf: (name) => {
      const runner = runtime.runners.get(name);
      return runner ? { context: runner.context } : { error: `no plan ${name} runs from the plans source (${[...runtime.runners.keys()].join(', ') || 'none runs'})` };
    },
  });
  return {
    start: async () => {
      await runtime.start();
      await jobs.start();
    },
    stop: async () => {
      await jobs.stop();
      await runtime.stop();
      client.close();
    },
    planContexts: () => runtime.planContexts(),
    readiness: () => {
      const { ready, reasons } = runtime.readiness();
      const jobsReasons = !jobs.listed ? [`recoveryexecutionjobs in namespace ${namespace} not listed yet${jobs.failing ? `: ${jobs.failing.error}` : ''}`] : [];
      return { ready: ready && !jobsReasons.length, reasons: [...reasons, ...jobsReasons] };
    },
  };
}

function withTimeout<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([promise, new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`${what} took more than ${ms / 1000} s`)), ms)))])
    .finally(() => clearTimeout(timer));
}
