// `lifeboat drill`: a non-disruptive DR test. The plan's namespaced objects at the mirror head are copied into
// scratch namespaces of the stand-by (`drill-<id>-<namespace>`), already activated, with their Secrets decrypted —
// exactly what a fail-over would bring up, beside the sleeping stand-by instead of in place of it. The copies carry
// `lifeboat.dev/drill=<id>` and not the plan label, so no synchronizer or reconciler ever sees them. Lifeboat
// measures how long it took, reports what failed and why, and deletes the scratch namespaces.
import { randomBytes } from 'node:crypto';
import jsonpatch from 'fast-json-patch';
import { apply, dryRunApply, orThrow, remove } from '../kube/apply.ts';
import type { KubeClient } from '../kube/client.ts';
import { ResourceIndex } from '../kube/discovery.ts';
import { describeRef, refFromMirrorPath, type KubeObject, type UnversionedRef } from '../kube/ref.ts';
import type { MirrorRepository } from '../mirror/repository.ts';
import { stagesOf } from '../pipeline/order.ts';
import { decryptSecret, isEncryptedSecret } from '../pipeline/secrets.ts';
import { annotations } from '../pipeline/transforms.ts';
import { mapLimit } from '../util/limit.ts';
import { activationPatch } from './activate.ts';
import { parseYaml } from '../util/yaml.ts';

export const drillLabel = 'lifeboat.dev/drill';

export interface DrillOptions {
  plan: string;
  mirrorDir: string;
  repository: MirrorRepository;
  destination: KubeClient;
  identities: readonly string[];
  concurrency: number;
  /** Server-side dry run of every copy (the scratch namespaces are still created, then removed). */
  dryRun: boolean;
  /** Leave the scratch namespaces for inspection. */
  keep: boolean;
  /** The plan's recovery.timeout: transient failures are retried until then (default 15 min). */
  timeoutMs?: number;
}

export interface DrillReport {
  id: string;
  plan: string;
  revision: string;
  dryRun: boolean;
  namespaces: Record<string, string>;
  objects: number;
  applied: number;
  activated: number;
  failed: { object: string; reason: string }[];
  skipped: { object: string; reason: string }[];
  seconds: number;
  cleanup: 'deleted' | 'kept';
}

/** `drill-<id>-<namespace>`, cut to a valid namespace name. */
export function scratchNamespace(id: string, namespace: string): string {
  return `drill-${id}-${namespace}`.slice(0, 63).replace(/-+$/, '');
}

export async function drill(options: DrillOptions): Promise<DrillReport> {
  const { plan, mirrorDir, repository, identities, concurrency, dryRun } = options;
  const started = Date.now();
  // Like a recovery, a drill never fails on a transient answer: requests retry until its deadline.
  const destination = options.destination.withRetry({ until: started + (options.timeoutMs ?? 15 * 60_000) });
  const revision = await repository.head();
  if (!revision) throw new Error('the mirror has no commits yet');
  const id = randomBytes(3).toString('hex');
  const report: DrillReport = { id, plan, revision, dryRun, namespaces: {}, objects: 0, applied: 0, activated: 0, failed: [], skipped: [], seconds: 0, cleanup: options.keep ? 'kept' : 'deleted' };
  const items: (UnversionedRef & { oid: string })[] = [];
  for (const [path, oid] of await repository.files(revision, mirrorDir)) {
    const { ref } = refFromMirrorPath(path);
    if (!ref.namespace) {
      if (!(ref.group === '' && ref.kind === 'Namespace')) report.skipped.push({ object: describeRef(ref), reason: 'cluster-scoped: a drill copies namespaced objects only' });
      continue;
    }
    report.namespaces[ref.namespace] ??= scratchNamespace(id, ref.namespace);
    items.push({ ...ref, oid });
  }
  report.objects = items.length;
  const index = await ResourceIndex.discover(destination);
  try {
    for (const scratch of Object.values(report.namespaces)) {
      await destination.request('POST', '/api/v1/namespaces', { apiVersion: 'v1', kind: 'Namespace', metadata: { name: scratch, labels: { [drillLabel]: id } } });
    }
    for (const group of stagesOf(items, 'apply')) {
      await mapLimit(group.refs, concurrency, async (item) => {
        try {
          const copy = await drillCopy(parseYaml(await repository.readText(item.oid)) as KubeObject, report.namespaces[item.namespace!]!, id, identities);
          if (copy.activated) report.activated++;
          const path = index.path(item, { namespace: copy.object.metadata.namespace, name: item.name });
          orThrow(await (dryRun ? dryRunApply : apply)(destination, path, copy.object, { fieldManager: 'lifeboat-drill' }));
          report.applied++;
        } catch (error) {
          report.failed.push({ object: describeRef(item), reason: error instanceof Error ? error.message : String(error) });
        }
      });
    }
    report.seconds = (Date.now() - started) / 1000;
  } finally {
    if (!options.keep) {
      await Promise.all(Object.values(report.namespaces).map(async (scratch) => orThrow(await remove(destination, `/api/v1/namespaces/${scratch}`))));
    }
  }
  return report;
}

/** The object as a fail-over would leave it, moved into the scratch namespace and marked as a drill copy. */
async function drillCopy(stored: KubeObject, namespace: string, id: string, identities: readonly string[]): Promise<{ object: KubeObject; activated: boolean }> {
  let object = stored;
  if (isEncryptedSecret(object)) {
    const sourceNamespace = object.metadata.annotations?.[annotations.sourceNamespace];
    object = await decryptSecret(sourceNamespace ? { ...object, metadata: { ...object.metadata, namespace: sourceNamespace } } : object, identities);
  }
  const patch = activationPatch(object, `drill-${id}`);
  if (patch) object = jsonpatch.applyPatch(structuredClone(object), patch, true).newDocument;
  const { [annotations.owners]: _owners, [annotations.revision]: _revision, ...kept } = object.metadata.annotations ?? {};
  return {
    object: { ...object, metadata: { ...object.metadata, namespace, labels: { ...(object.metadata.labels ?? {}), [drillLabel]: id }, annotations: kept } },
    activated: patch !== undefined,
  };
}
