// Checks across the documents of a set: duplicate names, references between objects, kubeconfig files and paths,
// mirror directories, and plans that would write the same objects.
import { compileGlob, errorAt, formatKind, globsIntersect, isLiteralGlob, locate, namespaceAlphabet, parseKindPattern, Severity } from './parse.ts';
import type { KindPattern, PathSegment, PlanError, SourceDocument } from './parse.ts';
import { Kind } from './schema.ts';
import { quoteShort } from '../util/quote.ts';
import type { LifeboatObject, RecoveryPlan } from './schema.ts';
import { isClusterScoped } from './well-known-kinds.ts';

/** A document after validation: its kind and name when readable, the typed object when it has no error. */
export interface DocumentResult {
  source: SourceDocument;
  kind?: Kind;
  name?: string;
  object?: LifeboatObject;
  errors: PlanError[];
}

// ---------------------------------------------------------------------------------------------------------------
// Checks across documents

/**
 * What the file system says about a kubeconfig file named by a ManagedCluster; `shown` is how to name the file in a
 * message. `exists` means it was not read (tests that only say which files exist).
 */
export type KubeconfigFile =
  | { type: 'missing'; shown: string }
  | { type: 'exists'; shown: string }
  | { type: 'unreadable'; shown: string; reason: string }
  | { type: 'read'; shown: string; contexts: string[]; currentContext: string | undefined };

export interface SetOptions {
  /** Looks up a kubeconfig path as written in `file` (the plan file). No kubeconfig check when absent. */
  kubeconfigFile?: (file: string, path: string) => KubeconfigFile;
}

function where(result: DocumentResult, path: PathSegment[]): string {
  const { line, column } = locate(result.source, path);
  return `${result.source.file}:${line}:${column}`;
}

function report(result: DocumentResult, error: PlanError): void {
  result.errors.push(error);
  if (error.severity === Severity.error) result.object = undefined;
}

function checkDuplicates(results: DocumentResult[]): void {
  const first = new Map<string, DocumentResult>();
  for (const result of results) {
    if (!result.kind || result.name === undefined) continue;
    const key = `${result.kind}/${result.name}`;
    const earlier = first.get(key);
    if (earlier) report(result, errorAt(result.source, ['metadata', 'name'], `duplicate ${result.kind} name "${result.name}": also defined at ${where(earlier, ['metadata', 'name'])}`));
    else first.set(key, result);
  }
}

function knownList(names: Iterable<string>): string {
  const sorted = [...names].sort();
  return sorted.length === 0 ? 'none defined' : `known: ${sorted.join(', ')}`;
}

function checkReferences(results: DocumentResult[]): void {
  // The first definition of each name, valid or not: a reference to an invalid object is not "unknown".
  const byKind = (kind: Kind) => {
    const found = new Map<string, DocumentResult>();
    for (const result of results) if (result.kind === kind && result.name !== undefined && !found.has(result.name)) found.set(result.name, result);
    return found;
  };
  const clusters = byKind(Kind.managedCluster);
  const plans = byKind(Kind.recoveryPlan);
  for (const result of results) {
    const object = result.object;
    if (object?.kind === Kind.recoveryPlan) {
      for (const side of ['source', 'destination'] as const) {
        const name = object.spec[side].cluster;
        const cluster = clusters.get(name);
        if (!cluster) report(result, errorAt(result.source, ['spec', side, 'cluster'], `unknown cluster "${name}" (${knownList(clusters.keys())})`));
        else if (!cluster.object) result.object = undefined; // the cluster has its own errors
      }
    } else if (object?.kind === Kind.recoveryExecutionJob) {
      const plan = plans.get(object.spec.plan);
      if (!plan) report(result, errorAt(result.source, ['spec', 'plan'], `unknown plan "${object.spec.plan}" (${knownList(plans.keys())})`));
      else if (!plan.object) result.object = undefined;
    }
  }
}

/**
 * A missing file or context is a warning: the file is read where the plan runs, which may not be where it is
 * validated. A file that is there but is not a kubeconfig (unreadable, not YAML, no clusters or contexts) is an
 * error: the path names the wrong file. A context the file lacks is named with the contexts it has, the mistake
 * being nearly always a typo or the wrong file.
 */
function checkKubeconfigFiles(results: DocumentResult[], options: SetOptions): void {
  if (!options.kubeconfigFile) return;
  for (const result of results) {
    const object = result.object;
    if (object?.kind !== Kind.managedCluster || !object.spec.kubeconfig) continue; // (an invalid path has no object)
    const { path, context } = object.spec.kubeconfig;
    const found = options.kubeconfigFile(result.source.file, path);
    const warn = (field: 'path' | 'context', message: string) => {
      report(result, errorAt(result.source, ['spec', 'kubeconfig', field], message, { severity: Severity.warning }));
    };
    const cluster = `${Kind.managedCluster} ${object.metadata.name}`;
    switch (found.type) {
      case 'missing':
        warn('path', `kubeconfig file not found at ${found.shown} (paths are relative to the file that names them)`);
        break;
      case 'exists':
        break;
      case 'unreadable':
        report(result, errorAt(result.source, ['spec', 'kubeconfig', 'path'], `${cluster}: kubeconfig ${found.shown} cannot be used: ${found.reason}`));
        break;
      case 'read': {
        const contexts = `(contexts: ${found.contexts.join(', ') || 'none'})`;
        if (context !== undefined) {
          if (!found.contexts.includes(context)) warn('context', `${cluster}: kubeconfig ${found.shown} has no context ${JSON.stringify(context)} ${contexts}`);
        } else if (found.currentContext === undefined) {
          warn('path', `${cluster}: kubeconfig ${found.shown} has no current-context; set spec.kubeconfig.context ${contexts}`);
        } else if (!found.contexts.includes(found.currentContext)) {
          warn('path', `${cluster}: kubeconfig ${found.shown} has current-context ${JSON.stringify(found.currentContext)} but no such context; set spec.kubeconfig.context ${contexts}`);
        }
        break;
      }
      default: {
        const unreachable: never = found;
        throw new Error(`unknown kubeconfig lookup ${JSON.stringify(unreachable)}`);
      }
    }
  }
}

function plansOf(results: DocumentResult[]): Array<{ result: DocumentResult; plan: RecoveryPlan }> {
  return results.flatMap((result) => (result.object?.kind === Kind.recoveryPlan ? [{ result, plan: result.object }] : []));
}

function checkMirrorPaths(results: DocumentResult[]): void {
  const seen: Array<{ result: DocumentResult; plan: RecoveryPlan }> = [];
  for (const entry of plansOf(results)) {
    const path = entry.plan.spec.mirror.path;
    const clash = seen.find((other) => {
      const otherPath = other.plan.spec.mirror.path;
      return otherPath === path || path.startsWith(`${otherPath}/`) || otherPath.startsWith(`${path}/`);
    });
    if (clash) {
      const otherPath = clash.plan.spec.mirror.path;
      const relation = otherPath === path ? 'is also the mirror directory of' : path.startsWith(`${otherPath}/`) ? `is inside "${otherPath}", the mirror directory of` : `contains "${otherPath}", the mirror directory of`;
      report(entry.result, errorAt(entry.result.source, ['spec', 'mirror', 'path'], `mirror directory "${path}" ${relation} plan "${clash.plan.metadata.name}" (${where(clash.result, ['metadata', 'name'])}); give each plan its own directory`));
    }
    seen.push(entry);
  }
}

/** Where a plan may write: namespace globs at the destination (after namespace mapping), kinds and names. */
interface Reach {
  index: number;
  namespaces: string[];
  kinds: KindPattern[];
  names: string[];
}

function reaches(plan: RecoveryPlan): Reach[] {
  const mappings = plan.spec.transforms.flatMap((transform) => (transform.namespaceMapping ? [{ map: transform.namespaceMapping, conditional: transform.select !== undefined }] : []));
  return plan.spec.resources.include.map((entry, index) => {
    const namespaces = new Set<string>();
    for (const glob of entry.namespaces ?? ['*']) {
      const literal = isLiteralGlob(glob);
      const matches = compileGlob(glob, namespaceAlphabet);
      // A literal namespace mapped without condition lands only at its target; anything else may also stay as is.
      let stays = true;
      for (const { map, conditional } of mappings) {
        for (const [from, to] of Object.entries(map)) {
          if (!matches(from)) continue;
          namespaces.add(to);
          if (literal && !conditional) stays = false;
        }
      }
      if (stays) namespaces.add(glob);
    }
    return { index, namespaces: [...namespaces], kinds: (entry.kinds ?? ['*']).map(parseKindPattern), names: entry.names ?? ['*'] };
  });
}

/** The kinds both patterns can select, with whether that kind is cluster-scoped; undefined when none. */
function commonKind(a: KindPattern, b: KindPattern): { kind: string; clusterScoped: boolean } | undefined {
  const explicit = (pattern: KindPattern) => pattern.kind !== '*';
  if (!explicit(a) && !explicit(b)) {
    if (a.group === '*' || b.group === '*' || a.group === b.group) return { kind: formatKind(a.group === '*' ? b : a), clusterScoped: false };
    return undefined;
  }
  if (explicit(a) && explicit(b)) {
    if (a.group !== b.group || a.kind !== b.kind) return undefined;
    return { kind: formatKind(a), clusterScoped: isClusterScoped(a) === true };
  }
  const [wildcard, named] = explicit(a) ? [b, a] : [a, b];
  // Wildcards never select cluster-scoped kinds.
  if (isClusterScoped(named) === true) return undefined;
  if (wildcard.group !== '*' && wildcard.group !== named.group) return undefined;
  return { kind: formatKind(named), clusterScoped: false };
}

function firstOverlap(a: Reach, b: Reach): string | undefined {
  const pairs = <T>(left: T[], right: T[]) => left.flatMap((x) => right.map((y) => [x, y] as const));
  const names = pairs(a.names, b.names).find(([x, y]) => globsIntersect(x, y));
  if (!names) return undefined;
  const nameText = names[0] === '*' && names[1] === '*' ? '' : ` named "${names[0]}"${names[0] === names[1] ? '' : `/"${names[1]}"`}`;
  for (const [x, y] of pairs(a.kinds, b.kinds)) {
    const kind = commonKind(x, y);
    if (!kind) continue;
    if (kind.clusterScoped) return `${kind.kind}${nameText}`;
    const namespaces = pairs(a.namespaces, b.namespaces).find(([left, right]) => globsIntersect(left, right));
    if (namespaces) {
      const namespaceText = namespaces[0] === namespaces[1] ? `"${namespaces[0]}"` : `"${namespaces[0]}"/"${namespaces[1]}"`;
      return `${kind.kind === '*' ? 'objects' : kind.kind}${nameText} in namespace ${namespaceText}`;
    }
  }
  return undefined;
}

/**
 * Two plans must never own the same destination object. Conservatively: with the same destination cluster, an
 * include entry of each whose destination namespaces (after namespace mapping), kinds and names can all intersect.
 * Label selectors and excludes are ignored, so an overlap reported here may be prevented by them: split the
 * includes instead, which also makes the ownership obvious to a reader.
 */
function checkOverlaps(results: DocumentResult[]): void {
  const seen: Array<{ result: DocumentResult; plan: RecoveryPlan; reach: Reach[] }> = [];
  for (const { result, plan } of plansOf(results)) {
    const reach = reaches(plan);
    for (const other of seen) {
      if (other.plan.spec.destination.cluster !== plan.spec.destination.cluster) continue;
      const overlap = reach.flatMap((mine) => other.reach.map((theirs) => ({ mine, theirs, what: firstOverlap(mine, theirs) }))).find((entry) => entry.what);
      if (!overlap) continue;
      report(result, errorAt(result.source, ['spec', 'resources', 'include', overlap.mine.index],
        `overlaps plan "${other.plan.metadata.name}" (${where(other.result, ['spec', 'resources', 'include', overlap.theirs.index])}): both can write ${overlap.what} of cluster "${plan.spec.destination.cluster}"; make their namespaces, kinds or names disjoint`));
      break;
    }
    seen.push({ result, plan, reach });
  }
}

/**
 * Validates the documents as one set, in order (the first definition of a name wins, a later plan is the one
 * reported for an overlap); adds errors to the documents they concern and drops their objects.
 */
/**
 * Why a kubeconfig path is not one of the forms lifeboat resolves (relative to the file that names it, absolute, or
 * ~/…), or undefined. Nothing else is expanded: not ~user, variables or URLs, which would otherwise name a file
 * relative to the plan file's directory that nobody meant.
 */
export function kubeconfigPathProblem(path: string): string | undefined {
  if (/^~[^/]/.test(path)) return 'only ~/ is expanded (the home directory of the user running lifeboat), not ~user';
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(path)) return 'a file path, not a URL (a kubeconfig in a Secret: use secretRef)';
  if (path.includes('$')) return 'variables are not expanded: write the path relative to this file, absolute, or ~/…';
  if (path.includes('\0')) return 'a NUL character is not allowed in a path';
  return undefined;
}

function checkKubeconfigPaths(results: DocumentResult[]): void {
  for (const result of results) {
    const object = result.object;
    if (object?.kind !== Kind.managedCluster || !object.spec.kubeconfig) continue;
    const problem = kubeconfigPathProblem(object.spec.kubeconfig.path);
    if (problem) report(result, errorAt(result.source, ['spec', 'kubeconfig', 'path'], `${quoteShort(object.spec.kubeconfig.path)}: ${problem}`));
  }
}

export function validateSet(results: DocumentResult[], options: SetOptions = {}): void {
  checkDuplicates(results);
  checkReferences(results);
  checkKubeconfigPaths(results);
  checkKubeconfigFiles(results, options);
  checkMirrorPaths(results);
  checkOverlaps(results);
}
