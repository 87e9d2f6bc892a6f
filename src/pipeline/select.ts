// Which objects a plan replicates: include and exclude entries compiled once into matchers. Pure.
// Rules: an object is in scope when any include entry selects it and no exclude entry does. An entry without
// `kinds` (or with `*` / `group/*`) selects namespaced kinds only; cluster-scoped kinds must be named. The Namespace
// objects themselves come along with the namespaces an include entry selects, so namespaced objects always have
// their namespace at the destination.
import {
  compileGlob, matchesLabelSelector, namespaceAlphabet, objectNameAlphabet, parseKindPattern, parseLabelSelector, type KindPattern,
} from '../plan/parse.ts';
import type { RecoveryPlanSpec, ResourceSelector } from '../plan/schema.ts';
import { isClusterScoped } from '../plan/validate.ts';

export interface Candidate {
  group: string;
  kind: string;
  namespace: string | undefined;
  name: string;
  labels: Record<string, string> | undefined;
  namespaced: boolean;
}

export interface CompiledSelector {
  /** True when the entry can select objects of this kind (used to decide what to watch). */
  selectsKind(group: string, kind: string, namespaced: boolean): boolean;
  matches(candidate: Candidate, options?: { ignoreLabels?: boolean }): boolean;
  /** True when the entry selects namespaced objects in `namespace` (so the Namespace object itself comes along). */
  selectsNamespace(namespace: string): boolean;
}

function kindMatches(patterns: KindPattern[] | undefined, group: string, kind: string, namespaced: boolean): boolean {
  if (!patterns) return namespaced;
  return patterns.some((pattern) => {
    if (pattern.group === '*' && pattern.kind === '*') return namespaced;
    if (pattern.kind === '*') return pattern.group === group && namespaced;
    return pattern.group === group && pattern.kind === kind;
  });
}

export function compileSelector(selector: ResourceSelector): CompiledSelector {
  const kinds = selector.kinds?.map(parseKindPattern);
  const namespaces = selector.namespaces?.map((glob) => compileGlob(glob, namespaceAlphabet));
  const names = selector.names?.map((glob) => compileGlob(glob, objectNameAlphabet));
  const labels = selector.labelSelector ? parseLabelSelector(selector.labelSelector) : undefined;
  const inNamespace = (namespace: string) => !namespaces || namespaces.some((match) => match(namespace));
  const selectsNamespacedKinds = !kinds || kinds.some((pattern) => pattern.kind === '*' || isClusterScoped(pattern) !== true);
  const selectsNamespace = (namespace: string) => selectsNamespacedKinds && inNamespace(namespace);
  return {
    selectsKind: (group, kind, namespaced) => kindMatches(kinds, group, kind, namespaced),
    selectsNamespace,
    matches(candidate, options = {}) {
      if (!kindMatches(kinds, candidate.group, candidate.kind, candidate.namespaced)) return false;
      if (candidate.namespaced && !inNamespace(candidate.namespace ?? '')) return false;
      if (names && !names.some((match) => match(candidate.name))) return false;
      if (labels && !options.ignoreLabels && !matchesLabelSelector(labels, candidate.labels)) return false;
      return true;
    },
  };
}

export interface PlanScope {
  /** Kinds to list and watch in the source. */
  selectsKind(group: string, kind: string, namespaced: boolean): boolean;
  includes(candidate: Candidate): boolean;
  /**
   * True when the object is, or could become by a label change, part of the plan. The listener publishes only
   * these; everything else (other namespaces, other names) can never be in scope.
   */
  mayInclude(candidate: Candidate): boolean;
}

export function compileScope(spec: Pick<RecoveryPlanSpec, 'resources'>): PlanScope {
  const includes = spec.resources.include.map(compileSelector);
  const excludes = spec.resources.exclude.map(compileSelector);
  const isNamespaceObject = (group: string, kind: string) => group === '' && kind === 'Namespace';
  return {
    selectsKind: (group, kind, namespaced) =>
      isNamespaceObject(group, kind) || includes.some((entry) => entry.selectsKind(group, kind, namespaced)),
    includes(candidate) {
      const included = includes.some((entry) => entry.matches(candidate))
        || (isNamespaceObject(candidate.group, candidate.kind) && includes.some((entry) => entry.selectsNamespace(candidate.name)));
      return included && !excludes.some((entry) => entry.matches(candidate));
    },
    mayInclude(candidate) {
      return includes.some((entry) => entry.matches(candidate, { ignoreLabels: true }))
        || (isNamespaceObject(candidate.group, candidate.kind) && includes.some((entry) => entry.selectsNamespace(candidate.name)));
    },
  };
}
