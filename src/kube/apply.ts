// Server-side apply, delete, dry run and read of one object, each answering what it did as data. The request details
// every caller shares live here: the apply-patch content type, the field manager, forcing conflicts, re-creating an
// object whose immutable fields changed (where the caller allows it), and a 404 on delete meaning done.
import { KubeError, type KubeClient } from './client.ts';
import type { KubeObject } from './ref.ts';

/** One object's failure, with the error as thrown (a KubeError from the server, usually). */
export interface Failed {
  action: 'failed';
  reason: string;
  error: unknown;
}

export type ApplyOutcome = { action: 'applied' } | { action: 'recreated'; reason: string } | Failed;
export type DeleteOutcome = { action: 'deleted' } | { action: 'absent'; reason: string } | Failed;
export type DryRunOutcome = { action: 'applied'; object: KubeObject } | Failed;

export interface ApplyOptions {
  /** Who owns the applied fields (each caller its own: `lifeboat`, `lifeboat-drill`, …). */
  fieldManager: string;
  /** Take over fields another manager owns; default true (false for an object other tools may manage too). */
  force?: boolean;
  /** When the server refuses to change an immutable field (a Job's template): delete the object and apply it again. */
  recreateImmutable?: boolean;
}

const applyPatch = 'application/apply-patch+yaml';

const failed = (error: unknown): Failed => ({ action: 'failed', reason: error instanceof Error ? error.message : String(error), error });

const applyQuery = (options: ApplyOptions) => ({ fieldManager: options.fieldManager, ...(options.force === false ? {} : { force: true }) });

/** Server-side apply of `object` at `path` (the object's REST path); the server's echo of it is not read. */
export async function apply(client: KubeClient, path: string, object: KubeObject, options: ApplyOptions): Promise<ApplyOutcome> {
  const send = () => client.request('PATCH', path, object, { contentType: applyPatch, query: applyQuery(options), discardBody: true });
  try {
    await send();
    return { action: 'applied' };
  } catch (error) {
    if (!(options.recreateImmutable && error instanceof KubeError && error.code === 422 && /immutable/i.test(error.message))) return failed(error);
  }
  const removed = await remove(client, path);
  if (removed.action === 'failed') return removed;
  try {
    await send();
    return { action: 'recreated', reason: 'immutable fields changed: deleted and created again' };
  } catch (error) {
    return failed(error);
  }
}

/** What the server would make of applying `object` (defaults filled in, values normalized); nothing is changed. */
export async function dryRunApply(client: KubeClient, path: string, object: KubeObject, options: ApplyOptions): Promise<DryRunOutcome> {
  try {
    const result = await client.request<KubeObject>('PATCH', path, object, { contentType: applyPatch, query: { ...applyQuery(options), dryRun: 'All' } });
    return { action: 'applied', object: result };
  } catch (error) {
    return failed(error);
  }
}

/**
 * Deletes the object at `path`, its dependents in the background; one already gone counts as deleted. With `dryRun`,
 * the server checks the delete (admission, permissions) and keeps the object.
 */
export async function remove(client: KubeClient, path: string, options: { dryRun?: boolean } = {}): Promise<DeleteOutcome> {
  try {
    await client.request('DELETE', path, undefined, { query: { propagationPolicy: 'Background', ...(options.dryRun ? { dryRun: 'All' } : {}) } });
    return { action: 'deleted' };
  } catch (error) {
    if (error instanceof KubeError && error.code === 404) return { action: 'absent', reason: 'already absent' };
    return failed(error);
  }
}

/** The object at `path`, or undefined when there is none; any other error is thrown. */
export async function read<T = KubeObject>(client: KubeClient, path: string): Promise<T | undefined> {
  try {
    return await client.request<T>('GET', path);
  } catch (error) {
    if (error instanceof KubeError && error.code === 404) return undefined;
    throw error;
  }
}

/** For a caller that stops at the first failure: the outcome, or its error thrown as it came. */
export function orThrow<T extends { action: string }>(outcome: T): Exclude<T, Failed> {
  if (outcome.action === 'failed') throw (outcome as unknown as Failed).error;
  return outcome as Exclude<T, Failed>;
}
