// What `lifeboat plan apply` sends to a cluster: a valid plan set as RecoveryPlan and ManagedCluster custom resources,
// each document as its file wrote it (no defaults filled in: the operator's schema fills them, so a newer lifeboat's
// defaults apply), labelled as plan apply's own; what each apply did; and which resources `--prune` removes. Pure.
import type { KubeObject } from '../kube/ref.ts';
import { originKey, type Origin, type PlanFile, type PlanSet } from './load.ts';
import { parseYamlFile } from './parse.ts';
import { apiGroup, apiVersion, Kind } from './schema.ts';

/** The field manager of every apply, and the value of the label that marks the resources `--prune` may delete. */
export const planApplyManager = 'lifeboat-plan-apply';
export const managedByLabel = 'app.kubernetes.io/managed-by';

/** The kinds plan apply writes, in apply order: clusters before the plans that name them (prune goes the other way). */
export const appliedKinds = [
  { kind: Kind.managedCluster, plural: 'managedclusters' },
  { kind: Kind.recoveryPlan, plural: 'recoveryplans' },
] as const;

export type AppliedKind = (typeof appliedKinds)[number];

export interface PlanResource {
  type: AppliedKind;
  name: string;
  object: KubeObject;
  origin: Origin;
}

export interface ApplySet {
  /** In apply order: every ManagedCluster by name, then every RecoveryPlan by name. */
  resources: PlanResource[];
  /** Reasons to apply nothing (a document's metadata.namespace that is not the target namespace). */
  problems: string[];
  /** Said, then applied anyway: jobs left out, kubeconfig paths the operator reads differently. */
  warnings: string[];
}

/** `recoveryplan.lifeboat.dev/shop`, as kubectl names an object. */
export function displayName(type: AppliedKind, name: string): string {
  return `${type.kind.toLowerCase()}.${apiGroup}/${name}`;
}

export function resourcePath(type: AppliedKind, namespace: string, name?: string): string {
  return `/apis/${apiVersion}/namespaces/${namespace}/${type.plural}${name === undefined ? '' : `/${name}`}`;
}

type Document = { metadata?: { namespace?: string; labels?: Record<string, string> }; spec?: { kubeconfig?: { path?: string } } };

/**
 * The resources for a valid set (`hasErrors(set)` false), read from the same files it was loaded from. A job
 * (RecoveryExecutionJob) is left out with a warning: creating one starts a recovery, which no merge should do.
 */
export function applySet(set: PlanSet, files: readonly PlanFile[], namespace: string): ApplySet {
  const documents = new Map<string, unknown[]>();
  const documentAt = (origin: Origin) => {
    let parsed = documents.get(origin.file);
    if (!parsed) {
      const file = files.find((candidate) => candidate.path === origin.file);
      parsed = file ? parseYamlFile(file).documents.map((document) => document.value) : [];
      documents.set(origin.file, parsed);
    }
    return parsed[origin.document] as Document | undefined;
  };
  const result: ApplySet = { resources: [], problems: [], warnings: [] };
  const where = (origin: Origin) => `${origin.file}:${origin.line}:${origin.column}`;
  for (const type of appliedKinds) {
    const names = [...(type.kind === Kind.managedCluster ? set.clusters : set.plans).keys()].sort();
    for (const name of names) {
      const origin = set.origins.get(originKey(type.kind, name));
      const document = origin && documentAt(origin);
      if (!origin || !document) throw new Error(`${type.kind} ${name}: its document is not in the files given`);
      const given = document.metadata?.namespace;
      if (given !== undefined && given !== namespace) {
        result.problems.push(`${where(origin)}: ${type.kind} ${name} has metadata.namespace ${given}, but the plans are applied to ${namespace}: remove it, or pass --namespace ${given}`);
      }
      const kubeconfigPath = document.spec?.kubeconfig?.path;
      if (kubeconfigPath !== undefined) {
        const reading = kubeconfigPath.startsWith('/') || kubeconfigPath.startsWith('~')
          ? `the operator reads ${kubeconfigPath} on its own machine`
          : `the operator resolves ${kubeconfigPath} against its working directory, not against ${origin.file}`;
        result.warnings.push(`${where(origin)}: ManagedCluster ${name}: spec.kubeconfig.path is applied as written; ${reading} (an operator in a pod needs spec.secretRef)`);
      }
      const metadata = { ...document.metadata, namespace, labels: { ...document.metadata?.labels, [managedByLabel]: planApplyManager } };
      result.resources.push({ type, name, origin, object: { ...(document as KubeObject), metadata: { ...metadata, name } } });
    }
  }
  for (const name of [...set.jobs.keys()].sort()) {
    const origin = set.origins.get(originKey(Kind.recoveryExecutionJob, name));
    result.warnings.push(`${origin ? `${where(origin)}: ` : ''}RecoveryExecutionJob ${name} is not applied: a job starts a recovery; create it on purpose (kubectl create -f)`);
  }
  return result;
}

export type ApplyAction = 'created' | 'configured' | 'unchanged';

const content = (object: KubeObject) => JSON.stringify([object.metadata.labels ?? {}, object.metadata.annotations ?? {}, (object as { spec?: unknown }).spec ?? null]);

/**
 * What an apply did, from the object before (undefined: there was none) and after. A real apply that changes
 * nothing writes nothing, so the resourceVersion stays; a dry run never writes, so its answer is compared by content.
 */
export function applyAction(before: KubeObject | undefined, after: KubeObject, dryRun: boolean): ApplyAction {
  if (!before) return 'created';
  if (dryRun) return content(before) === content(after) ? 'unchanged' : 'configured';
  return before.metadata.resourceVersion === after.metadata.resourceVersion ? 'unchanged' : 'configured';
}

/** The labelled resources of one kind that the files no longer define: what `--prune` deletes. */
export function pruneCandidates(labelled: readonly KubeObject[], wanted: ReadonlySet<string>): string[] {
  return labelled.map((object) => object.metadata.name ?? '').filter((name) => name !== '' && !wanted.has(name)).sort();
}
