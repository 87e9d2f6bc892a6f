// `lifeboat cluster add | list | remove`: connecting a cluster to `lifeboat operator` as `argocd cluster add` does.
// add applies manifests/source (or manifests/destination) in the cluster with an admin's context, waits for the token
// of their ServiceAccount, and stores a kubeconfig for it as a Secret next to the operator with a ManagedCluster
// naming it; list shows what the operator's preflight wrote; remove undoes add. The objects are src/cluster's.
import fs from 'node:fs';
import type { Command } from 'commander';
import { apply, orThrow, read, remove } from '../kube/apply.ts';
import { KubeClient, loadKubeConfig } from '../kube/client.ts';
import type { KubeObject } from '../kube/ref.ts';
import {
  accessObjectPath, allAccessObjects, ClusterRole, clusterAddManager, clusterRows, clusterSecret,
  clusterSecretName, describeObject, managedByLabel, managedCluster, partOfLabel, plansNaming, roleAccessObjects, roleLabel, tokenKubeconfig, tokenSecretOf,
} from '../cluster/registration.ts';
import { applyAction } from '../plan/apply-set.ts';
import { apiGroup, apiVersion } from '../plan/schema.ts';
import { formatTable } from './format.ts';
import { defaultNamespace } from './operator.ts';
import { UsageError } from './options.ts';
import { describe } from './commands.ts';

interface OperatorFlags {
  namespace: string;
  kubeContextOfOperator?: string;
  operatorKubeconfig?: string;
  kubeconfig?: string;
}

interface AddFlags extends OperatorFlags {
  context: string;
  role: string;
  secrets?: boolean;
  server?: string;
  tokenTimeout: string;
}

interface RemoveFlags extends OperatorFlags {
  context?: string;
  role?: string;
  force?: boolean;
}

const dnsLabel = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;

function checkName(name: string): void {
  // The Secret's name is lifeboat-cluster-NAME; a plan names the cluster as a DNS-1123 label.
  if (!dnsLabel.test(name) || name.length > 63) throw new UsageError(`cluster name ${JSON.stringify(name)}: must be a DNS-1123 label (lowercase letters, digits and '-', at most 63 characters)`);
}

function checkRole(role: string): ClusterRole {
  if (role !== ClusterRole.source && role !== ClusterRole.destination) throw new UsageError(`--role ${JSON.stringify(role)}: must be source or destination`);
  return role;
}

const managedClustersPath = (namespace: string, name?: string) => `/apis/${apiVersion}/namespaces/${namespace}/managedclusters${name ? `/${name}` : ''}`;
const recoveryPlansPath = (namespace: string) => `/apis/${apiVersion}/namespaces/${namespace}/recoveryplans`;

/** The operator's cluster: --operator-kubeconfig (else --kubeconfig, else the default chain), --kube-context-of-operator (else the current context). */
async function operatorClient(flags: OperatorFlags): Promise<KubeClient> {
  return KubeClient.create(loadKubeConfig({ path: flags.operatorKubeconfig ?? flags.kubeconfig, context: flags.kubeContextOfOperator }));
}

const where = (client: KubeClient) => `context ${client.contextName} (${client.server.origin})`;

/** The operator's namespace exists and its cluster serves ManagedClusters: checked before anything is written anywhere. */
async function requireOperatorSide(client: KubeClient, namespace: string): Promise<void> {
  const group = await read<{ resources?: { name: string }[] }>(client, `/apis/${apiVersion}`);
  if (!group?.resources?.some((resource) => resource.name === 'managedclusters')) {
    throw new Error(`${where(client)} has no CRD managedclusters.${apiGroup}: install the CRDs there first (kubectl apply --server-side -f manifests/crds/), or pass the operator's cluster with --kube-context-of-operator`);
  }
  if (!(await read(client, `/api/v1/namespaces/${namespace}`))) {
    throw new Error(`${where(client)} has no namespace ${namespace}: create it (kubectl create namespace ${namespace}) or pass the operator's namespace with --namespace`);
  }
}

/** Applies one object and says what it did: created, configured or unchanged. */
async function applyObject(client: KubeClient, path: string, object: KubeObject): Promise<string> {
  const before = await read(client, path);
  try {
    orThrow(await apply(client, path, object, { fieldManager: clusterAddManager, force: true }));
  } catch (error) {
    throw new Error(`${describeObject(object)} in ${where(client)}: ${(error as Error).message}`, { cause: error });
  }
  const after = await read(client, path);
  if (!after) throw new Error(`${describeObject(object)} in ${where(client)}: gone right after it was applied (deleted by someone else?)`);
  return applyAction(before, after, false);
}

/** The token the token controller writes into a service-account-token Secret, waited for until `timeoutMs`. */
async function waitForToken(client: KubeClient, secret: KubeObject, timeoutMs: number): Promise<string> {
  const path = accessObjectPath(secret);
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const found = await read<{ data?: Record<string, string> }>(client, path);
    const token = found?.data?.token;
    if (token) return Buffer.from(token, 'base64').toString('utf8');
    if (Date.now() >= deadline) {
      throw new Error(`${describeObject(secret)} in ${where(client)}: no token after ${timeoutMs / 1000} s; the cluster's kube-controller-manager fills it in (its serviceaccount-token controller): is it running?`);
    }
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
}

/** The server and CA of a context's cluster entry, as the kubeconfig for the token carries them. */
function clusterEntry(kubeconfig: string | undefined, context: string, serverOverride: string | undefined) {
  const kubeConfig = loadKubeConfig({ path: kubeconfig, context });
  const cluster = kubeConfig.getCurrentCluster();
  if (!cluster) throw new Error(`kubeconfig context ${context} names no cluster`);
  let caData = cluster.caData;
  if (!caData && cluster.caFile) {
    try {
      caData = fs.readFileSync(cluster.caFile).toString('base64');
    } catch (error) {
      throw new Error(`context ${context}: its certificate-authority ${cluster.caFile} cannot be read (${(error as NodeJS.ErrnoException).code ?? 'error'})`, { cause: error });
    }
  }
  let server = cluster.server;
  if (serverOverride !== undefined) {
    let url: URL;
    try {
      url = new URL(serverOverride);
    } catch {
      throw new UsageError(`--server ${JSON.stringify(serverOverride)}: not a URL (e.g. https://api.source.example.com:6443)`);
    }
    if (url.protocol !== 'https:' && url.protocol !== 'http:') throw new UsageError(`--server ${JSON.stringify(serverOverride)}: not an https:// URL`);
    server = serverOverride;
  }
  return { kubeConfig, server, caData, insecureSkipTlsVerify: cluster.skipTLSVerify };
}

function objectError(what: string, client: KubeClient, error: unknown): Error {
  return new Error(`${what} in ${where(client)}: ${error instanceof Error ? error.message : String(error)}`, { cause: error });
}

async function addCluster(name: string, flags: AddFlags): Promise<void> {
  checkName(name);
  const role = checkRole(flags.role);
  if (flags.secrets && role !== ClusterRole.source) throw new UsageError('--secrets: only a source reads Secrets (a destination writer may write them already)');
  const timeoutMs = Number(flags.tokenTimeout);
  if (!Number.isFinite(timeoutMs) || timeoutMs <= 0) throw new UsageError(`--token-timeout ${JSON.stringify(flags.tokenTimeout)}: milliseconds, a positive number`);
  const objects = roleAccessObjects(role, flags.secrets ?? false);
  const tokenSecret = tokenSecretOf(objects);
  const entry = clusterEntry(flags.kubeconfig, flags.context, flags.server);
  const operator = await operatorClient(flags);
  const target = await KubeClient.create(entry.kubeConfig);
  const say = (line: string) => process.stdout.write(`${line}\n`);
  try {
    await requireOperatorSide(operator, flags.namespace);
    for (const object of objects) say(`${describeObject(object)} ${await applyObject(target, accessObjectPath(object), object)} (context ${flags.context})`);
    const token = await waitForToken(target, tokenSecret, timeoutMs);
    say(`${describeObject(tokenSecret)} holds a token (context ${flags.context})`);
    const kubeconfig = tokenKubeconfig({ name, server: entry.server, caData: entry.caData, insecureSkipTlsVerify: entry.insecureSkipTlsVerify, token });
    const secret = clusterSecret(name, flags.namespace, kubeconfig);
    say(`Secret ${flags.namespace}/${clusterSecretName(name)} ${await applyObject(operator, accessObjectPath(secret), secret)} (kubeconfig for ${entry.server}, context ${operator.contextName})`);
    const cluster = managedCluster(name, flags.namespace, role);
    say(`ManagedCluster ${flags.namespace}/${name} ${await applyObject(operator, managedClustersPath(flags.namespace, name), cluster)} (role ${role}, context ${operator.contextName})`);
    const kubectlContext = flags.kubeContextOfOperator ? ` --context ${flags.kubeContextOfOperator}` : '';
    say(`The operator checks its permissions within a minute: kubectl${kubectlContext} wait -n ${flags.namespace} --for=condition=Ready managedcluster/${name}`);
  } finally {
    target.close();
    operator.close();
  }
}

async function listPaged(client: KubeClient, path: string, kind: string): Promise<KubeObject[]> {
  const [group, version] = apiVersion.split('/') as [string, string];
  const items: KubeObject[] = [];
  for await (const page of client.listPages(path, { group, version, kind })) items.push(...page.items);
  return items;
}

async function listClusters(flags: OperatorFlags): Promise<void> {
  const client = await operatorClient(flags);
  try {
    await requireOperatorSide(client, flags.namespace);
    const clusters = await listPaged(client, managedClustersPath(flags.namespace), 'ManagedCluster');
    const plans = await listPaged(client, recoveryPlansPath(flags.namespace), 'RecoveryPlan').catch(() => []);
    if (!clusters.length) {
      process.stderr.write(`No ManagedClusters in namespace ${flags.namespace} (${where(client)}).\n`);
      return;
    }
    const rows = clusterRows(clusters, plans).map((row) => [row.name, row.role, row.ready, row.reason, row.message]);
    process.stdout.write(formatTable(['NAME', 'ROLE', 'READY', 'REASON', 'MESSAGE'], rows));
  } finally {
    client.close();
  }
}

async function removeCluster(name: string, flags: RemoveFlags): Promise<void> {
  checkName(name);
  const roleFlag = flags.role === undefined ? undefined : checkRole(flags.role);
  const say = (line: string) => process.stdout.write(`${line}\n`);
  const operator = await operatorClient(flags);
  try {
    await requireOperatorSide(operator, flags.namespace);
    const plans = await listPaged(operator, recoveryPlansPath(flags.namespace), 'RecoveryPlan');
    const naming = plansNaming(name, plans);
    if (naming.length && !flags.force) {
      const listed = naming.map((entry) => `${entry.plan} (${entry.roles.join(' and ')})`).join(', ');
      throw new Error(`ManagedCluster ${name} is still named by RecoveryPlan ${listed} in namespace ${flags.namespace}: change or delete those plans first, or pass --force`);
    }
    const cluster = await read<KubeObject & { spec?: { secretRef?: { name?: string } } }>(operator, managedClustersPath(flags.namespace, name));
    const labels = (cluster?.metadata as { labels?: Record<string, string> } | undefined)?.labels ?? {};
    const role = roleFlag ?? (labels[roleLabel] === ClusterRole.destination ? ClusterRole.destination : ClusterRole.source);
    if (cluster) {
      const outcome = await remove(operator, managedClustersPath(flags.namespace, name));
      if (outcome.action === 'failed') throw objectError(`ManagedCluster ${flags.namespace}/${name}`, operator, outcome.error);
      say(`ManagedCluster ${flags.namespace}/${name} deleted${naming.length ? ` (still named by ${naming.map((entry) => entry.plan).join(', ')}: --force)` : ''}`);
    } else say(`ManagedCluster ${flags.namespace}/${name} absent`);
    // The Secret cluster add made; one the ManagedCluster names but someone else made is not ours to delete.
    const secretName = clusterSecretName(name);
    const secretPath = `/api/v1/namespaces/${flags.namespace}/secrets/${secretName}`;
    const secret = await read<KubeObject>(operator, secretPath);
    if (!secret) say(`Secret ${flags.namespace}/${secretName} absent`);
    else if ((secret.metadata as { labels?: Record<string, string> }).labels?.[managedByLabel] !== clusterAddManager) say(`Secret ${flags.namespace}/${secretName} kept (not labelled ${managedByLabel}=${clusterAddManager})`);
    else {
      const outcome = await remove(operator, secretPath);
      if (outcome.action === 'failed') throw objectError(`Secret ${flags.namespace}/${secretName}`, operator, outcome.error);
      say(`Secret ${flags.namespace}/${secretName} deleted`);
    }
    const named = cluster?.spec?.secretRef?.name;
    if (named && named !== secretName) say(`Secret ${flags.namespace}/${named} kept (named by the ManagedCluster, not made by lifeboat cluster add)`);
    if (flags.context) await removeAccess(flags, role, say);
    else say(`The objects in the cluster itself are kept: lifeboat cluster remove ${name} --context CTX deletes them (or kubectl delete -k manifests/${role})`);
  } finally {
    operator.close();
  }
}

/** Deletes, in reverse order, the access objects a role's manifests name that carry app.kubernetes.io/part-of=lifeboat. */
async function removeAccess(flags: RemoveFlags, role: ClusterRole, say: (line: string) => void): Promise<void> {
  const target = await KubeClient.create(loadKubeConfig({ path: flags.kubeconfig, context: flags.context }));
  try {
    for (const object of allAccessObjects(role).reverse()) {
      const path = accessObjectPath(object);
      const found = await read<KubeObject>(target, path);
      const what = `${describeObject(object)} (context ${flags.context})`;
      if (!found) {
        say(`${what} absent`);
        continue;
      }
      if ((found.metadata as { labels?: Record<string, string> }).labels?.[partOfLabel] !== 'lifeboat') {
        say(`${what} kept (not labelled ${partOfLabel}=lifeboat)`);
        continue;
      }
      const outcome = await remove(target, path);
      if (outcome.action === 'failed') throw objectError(describeObject(object), target, outcome.error);
      say(`${what} deleted`);
    }
  } finally {
    target.close();
  }
}

function operatorOptions(command: Command): Command {
  return command
    .option('--namespace <ns>', "the operator's namespace (its ManagedClusters and their Secrets)", defaultNamespace)
    .option('--kube-context-of-operator <name>', "the kubeconfig context of the operator's cluster (default: the current context)")
    .option('--operator-kubeconfig <file>', "the kubeconfig of the operator's cluster (default: --kubeconfig, else $KUBECONFIG or ~/.kube/config)")
    .option('--kubeconfig <file>', 'the kubeconfig holding --context (default: $KUBECONFIG or ~/.kube/config)');
}

const exitCodes = '\nExit codes: 0 ok; 1 failed (a cluster unreachable, a request refused, no token, a plan still naming the cluster); 2 usage. An error is one line on stderr; no token is ever printed.';

export function registerCluster(program: Command): void {
  const cluster = program.command('cluster').description(describe('cluster'));

  operatorOptions(cluster.command('add').description('give lifeboat a least-privilege identity in a cluster and register it with the operator as a ManagedCluster')
    .argument('<name>', 'the ManagedCluster name (what plans name as source.cluster or destination.cluster)')
    .requiredOption('--context <name>', 'an admin context of the cluster to add: it applies the identity there'))
    .option('--role <role>', 'source (read-only: manifests/source) or destination (the synchronizer\'s writes: manifests/destination)', ClusterRole.source)
    .option('--secrets', 'a source may read Secrets too (manifests/source/secrets): only for plans that replicate Secrets')
    .option('--server <url>', "the API server's address as the operator reaches it (default: the server of --context's cluster entry)")
    .option('--token-timeout <ms>', 'how long to wait for the token controller to fill in the token Secret', '60000')
    .addHelpText('after', `
In the cluster of --context (server-side apply, field manager ${clusterAddManager}), the objects of manifests/source
(--secrets: manifests/source/secrets as well; --role destination: manifests/destination): a ServiceAccount in kube-system, its
ClusterRole and binding, and a token Secret. Once the token controller has filled the token in, a kubeconfig for it
(the server and CA of --context's cluster entry, or --server) is stored in the operator's cluster as Secret
lifeboat-cluster-NAME (key kubeconfig, label ${managedByLabel}=${clusterAddManager}) of --namespace, and
ManagedCluster NAME with spec.secretRef naming it (label ${roleLabel}=ROLE). One line per object. Running it
again updates everything in place (a new --server, a rotated token). Then the operator's preflight writes Ready:
  kubectl wait -n ${defaultNamespace} --for=condition=Ready managedcluster/NAME
The identity's objects have fixed names: one per cluster, shared by every ManagedCluster added from that cluster.${exitCodes}`)
    .action((name: string, flags: AddFlags) => addCluster(name, flags));

  operatorOptions(cluster.command('list').description("each ManagedCluster of the operator's namespace, with the Ready condition its preflight wrote"))
    .addHelpText('after', `
Columns: NAME; ROLE (the label cluster add set, else source and/or destination from the plans naming it, else -);
READY, REASON (Verified, PermissionDenied, Unreachable, ClusterNotReadable) and MESSAGE (shortened; the whole one:
kubectl describe managedcluster NAME) of the Ready condition, Unknown until the operator has checked.${exitCodes}`)
    .action((flags: OperatorFlags) => listClusters(flags));

  operatorOptions(cluster.command('remove').description('undo cluster add: delete the ManagedCluster and its Secret, and with --context the identity in the cluster')
    .argument('<name>', 'the ManagedCluster name'))
    .option('--context <name>', 'an admin context of the removed cluster: also delete the objects cluster add applied there')
    .option('--role <role>', 'whose objects --context deletes, source or destination (default: the ManagedCluster\'s label, else source)')
    .option('--force', 'remove it even though RecoveryPlans of the namespace still name it')
    .addHelpText('after', `
Refused (exit 1, nothing deleted) while a RecoveryPlan of the namespace names the cluster, unless --force. Deleted:
ManagedCluster NAME, Secret lifeboat-cluster-NAME when labelled ${managedByLabel}=${clusterAddManager}; with --context,
the objects of manifests/source (Secrets reader included) or manifests/destination that carry
${partOfLabel}=lifeboat. Those are one per cluster: other ManagedClusters added from the same cluster lose them too.${exitCodes}`)
    .action((name: string, flags: RemoveFlags) => removeCluster(name, flags));
}
