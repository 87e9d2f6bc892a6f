// `lifeboat plan apply`: what a GitOps tool or the plans workflow does after a merge. The plan files are validated
// exactly as `plan validate` does (nothing is applied when one has an error), then server-side applied as RecoveryPlan
// and ManagedCluster resources of one namespace, for `lifeboat operator` to run; `--prune` deletes the ones it applied
// before that the files no longer define.
import type { Command } from 'commander';
import { apply, dryRunApply, orThrow, read, remove } from '../kube/apply.ts';
import { KubeClient, KubeError, loadKubeConfig } from '../kube/client.ts';
import type { KubeObject } from '../kube/ref.ts';
import {
  applyAction, applySet, appliedKinds, displayName, managedByLabel, planApplyManager, pruneCandidates, resourcePath,
  type AppliedKind, type PlanResource,
} from '../plan/apply-set.ts';
import { formatPlanError, hasErrors, loadPlans, readPlanFiles, Severity, summarize, type PlanFile } from '../plan/load.ts';
import { apiGroup, apiVersion } from '../plan/schema.ts';
import { createPlanSource, parsePlanSource } from '../plan/source.ts';
import { defaultNamespace } from './operator.ts';

interface ApplyFlags {
  kubeconfig?: string;
  context?: string;
  namespace: string;
  dryRun?: boolean;
  prune?: boolean;
}

/**
 * The plan files of a directory (read as `plan validate` reads them, paths as typed) or of a repository's newest
 * commit. Kubeconfig files are checked for a directory only: a repository's relative paths name no file here.
 */
async function readSource(given: string): Promise<{ files: PlanFile[]; checkKubeconfigFiles: boolean }> {
  const spec = parsePlanSource(given);
  if (spec.type === 'directory') return { files: await readPlanFiles([given]), checkKubeconfigFiles: true };
  return { files: (await createPlanSource(spec).snapshot()).files, checkKubeconfigFiles: false };
}

/** The API group's discovery document lists the CRDs' resources once they are installed and established. */
async function requireCrds(client: KubeClient): Promise<void> {
  const group = await read<{ resources?: { name: string }[] }>(client, `/apis/${apiVersion}`);
  const served = new Set((group?.resources ?? []).map((resource) => resource.name));
  const missing = appliedKinds.filter((type) => !served.has(type.plural)).map((type) => `${type.plural}.${apiGroup}`);
  if (missing.length) {
    throw new Error(`context ${client.contextName} (${client.server.origin}) has no CRD ${missing.join(', ')}: install the CRDs first (kubectl apply --server-side -k manifests/crds), then apply again`);
  }
}

/** A failed request as one line naming the object; a missing namespace says what to do. */
function objectError(name: string, namespace: string, error: unknown): Error {
  if (error instanceof KubeError && error.code === 404 && /namespaces? .*not found/i.test(error.message)) {
    return new Error(`${name}: namespace ${namespace} does not exist: create it (kubectl create namespace ${namespace}) or pass --namespace`, { cause: error });
  }
  return new Error(`${name}: ${error instanceof Error ? error.message : String(error)}`, { cause: error });
}

async function applyResource(client: KubeClient, resource: PlanResource, namespace: string, dryRun: boolean): Promise<string> {
  const path = resourcePath(resource.type, namespace, resource.name);
  const name = displayName(resource.type, resource.name);
  // Forced, as `kubectl apply --server-side --force-conflicts`: the reviewed files are the source of truth, so a field
  // someone changed by hand (kubectl edit) is taken back, as the synchronizer undoes drift. The operator writes only
  // the status subresource, which an apply of the spec never conflicts with.
  const options = { fieldManager: planApplyManager, force: true };
  try {
    const before = await read(client, path);
    if (dryRun) return `${name} ${applyAction(before, orThrow(await dryRunApply(client, path, resource.object, options)).object, true)} (server dry run)`;
    orThrow(await apply(client, path, resource.object, options));
    const after = await read(client, path);
    if (!after) throw new Error('gone right after it was applied (deleted by someone else?)');
    return `${name} ${applyAction(before, after, false)}`;
  } catch (error) {
    throw objectError(name, namespace, error);
  }
}

/** Deletes what plan apply applied to the namespace before and the files no longer define: plans before clusters. */
async function prune(client: KubeClient, applied: readonly PlanResource[], namespace: string, dryRun: boolean): Promise<string[]> {
  const lines: string[] = [];
  for (const type of [...appliedKinds].reverse() as AppliedKind[]) {
    const labelled: KubeObject[] = [];
    const [group, version] = apiVersion.split('/') as [string, string];
    for await (const page of client.listPages(resourcePath(type, namespace), { group, version, kind: type.kind }, { labelSelector: `${managedByLabel}=${planApplyManager}` })) labelled.push(...page.items);
    const wanted = new Set(applied.filter((resource) => resource.type === type).map((resource) => resource.name));
    for (const name of pruneCandidates(labelled, wanted)) {
      try {
        orThrow(await remove(client, resourcePath(type, namespace, name), { dryRun }));
      } catch (error) {
        throw objectError(displayName(type, name), namespace, error);
      }
      lines.push(`${displayName(type, name)} pruned${dryRun ? ' (server dry run)' : ''}`);
    }
  }
  return lines;
}

export function registerPlanApply(plan: Command): void {
  plan.command('apply').description('validate plan files as `plan validate` does and server-side apply them as RecoveryPlan and ManagedCluster resources (for lifeboat operator)')
    .argument('<source>', 'the plans: a directory, or a git repository PATH[#branch][:subdir] or https://host/repo[#branch][:subdir] (token: $LIFEBOAT_PLANS_TOKEN)')
    .option('--kubeconfig <file>', 'the cluster the operator runs in (default: $KUBECONFIG or ~/.kube/config)')
    .option('--context <name>', 'the kubeconfig context of that cluster (default: its current-context)')
    .option('--namespace <ns>', "the operator's namespace", defaultNamespace)
    .option('--dry-run', 'the server checks every apply (and prune) and keeps nothing (dryRun=All)')
    .option('--prune', `delete the RecoveryPlans and ManagedClusters of the namespace labelled ${managedByLabel}=${planApplyManager} that the files no longer define`)
    .addHelpText('after', `
Nothing is applied when a file has an error: the errors are printed as \`lifeboat plan validate\` prints them and the
exit code is 1. Otherwise each ManagedCluster, then each RecoveryPlan, is applied as its file wrote it (defaults are
the operator's to fill in), field manager ${planApplyManager}, conflicts forced (the files win over hand edits), with
the label ${managedByLabel}=${planApplyManager}; one line each: created, configured or unchanged. The
CRDs must be installed first (kubectl apply --server-side -k manifests/crds). RecoveryExecutionJobs in the files are
not applied (a job starts a recovery): create them on purpose.

A ManagedCluster's spec.kubeconfig.path is applied as written, with a warning: in plan files it is relative to the
file, but the operator reads it relative to its own working directory (and, in a pod, has no such file at all). For
an operator in a pod, give clusters spec.secretRef instead. --prune deletes only resources with the label, so
resources created by hand are kept; keep one plans source per namespace when pruning.`)
    .action(async (given: string, options: ApplyFlags) => {
      const { files, checkKubeconfigFiles } = await readSource(given);
      const set = loadPlans(files, { checkKubeconfigFiles });
      if (hasErrors(set)) {
        for (const error of set.errors) process.stdout.write(`${formatPlanError(error)}\n`);
        process.stdout.write(`${summarize(set)}\n`);
        process.stderr.write(`lifeboat: nothing applied: fix the errors in ${given} first\n`);
        process.exitCode = 1;
        return;
      }
      const resources = applySet(set, files, options.namespace);
      if (resources.problems.length) throw new Error(`nothing applied: ${resources.problems.join('; ')}`);
      for (const warning of set.errors.filter((error) => error.severity === Severity.warning)) process.stderr.write(`${formatPlanError(warning)}\n`);
      for (const warning of resources.warnings) process.stderr.write(`warning: ${warning}\n`);
      const client = await KubeClient.create(loadKubeConfig({ path: options.kubeconfig, context: options.context }));
      try {
        await requireCrds(client);
        const dryRun = options.dryRun ?? false;
        for (const resource of resources.resources) process.stdout.write(`${await applyResource(client, resource, options.namespace, dryRun)}\n`);
        if (options.prune) for (const line of await prune(client, resources.resources, options.namespace, dryRun)) process.stdout.write(`${line}\n`);
      } finally {
        client.close();
      }
    });
}
