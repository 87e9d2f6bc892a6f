// Validation of lifeboat objects: the schema of each document (every issue, each at its line and column), then the
// meaning of each plan (kinds that exist, JSON patches that can apply) and of the set (names, references, mirror
// directories, plans that would write the same objects). Pure: documents in, errors out.
import type { z } from 'zod';
import { errorAt, Severity } from './parse.ts';
import type { PlanError, SourceDocument } from './parse.ts';
import { apiGroup, apiVersion, Kind, kinds, kindSchemas } from './schema.ts';
import type { LifeboatObject, ManagedCluster, RecoveryExecutionJob, RecoveryPlan } from './schema.ts';
import { describeValue, issueErrors, suggest } from './issues.ts';
import { checkPlan } from './plan-checks.ts';

export { suggest } from './issues.ts';
export { kubeconfigPathProblem, validateSet } from './set-checks.ts';
export type { DocumentResult, KubeconfigFile, SetOptions } from './set-checks.ts';
import type { DocumentResult } from './set-checks.ts';
export { isClusterScoped, wellKnownKinds } from './well-known-kinds.ts';

// ---------------------------------------------------------------------------------------------------------------
// Documents

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
