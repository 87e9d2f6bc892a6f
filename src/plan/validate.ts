// Validation of lifeboat objects: the schema of each document (every issue, each at its line and column), then the
// meaning of each plan (kinds that exist, JSON patches that can apply) and of the set (names, references, mirror
// directories, plans that would write the same objects). Pure: documents in, errors out.
import type { z } from 'zod';
import {
  compileGlob, errorAt, formatKind, globsIntersect, isLiteralGlob, locate, namespaceAlphabet, parseJsonPointer, parseKindPattern, Severity,
} from './parse.ts';
import type { KindPattern, PathSegment, PlanError, SourceDocument } from './parse.ts';
import { apiGroup, apiVersion, Kind, kinds, kindSchemas } from './schema.ts';
import { quoteShort, shortened } from '../util/quote.ts';
import type { JsonPatchOperation, LifeboatObject, ManagedCluster, RecoveryExecutionJob, RecoveryPlan, ResourceSelector } from './schema.ts';

// ---------------------------------------------------------------------------------------------------------------
// Words

/** Edit distance, for "did you mean" suggestions. */
function distance(a: string, b: string): number {
  const row = Array.from({ length: b.length + 1 }, (_, index) => index);
  for (let i = 1; i <= a.length; i++) {
    let previous = row[0]!;
    row[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const current = row[j]!;
      row[j] = Math.min(row[j]! + 1, row[j - 1]! + 1, previous + (a[i - 1]!.toLowerCase() === b[j - 1]!.toLowerCase() ? 0 : 1));
      previous = current;
    }
  }
  return row[b.length]!;
}

/** The closest candidate when it is close enough to be a typo. */
export function suggest(word: string, candidates: Iterable<string>): string | undefined {
  let best: string | undefined;
  let bestDistance = Infinity;
  for (const candidate of candidates) {
    const found = distance(word, candidate);
    if (found < bestDistance) {
      best = candidate;
      bestDistance = found;
    }
  }
  return best !== undefined && bestDistance <= Math.max(1, Math.floor(word.length / 3)) ? best : undefined;
}

function describeValue(value: unknown): string {
  if (value === null || value === undefined) return 'an empty value';
  if (Array.isArray(value)) return 'a list';
  if (typeof value === 'object') return 'a mapping';
  if (typeof value === 'string') return JSON.stringify(value.length > 40 ? `${value.slice(0, 37)}...` : value);
  return String(value);
}

const typeWords: Record<string, string> = {
  string: 'a string', number: 'a number', int: 'an integer', boolean: 'true or false', object: 'a mapping', array: 'a list',
  record: 'a mapping', map: 'a mapping', null: 'an empty value', bigint: 'an integer', date: 'a date',
};

// ---------------------------------------------------------------------------------------------------------------
// Schema issues → positioned errors

interface SchemaDefinition {
  type: string;
  shape?: Record<string, z.ZodType>;
  innerType?: z.ZodType;
  in?: z.ZodType;
  element?: z.ZodType;
  valueType?: z.ZodType;
}

/** The schema of the value at a path, through optional/default/pipe wrappers, lists and maps. */
function schemaAt(schema: z.ZodType, path: readonly PathSegment[]): z.ZodType | undefined {
  let current: z.ZodType | undefined = schema;
  const unwrap = (node: z.ZodType): z.ZodType => {
    let inner = node;
    for (;;) {
      const definition = inner.def as SchemaDefinition;
      if (definition.innerType) inner = definition.innerType;
      else if (definition.type === 'pipe' && definition.in) inner = definition.in;
      else return inner;
    }
  };
  for (const segment of path) {
    if (!current) return undefined;
    const definition = unwrap(current).def as SchemaDefinition;
    if (definition.type === 'object') current = definition.shape?.[String(segment)];
    else if (definition.type === 'array') current = definition.element;
    else if (definition.type === 'record') current = definition.valueType;
    else return undefined;
  }
  return current ? unwrap(current) : undefined;
}

function fieldsAt(schema: z.ZodType, path: readonly PathSegment[]): string[] {
  const node = schemaAt(schema, path);
  const definition = node?.def as SchemaDefinition | undefined;
  return definition?.type === 'object' && definition.shape ? Object.keys(definition.shape) : [];
}

function issueErrors(source: SourceDocument, schema: z.ZodType, issue: z.core.$ZodIssue): PlanError[] {
  const path = issue.path as PathSegment[];
  const at = (message: string, options: { path?: PathSegment[]; at?: 'key' | 'value'; offset?: number; severity?: Severity } = {}) =>
    errorAt(source, options.path ?? path, message, options);
  switch (issue.code) {
    case 'unrecognized_keys': {
      const known = fieldsAt(schema, path);
      return issue.keys.map((key) => {
        const guess = suggest(key, known);
        const hint = guess ? `did you mean "${guess}"?` : known.length > 0 ? `known fields: ${known.join(', ')}` : '';
        return at(`unknown field${hint ? `; ${hint}` : ''}`, { path: [...path, key], at: 'key' });
      });
    }
    case 'invalid_type': {
      if (issue.input === undefined) return [at('required field is missing')];
      // YAML reads 8080, true and 1.10 as numbers and booleans; a string field needs them quoted.
      const quote = issue.expected === 'string' && (typeof issue.input === 'number' || typeof issue.input === 'boolean')
        ? `; quote it to make it a string: "${String(issue.input)}"` : '';
      return [at(`expected ${typeWords[issue.expected] ?? issue.expected}, got ${describeValue(issue.input)}${quote}`)];
    }
    case 'invalid_value':
      return [at(`must be one of ${issue.values.map(String).join(', ')}; got ${describeValue(issue.input)}`)];
    case 'too_small': {
      if (issue.message && !issue.message.startsWith('Too small')) return [at(issue.message)];
      const minimum = Number(issue.minimum);
      if (issue.origin === 'array') return [at(`must list at least ${minimum} item${minimum === 1 ? '' : 's'}`)];
      if (issue.origin === 'string') return [at(minimum === 1 ? 'must not be empty' : `must have at least ${minimum} characters`)];
      return [at(`must be ${issue.inclusive ? 'at least' : 'more than'} ${minimum}; got ${describeValue(issue.input)}`)];
    }
    case 'too_big': {
      const maximum = Number(issue.maximum);
      if (issue.origin === 'array') return [at(`must list at most ${maximum} items`)];
      if (issue.origin === 'string') return [at(`must have at most ${maximum} characters`)];
      return [at(`must be ${issue.inclusive ? 'at most' : 'less than'} ${maximum}; got ${describeValue(issue.input)}`)];
    }
    case 'invalid_format':
      return [at(issue.message.startsWith('Invalid') ? `invalid ${issue.format}` : issue.message)];
    case 'custom': {
      const params = (issue.params ?? {}) as { offset?: number; at?: 'key' | 'value'; severity?: Severity };
      return [at(issue.message, { at: params.at, offset: params.offset, severity: params.severity })];
    }
    case 'not_multiple_of':
      return [at(`must be a multiple of ${String(issue.divisor)}`)];
    default:
      return [at(issue.message)];
  }
}

// ---------------------------------------------------------------------------------------------------------------
// Documents

/** A document after validation: its kind and name when readable, the typed object when it has no error. */
export interface DocumentResult {
  source: SourceDocument;
  kind?: Kind;
  name?: string;
  object?: LifeboatObject;
  errors: PlanError[];
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function checkEnvelope(source: SourceDocument): { kind?: Kind; errors: PlanError[] } {
  const value = source.value;
  if (!isRecord(value)) {
    return { errors: [errorAt(source, [], `expected a mapping with apiVersion, kind, metadata and spec; got ${describeValue(value)}`)] };
  }
  const errors: PlanError[] = [];
  if (value.apiVersion === undefined) {
    errors.push(errorAt(source, ['apiVersion'], `required field is missing; lifeboat objects have apiVersion: ${apiVersion}`));
  } else if (value.apiVersion !== apiVersion) {
    const group = typeof value.apiVersion === 'string' ? value.apiVersion.split('/')[0] : undefined;
    errors.push(errorAt(source, ['apiVersion'], group === apiGroup
      ? `unsupported version ${describeValue(value.apiVersion)}: this lifeboat reads ${apiVersion}`
      : `unknown apiVersion ${describeValue(value.apiVersion)}: lifeboat objects have apiVersion: ${apiVersion}`));
  }
  let kind: Kind | undefined;
  if (value.kind === undefined) {
    errors.push(errorAt(source, ['kind'], `required field is missing; one of ${kinds.join(', ')}`));
  } else if (typeof value.kind === 'string' && (kinds as readonly string[]).includes(value.kind)) {
    kind = value.kind as Kind;
  } else {
    const guess = typeof value.kind === 'string' ? suggest(value.kind, kinds) : undefined;
    errors.push(errorAt(source, ['kind'], `unknown kind ${describeValue(value.kind)}; ${guess ? `did you mean "${guess}"?` : `expected one of ${kinds.join(', ')}`}`));
  }
  return { kind: errors.length === 0 ? kind : undefined, errors };
}

/** Validates one document: envelope, schema, and the checks that need only this object. */
export function validateDocument(source: SourceDocument): DocumentResult {
  const envelope = checkEnvelope(source);
  const value = source.value;
  const metadata = isRecord(value) && isRecord(value.metadata) ? value.metadata : undefined;
  const name = typeof metadata?.name === 'string' ? metadata.name : undefined;
  const result: DocumentResult = { source, kind: envelope.kind, name, errors: envelope.errors };
  if (!envelope.kind) return result;
  const schema = kindSchemas[envelope.kind] as z.ZodType;
  const parsed = schema.safeParse(value, { reportInput: true });
  if (!parsed.success) {
    for (const issue of parsed.error.issues) result.errors.push(...issueErrors(source, schema, issue));
    return result;
  }
  const object = parsed.data as LifeboatObject;
  if (object.kind === Kind.recoveryPlan) result.errors.push(...checkPlan(source, object));
  // Warnings never keep an object out; errors do.
  if (!result.errors.some((error) => error.severity === Severity.error)) result.object = object;
  return result;
}

// ---------------------------------------------------------------------------------------------------------------
// Well-known kinds: scope, and a shape of the fields every object of the kind has (after lifeboat's normalization),
// for checking JSON patches. `field?` marks a field objects may lack; `any` a subtree that is not checked.

type Shape = { type: 'any' } | { type: 'object'; fields: Record<string, { shape: Shape; always: boolean }> } | { type: 'list'; items: Shape; nonEmpty: boolean };

const any: Shape = { type: 'any' };

function object(fields: Record<string, Shape>): Shape {
  return {
    type: 'object',
    fields: Object.fromEntries(Object.entries(fields).map(([name, shape]) => [name.replace(/\?$/, ''), { shape, always: !name.endsWith('?') }])),
  };
}

function list(items: Shape, nonEmpty = false): Shape {
  return { type: 'list', items, nonEmpty };
}

const optional = (...names: string[]) => Object.fromEntries(names.map((name) => [`${name}?`, any]));
const required = (...names: string[]) => Object.fromEntries(names.map((name) => [name, any]));

const container = object({
  ...required('name', 'image', 'resources', 'terminationMessagePath', 'terminationMessagePolicy', 'imagePullPolicy'),
  ...optional('command', 'args', 'workingDir', 'ports', 'envFrom', 'env', 'resizePolicy', 'restartPolicy', 'restartPolicyRules', 'volumeMounts',
    'volumeDevices', 'livenessProbe', 'readinessProbe', 'startupProbe', 'lifecycle', 'securityContext', 'stdin', 'stdinOnce', 'tty'),
});

const podSpec = object({
  containers: list(container, true),
  'initContainers?': list(container),
  ...required('restartPolicy', 'terminationGracePeriodSeconds', 'dnsPolicy', 'securityContext', 'schedulerName', 'enableServiceLinks'),
  ...optional('ephemeralContainers', 'volumes', 'activeDeadlineSeconds', 'nodeSelector', 'serviceAccountName', 'serviceAccount',
    'automountServiceAccountToken', 'nodeName', 'hostNetwork', 'hostPID', 'hostIPC', 'shareProcessNamespace', 'imagePullSecrets', 'hostname',
    'subdomain', 'affinity', 'tolerations', 'hostAliases', 'priorityClassName', 'priority', 'dnsConfig', 'readinessGates', 'runtimeClassName',
    'preemptionPolicy', 'overhead', 'topologySpreadConstraints', 'setHostnameAsFQDN', 'os', 'hostUsers', 'schedulingGates', 'resourceClaims',
    'resources', 'hostnameOverride'),
});

const podTemplate = (labels: boolean) => object({
  metadata: object({ [labels ? 'labels' : 'labels?']: any, ...optional('annotations', 'name', 'namespace', 'generateName', 'finalizers') }),
  spec: podSpec,
});

const workloadSpecs = {
  Deployment: object({
    ...required('replicas', 'selector', 'strategy', 'revisionHistoryLimit', 'progressDeadlineSeconds'), template: podTemplate(true),
    ...optional('minReadySeconds', 'paused'),
  }),
  StatefulSet: object({
    ...required('replicas', 'selector', 'podManagementPolicy', 'updateStrategy', 'revisionHistoryLimit', 'persistentVolumeClaimRetentionPolicy'),
    template: podTemplate(true), ...optional('serviceName', 'volumeClaimTemplates', 'minReadySeconds', 'ordinals'),
  }),
  DaemonSet: object({ ...required('selector', 'updateStrategy', 'revisionHistoryLimit'), template: podTemplate(true), ...optional('minReadySeconds') }),
  ReplicaSet: object({ ...required('replicas', 'selector'), template: podTemplate(true), ...optional('minReadySeconds') }),
  Job: object({
    ...required('parallelism', 'backoffLimit', 'completionMode', 'suspend', 'selector'), template: podTemplate(true),
    ...optional('completions', 'activeDeadlineSeconds', 'manualSelector', 'ttlSecondsAfterFinished', 'podReplacementPolicy', 'backoffLimitPerIndex',
      'maxFailedIndexes', 'podFailurePolicy', 'successPolicy', 'managedBy'),
  }),
  CronJob: object({
    ...required('schedule', 'concurrencyPolicy', 'suspend', 'successfulJobsHistoryLimit', 'failedJobsHistoryLimit'),
    jobTemplate: object({ 'metadata?': any, spec: object({ template: podTemplate(false), ...optional(
      'parallelism', 'completions', 'backoffLimit', 'activeDeadlineSeconds', 'selector', 'manualSelector', 'ttlSecondsAfterFinished', 'completionMode',
      'suspend', 'podReplacementPolicy', 'backoffLimitPerIndex', 'maxFailedIndexes', 'podFailurePolicy', 'successPolicy', 'managedBy') }) }),
    ...optional('timeZone', 'startingDeadlineSeconds'),
  }),
};

interface KindInfo {
  namespaced: boolean;
  /** Top-level fields besides apiVersion, kind and metadata. */
  fields?: Record<string, Shape>;
}

const namespaced = (fields?: Record<string, Shape>): KindInfo => ({ namespaced: true, fields });
const clusterScoped = (fields?: Record<string, Shape>): KindInfo => ({ namespaced: false, fields });

/** Kinds of the built-in API groups, by group ('' is core). A group listed here is complete for validation. */
export const wellKnownKinds: Record<string, Record<string, KindInfo>> = {
  '': {
    ConfigMap: namespaced(optional('data', 'binaryData', 'immutable')),
    Secret: namespaced({ ...required('type'), ...optional('data', 'stringData', 'immutable') }),
    ServiceAccount: namespaced(optional('secrets', 'imagePullSecrets', 'automountServiceAccountToken')),
    Service: namespaced({
      spec: object({
        ...required('type', 'sessionAffinity'),
        ...optional('ports', 'selector', 'clusterIP', 'clusterIPs', 'externalIPs', 'loadBalancerIP', 'loadBalancerSourceRanges', 'externalName',
          'externalTrafficPolicy', 'healthCheckNodePort', 'publishNotReadyAddresses', 'sessionAffinityConfig', 'ipFamilies', 'ipFamilyPolicy',
          'allocateLoadBalancerNodePorts', 'loadBalancerClass', 'internalTrafficPolicy', 'trafficDistribution'),
      }),
    }),
    PersistentVolumeClaim: namespaced({
      spec: object({
        ...required('accessModes', 'resources', 'volumeMode'),
        ...optional('selector', 'volumeName', 'storageClassName', 'dataSource', 'dataSourceRef', 'volumeAttributesClassName'),
      }),
    }),
    Pod: namespaced(), Endpoints: namespaced(), Event: namespaced(), LimitRange: namespaced(), ResourceQuota: namespaced(),
    ReplicationController: namespaced(), PodTemplate: namespaced(), Binding: namespaced(),
    Namespace: clusterScoped(optional('spec')), Node: clusterScoped(), PersistentVolume: clusterScoped(), ComponentStatus: clusterScoped(),
  },
  apps: {
    Deployment: namespaced({ spec: workloadSpecs.Deployment }),
    StatefulSet: namespaced({ spec: workloadSpecs.StatefulSet }),
    DaemonSet: namespaced({ spec: workloadSpecs.DaemonSet }),
    ReplicaSet: namespaced({ spec: workloadSpecs.ReplicaSet }),
    ControllerRevision: namespaced(),
  },
  batch: { Job: namespaced({ spec: workloadSpecs.Job }), CronJob: namespaced({ spec: workloadSpecs.CronJob }) },
  autoscaling: {
    HorizontalPodAutoscaler: namespaced({ spec: object({ ...required('scaleTargetRef', 'minReplicas', 'maxReplicas'), ...optional('metrics', 'behavior') }) }),
  },
  policy: { PodDisruptionBudget: namespaced({ spec: object(optional('minAvailable', 'maxUnavailable', 'selector', 'unhealthyPodEvictionPolicy')) }) },
  'rbac.authorization.k8s.io': {
    Role: namespaced(optional('rules')), RoleBinding: namespaced({ ...required('roleRef'), ...optional('subjects') }),
    ClusterRole: clusterScoped(optional('rules', 'aggregationRule')), ClusterRoleBinding: clusterScoped({ ...required('roleRef'), ...optional('subjects') }),
  },
  'networking.k8s.io': {
    Ingress: namespaced({ spec: object(optional('ingressClassName', 'defaultBackend', 'tls', 'rules')) }),
    NetworkPolicy: namespaced({ spec: object({ ...required('podSelector', 'policyTypes'), ...optional('ingress', 'egress') }) }),
    IngressClass: clusterScoped(), IPAddress: clusterScoped(), ServiceCIDR: clusterScoped(),
  },
  'storage.k8s.io': {
    StorageClass: clusterScoped(), CSIDriver: clusterScoped(), CSINode: clusterScoped(), VolumeAttachment: clusterScoped(),
    VolumeAttributesClass: clusterScoped(), CSIStorageCapacity: namespaced(),
  },
  'scheduling.k8s.io': { PriorityClass: clusterScoped() },
  'apiextensions.k8s.io': { CustomResourceDefinition: clusterScoped() },
  'admissionregistration.k8s.io': {
    ValidatingWebhookConfiguration: clusterScoped(), MutatingWebhookConfiguration: clusterScoped(), ValidatingAdmissionPolicy: clusterScoped(),
    ValidatingAdmissionPolicyBinding: clusterScoped(), MutatingAdmissionPolicy: clusterScoped(), MutatingAdmissionPolicyBinding: clusterScoped(),
  },
  'apiregistration.k8s.io': { APIService: clusterScoped() },
  'coordination.k8s.io': { Lease: namespaced(), LeaseCandidate: namespaced() },
  'discovery.k8s.io': { EndpointSlice: namespaced() },
  'events.k8s.io': { Event: namespaced() },
  'node.k8s.io': { RuntimeClass: clusterScoped() },
  'certificates.k8s.io': { CertificateSigningRequest: clusterScoped(), ClusterTrustBundle: clusterScoped() },
  'flowcontrol.apiserver.k8s.io': { FlowSchema: clusterScoped(), PriorityLevelConfiguration: clusterScoped() },
};

/** Kinds lifeboat never replicates (see DESIGN.md, default exclusions), as `group/Kind`. */
const alwaysExcluded = new Set([
  'Event', 'events.k8s.io/Event', 'coordination.k8s.io/Lease', 'Endpoints', 'discovery.k8s.io/EndpointSlice', 'Pod', 'Node', 'ComponentStatus',
  'Binding', 'certificates.k8s.io/CertificateSigningRequest', 'apps/ControllerRevision',
]);

/** Scope of a kind when it is well known; undefined for custom resources. */
export function isClusterScoped(pattern: KindPattern): boolean | undefined {
  const info = wellKnownKinds[pattern.group]?.[pattern.kind];
  return info ? !info.namespaced : undefined;
}

function kindShape(pattern: KindPattern): Shape | undefined {
  const info = wellKnownKinds[pattern.group]?.[pattern.kind];
  if (!info?.fields) return undefined;
  const metadata = object({ name: any, ...(info.namespaced ? { namespace: any } : {}), ...optional('labels', 'annotations', 'finalizers') });
  return object({ apiVersion: any, kind: any, metadata, ...info.fields });
}

// ---------------------------------------------------------------------------------------------------------------
// Checks of one plan

function kindProblems(text: string): { message: string; severity: Severity } | undefined {
  const pattern = parseKindPattern(text);
  if (pattern.kind === '*') return undefined;
  const group = wellKnownKinds[pattern.group];
  if (!group) return undefined; // a custom resource's group: discovery decides at run time
  if (group[pattern.kind]) {
    if (alwaysExcluded.has(text)) return { message: `${text} objects are never replicated (lifeboat's default exclusions); this selects nothing`, severity: Severity.warning };
    return undefined;
  }
  if (pattern.group === '') {
    const home = Object.entries(wellKnownKinds).find(([name, members]) => name !== '' && members[pattern.kind]);
    if (home) return { message: `unknown core kind "${pattern.kind}": it is in group ${home[0]}; write "${home[0]}/${pattern.kind}"`, severity: Severity.error };
    const guess = suggest(pattern.kind, Object.keys(group));
    return {
      message: `unknown core kind "${pattern.kind}"${guess ? `; did you mean "${guess}"?` : ': kinds of other groups, and custom resources, are written group/Kind'}`,
      severity: Severity.error,
    };
  }
  const guess = suggest(pattern.kind, Object.keys(group));
  return {
    message: `unknown kind "${pattern.kind}" in group ${pattern.group}; ${guess ? `did you mean "${guess}"?` : `known: ${Object.keys(group).sort().join(', ')}`}`,
    severity: Severity.error,
  };
}

function checkSelectorKinds(source: SourceDocument, selector: ResourceSelector | undefined, path: PathSegment[], include: boolean): PlanError[] {
  const errors: PlanError[] = [];
  (selector?.kinds ?? []).forEach((text, index) => {
    const found = kindProblems(text);
    if (found && (found.severity === Severity.error || include)) errors.push(errorAt(source, [...path, 'kinds', index], found.message, { severity: found.severity }));
    if (include && selector?.namespaces && isClusterScoped(parseKindPattern(text)) === true) {
      errors.push(errorAt(source, [...path, 'kinds', index], `${text} is cluster-scoped: namespaces do not filter it; choose its objects with names`, { severity: Severity.warning }));
    }
  });
  return errors;
}

type PointerProblem = { severity: Severity; message: string };

/** Whether a JSON patch location can be used for `mode` on objects of a shape. */
function pointerProblem(shape: Shape, segments: string[], mode: 'exists' | 'add'): PointerProblem | undefined {
  let current = shape;
  let warning: PointerProblem | undefined;
  for (let i = 0; i < segments.length; i++) {
    const segment = segments[i]!;
    const last = i === segments.length - 1;
    // Quoted short: a pointer can be thousands of segments long, and the message must stay one readable line.
    const here = i === 0 ? 'it' : shortened(`/${segments.slice(0, i).join('/')}`);
    const pointer = shortened(`/${segments.slice(0, i + 1).join('/')}`);
    if (current.type === 'any') return warning;
    if (current.type === 'object') {
      const field = current.fields[segment];
      if (!field) {
        const guess = suggest(segment, Object.keys(current.fields));
        return { severity: Severity.error, message: `${here} has no field ${quoteShort(segment)}${guess ? `; did you mean "${guess}"?` : ''}` };
      }
      if (!field.always && !(last && mode === 'add')) warning ??= { severity: Severity.warning, message: `${pointer} is optional` };
      current = field.shape;
    } else {
      if (segment === '-') {
        if (!(last && mode === 'add')) return { severity: Severity.error, message: `"-" (after the end of ${here}) only works as the last part of an add` };
        return warning;
      }
      if (!/^(0|[1-9][0-9]*)$/.test(segment)) return { severity: Severity.error, message: `${here} is a list: use an index (0, 1, ...) or "-" to append` };
      if (!(segment === '0' && current.nonEmpty) && !(last && mode === 'add' && segment === '0')) warning ??= { severity: Severity.warning, message: `${pointer} may not exist` };
      current = current.items;
    }
  }
  return warning;
}

function selectedKinds(plan: RecoveryPlan, select: ResourceSelector | undefined): KindPattern[] {
  const texts = select?.kinds ?? plan.spec.resources.include.flatMap((entry) => entry.kinds ?? ['*']);
  return [...new Set(texts)].map(parseKindPattern);
}

function checkJsonPatch(source: SourceDocument, plan: RecoveryPlan, select: ResourceSelector | undefined, operations: JsonPatchOperation[], path: PathSegment[]): PlanError[] {
  const errors: PlanError[] = [];
  const targets = selectedKinds(plan, select).map((pattern) => ({ pattern, shape: kindShape(pattern) })).filter((target) => target.shape);
  operations.forEach((operation, index) => {
    const locations: Array<{ field: 'path' | 'from'; mode: 'exists' | 'add' }> = [];
    switch (operation.op) {
      case 'add': locations.push({ field: 'path', mode: 'add' }); break;
      case 'remove': case 'replace': case 'test': locations.push({ field: 'path', mode: 'exists' }); break;
      case 'move': case 'copy': locations.push({ field: 'from', mode: 'exists' }, { field: 'path', mode: 'add' }); break;
      default: {
        const unreachable: never = operation.op;
        throw new Error(`unknown op ${String(unreachable)}`);
      }
    }
    for (const { field, mode } of locations) {
      const pointer = operation[field];
      if (pointer === undefined) continue;
      const segments = parseJsonPointer(pointer);
      const problems = targets.map((target) => ({ kind: formatKind(target.pattern), problem: pointerProblem(target.shape!, segments, mode) }));
      const failure = problems.find((entry) => entry.problem?.severity === Severity.error);
      const warning = problems.find((entry) => entry.problem?.severity === Severity.warning);
      const subject = `op "${operation.op}" ${field === 'from' ? 'from' : 'at'} ${quoteShort(pointer)}`;
      if (failure) {
        errors.push(errorAt(source, [...path, index, field], `${subject} cannot apply to ${failure.kind}: ${failure.problem!.message}`));
      } else if (warning) {
        const advice = operation.op === 'replace' ? '; "add" sets it either way' : '';
        errors.push(errorAt(source, [...path, index, field], `${subject} fails on ${warning.kind} objects without it: ${warning.problem!.message}${advice}`, { severity: Severity.warning }));
      }
    }
  });
  return errors;
}

/** Checks of one valid plan that the schema cannot express: kinds that exist, JSON patches that can apply. */
function checkPlan(source: SourceDocument, plan: RecoveryPlan): PlanError[] {
  const errors: PlanError[] = [];
  plan.spec.resources.include.forEach((entry, index) => errors.push(...checkSelectorKinds(source, entry, ['spec', 'resources', 'include', index], true)));
  plan.spec.resources.exclude.forEach((entry, index) => errors.push(...checkSelectorKinds(source, entry, ['spec', 'resources', 'exclude', index], false)));
  plan.spec.transforms.forEach((transform, index) => {
    const path = ['spec', 'transforms', index];
    errors.push(...checkSelectorKinds(source, transform.select, [...path, 'select'], false));
    if (transform.jsonPatch) errors.push(...checkJsonPatch(source, plan, transform.select, transform.jsonPatch, [...path, 'jsonPatch']));
  });
  return errors;
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

/** Typed views for callers that switch on kind. */
export function isRecoveryPlan(object: LifeboatObject | undefined): object is RecoveryPlan {
  return object?.kind === Kind.recoveryPlan;
}
export function isManagedCluster(object: LifeboatObject | undefined): object is ManagedCluster {
  return object?.kind === Kind.managedCluster;
}
export function isRecoveryExecutionJob(object: LifeboatObject | undefined): object is RecoveryExecutionJob {
  return object?.kind === Kind.recoveryExecutionJob;
}
