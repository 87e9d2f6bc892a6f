// The reconciler: on start and every `reconcile.interval`, per plan, source ⇄ mirror ⇄ destination.
// Source → mirror: the source is listed again (read-only identity), every object goes through the same processor,
// and what the mirror misses — changes and deletes that happened while lifeboat was down or in a watch gap — is
// published into the pipeline (never written to git directly: the one mirror writer commits it, under the delete
// guard). Mirror → destination is the synchronizer's half (Synchronizer.reconcile): it compares and corrects (or
// only reports) drift, since only the process that writes to the destination may.
import { createHash } from 'node:crypto';
import type { KubeClient } from '../kube/client.ts';
import { ResourceIndex, type ApiResource } from '../kube/discovery.ts';
import { describeRef, refFromMirrorPath, type KubeObject } from '../kube/ref.ts';
import type { MirrorRepository } from '../mirror/repository.ts';
import { mapLimit } from '../util/limit.ts';
import type { Logger } from '../util/log.ts';
import { isExcludedKind } from './exclusions.ts';
import { resourceId, resourcePath, slim, sourceEventOf, type ListenerOptions } from './listener.ts';
import type { ObjectMessage, SourceEvent } from './messages.ts';
import { toYaml } from './normalize.ts';
import { processEvent, type CompiledPlan } from './processor.ts';
import { dataHashAnnotation, encryptedDataAnnotation, encryptedToAnnotation, isSecret, SecretEncryptionError, secretDataHash, withCiphertext } from './secrets.ts';
import { objectName } from './failures.ts';
import type { DestinationReport } from './synchronizer.ts';
import { parseYaml } from '../util/yaml.ts';

export interface SourceReport {
  /** The mirror commit the source was compared with. */
  revision: string | undefined;
  listed: number;
  /** Objects whose mirror file was missing or stale (republished). */
  changed: string[];
  /** Mirror files whose object is gone from the source (deletes published). */
  deleted: string[];
  /** Kinds that could not be listed: their mirror files are left alone. */
  failedKinds: string[];
  durationMs: number;
  /** Why the source was not listed this time (a plan's first start, on an empty mirror): nothing could be missed. */
  skipped?: string;
}

/** Both halves; a half this process does not run is `{ error: 'not run here' }`-like, naming who does. */
export interface ReconcileReport {
  plan: string;
  at: string;
  source: SourceReport | { error: string };
  destination: DestinationReport | { error: string };
}

export interface ReconcilerOptions {
  compiled: CompiledPlan;
  client: KubeClient;
  repository: MirrorRepository;
  selectsKind: ListenerOptions['selectsKind'];
  relevant: ListenerOptions['relevant'];
  protect: ListenerOptions['protect'];
  recipients: readonly string[];
  hashKey: string;
  /** An object that cannot be published (as the listener reports it): the rest of its kind is still compared. */
  onObjectFailed?: (object: string, reason: string) => void;
  /** True when the bus refused a message (too large, over a stream's limit), as for the listener. */
  refused?: (error: Error) => boolean;
  /** Every object of the plan's kinds the source has, named as failures name them, after a pass that listed all. */
  onSourceListed?: (objects: Set<string>, listedFrom: number) => void;
  publishEvent: (event: SourceEvent, dedupId: string) => Promise<void>;
  publishObject: (message: ObjectMessage, dedupId: string) => Promise<void>;
  log: Logger;
}

/** Git's blob id of a text: equal ids mean equal files, with no need to read the mirror's copy. */
export function blobOid(content: string): string {
  const bytes = Buffer.from(content);
  return createHash('sha1').update(`blob ${bytes.length}\0`).update(bytes).digest('hex');
}

export class Reconciler {
  private readonly options: ReconcilerOptions;

  constructor(options: ReconcilerOptions) {
    this.options = options;
  }

  /** Lists the source and publishes what the mirror (at the head read before listing) misses. */
  async reconcileSource(): Promise<SourceReport> {
    const { compiled, client, repository } = this.options;
    const started = Date.now();
    const revision = await repository.head();
    const files = await repository.files(revision, compiled.mirrorDir);
    const index = await ResourceIndex.discover(client);
    const kinds = index.listWatchable().filter((resource) => !isExcludedKind(resource.group, resource.kind) && this.options.selectsKind(resource));
    const report: SourceReport = { revision, listed: 0, changed: [], deleted: [], failedKinds: [], durationMs: 0 };
    const expected = new Set<string>();
    const listedKinds = new Set<string>();
    const listedObjects = new Set<string>();
    /** Per kind, the resourceVersion of its list: a delete found by it is as new as that (see olderVersion). */
    const listVersions = new Map<string, string>();
    await mapLimit(kinds, 4, async (resource) => {
      try {
        for await (const { items, resourceVersion } of client.listPages(resourcePath(resource), resource)) {
          if (resourceVersion && !listVersions.has(`${resource.group}/${resource.kind}`)) listVersions.set(`${resource.group}/${resource.kind}`, resourceVersion);
          report.listed += items.length;
          for (const raw of items) listedObjects.add(objectName(resource, raw.metadata));
          await mapLimit(items, 16, (raw) => this.compareOne(resource, raw, files, expected, report));
        }
        listedKinds.add(`${resource.group}/${resource.kind}`);
      } catch (error) {
        report.failedKinds.push(resourceId(resource));
        this.options.log.warn({ resource: resourceId(resource), err: (error as Error).message }, 'reconcile: cannot list this kind; its mirror files are left alone');
      }
    });
    if (compiled.propagateDeletes) {
      const deletes: Extract<ObjectMessage, { type: 'object.deleted' }>[] = [];
      for (const path of files.keys()) {
        if (expected.has(path)) continue;
        let kind: string;
        try {
          const { ref } = refFromMirrorPath(path);
          kind = `${ref.group}/${ref.kind}`;
        } catch {
          continue;
        }
        if (!listedKinds.has(kind)) continue;
        report.deleted.push(path);
        const sourceVersion = listVersions.get(kind);
        deletes.push({ type: 'object.deleted', plan: compiled.name, path, summary: describeRef(refFromMirrorPath(path).ref), observedAt: Date.now(), reconciled: true, ...(sourceVersion ? { sourceVersion } : {}) });
      }
      // Published together, so the mirror writer commits the deletes a reconcile found as one (and the guard judges
      // them as one burst), instead of one round trip after another straddling commits.
      await mapLimit(deletes, 16, (message) => this.options.publishObject(message, `${compiled.name}:reconcile-delete:${message.path}:${revision ?? ''}`));
    }
    report.durationMs = Date.now() - started;
    if (report.failedKinds.length === 0) this.options.onSourceListed?.(listedObjects, started);
    if (report.changed.length || report.deleted.length) {
      this.options.log.warn({ changed: report.changed.length, deleted: report.deleted.length }, 'reconcile: the mirror missed source changes; republished them');
    }
    return report;
  }

  /**
   * Compares one object; one that cannot be made safe to publish is reported and left out, never failing its kind
   * (that would leave every mirror file of the kind unreconciled). Its mirror file, if any, is kept (`compare` counts
   * it as expected before publishing): a skipped object is not a deleted one.
   */
  private async compareOne(resource: ApiResource, raw: KubeObject, files: Map<string, string>, expected: Set<string>, report: SourceReport): Promise<void> {
    try {
      await this.compare(resource, raw, files, expected, report);
    } catch (error) {
      if (!(error instanceof SecretEncryptionError) && !(error instanceof Error && this.options.refused?.(error))) throw error;
      const object = objectName(resource, raw.metadata);
      this.options.log.warn({ object, reason: error.message }, 'reconcile: object skipped: it cannot be published');
      this.options.onObjectFailed?.(object, `cannot be published: ${error.message}`);
    }
  }

  private async compare(resource: ApiResource, raw: KubeObject, files: Map<string, string>, expected: Set<string>, report: SourceReport): Promise<void> {
    const { compiled, repository } = this.options;
    if (!this.options.relevant(raw, resource)) return;
    const shadow = isSecret(raw) ? this.shadowSecret(raw) : slim(raw);
    if (!shadow) return;
    const event: SourceEvent = { type: 'source.upserted', plan: compiled.name, resource: { group: resource.group, version: resource.version, kind: resource.kind, namespaced: resource.namespaced }, object: shadow, observedAt: Date.now() };
    const message = processEvent(event, compiled);
    if (!message || message.type === 'object.failed') return;
    if (message.type === 'object.deleted') {
      // In the source but out of the plan's scope now: the mirror should not have it.
      if (files.has(message.path) && compiled.propagateDeletes) {
        report.deleted.push(message.path);
        await this.options.publishObject({ ...message, reconciled: true }, `${compiled.name}:reconcile-delete:${message.path}:${raw.metadata.resourceVersion as string}`);
      }
      return;
    }
    expected.add(message.path);
    const committed = files.get(message.path);
    let content = message.content;
    if (committed && message.secretHash) {
      // Same plaintext and recipients as committed: the committed ciphertext stands in for a new encryption.
      const previous = parseYaml(await repository.readText(committed)) as KubeObject;
      const previousAnnotations = previous.metadata.annotations ?? {};
      const object = parseYaml(content) as KubeObject;
      const annotations = object.metadata.annotations ?? {};
      if (previousAnnotations[dataHashAnnotation] === annotations[dataHashAnnotation] && previousAnnotations[encryptedToAnnotation] === annotations[encryptedToAnnotation]) {
        annotations[encryptedDataAnnotation] = previousAnnotations[encryptedDataAnnotation] ?? '';
        content = toYaml(object);
      }
    }
    if (committed && blobOid(content) === committed) return;
    const built = await sourceEventOf(compiled.name, resource, 'source.upserted', raw, this.options.protect);
    report.changed.push(message.path);
    if (built) await this.options.publishEvent(built.event, `${built.dedupId}:reconcile`);
  }

  /** A Secret as the listener would publish it, with a placeholder where the ciphertext goes (nothing encrypted). */
  private shadowSecret(raw: KubeObject): KubeObject | undefined {
    if (!this.options.compiled.replicateSecrets) return undefined;
    const recipients = [...new Set(this.options.recipients.map((recipient) => recipient.trim()))].sort();
    return withCiphertext(slim(raw), '', secretDataHash(raw, this.options.hashKey), recipients);
  }
}
