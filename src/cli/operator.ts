// `lifeboat operator`: the plans come from RecoveryPlan and ManagedCluster resources of one namespace of the
// operator's own cluster, and each plan's status goes back on its resource (src/operator). The rest is `lifeboat
// run`'s (daemon.ts): NATS, Redis, the mirror, metrics and readiness, signals.
import os from 'node:os';
import type { Command } from 'commander';
import { KubeClient, loadKubeConfig } from '../kube/client.ts';
import { inCluster, loadInClusterConfig } from '../kube/in-cluster.ts';
import { Operator } from '../operator/operator.ts';
import { Runtime } from '../runtime/runtime.ts';
import { daemonOptions, runDaemon, type DaemonFlags } from './daemon.ts';
import { sharedOptions } from './options.ts';

/** The namespace outside a pod, when none is given. */
export const defaultNamespace = 'lifeboat-system';

interface OperatorFlags extends DaemonFlags {
  kubeconfig?: string;
  context?: string;
  namespace?: string;
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
    .description('run the plans defined as RecoveryPlan and ManagedCluster resources of a namespace, and write their status back'), ['mirror', 'redis', 'nats']))
    .option('--kubeconfig <file>', "the operator's own cluster (default: in a pod its service account, else $KUBECONFIG or ~/.kube/config)")
    .option('--context <name>', 'the kubeconfig context of that cluster (default: its current-context)')
    .option('--namespace <ns>', `the namespace whose resources it runs (default: its own in a pod, else ${defaultNamespace})`)
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
list secrets in namespace shop"); SourceWritable=True warns of a source identity that can write. In a pod, LIFEBOAT_SERVICEACCOUNT_DIR replaces the token directory.`)
    .action(async (options: OperatorFlags, command: Command) => {
      const cluster = ownCluster(options);
      await runDaemon(command, options, 'operator', async ({ log, bus, state, mirror, metrics, pusher, identities, components }) => {
        const client = await KubeClient.create(cluster.kubeConfig, { maxSockets: 8 });
        const runtime = new Runtime({ mirror, bus, state, metrics, log, identities, pusher, components });
        // One replica writes the ManagedClusters' statuses: the holder of this lease (a plan name no plan can have).
        const clusterLease = state.lock('_operator', 'clusters');
        const operator = new Operator({ client, namespace: cluster.namespace, runtime, log, instance: `${os.hostname()}/${process.pid}`, clusterLease });
        const service = {
          start: () => operator.start(),
          stop: async () => {
            await operator.stop();
            client.close();
          },
          readiness: () => operator.readiness(),
        };
        return { service, describe: { cluster: cluster.where, server: client.server.origin, namespace: cluster.namespace } };
      });
    });
}
