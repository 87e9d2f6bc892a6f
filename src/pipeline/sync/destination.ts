// The destination as the synchronizer sees it, one object at a time: rendered from the mirror (decrypted, labelled,
// annotated with the revision, owners re-linked, held while the stand-by sleeps), then applied, deleted or read
// through src/kube/apply.ts. Each apply and delete answers an ApplyResult and never throws for one object.
import { apply, orThrow, read, remove } from '../../kube/apply.ts';
import type { KubeClient } from '../../kube/client.ts';
import { ResourceIndex } from '../../kube/discovery.ts';
import { describeRef, parseApiVersion, refOf, type KubeObject, type UnversionedRef } from '../../kube/ref.ts';
import type { MirrorRepository } from '../../mirror/repository.ts';
import { Semaphore } from '../../util/limit.ts';
import type { Logger } from '../../util/log.ts';
import { parseYaml } from '../../util/yaml.ts';
import { holdableKind, holdEverything, holderRef, holdNamespace, isHolder, standbyForm, type HoldOptions } from '../hold.ts';
import { decryptSecret, isEncryptedSecret } from '../secrets.ts';
import { annotations, planLabel } from '../transforms.ts';
import type { WorkItem } from './planner.ts';

export type ApplyAction = 'created' | 'configured' | 'unchanged' | 'deleted' | 'skipped' | 'failed';

export interface ApplyResult {
  path: string;
  ref: UnversionedRef;
  action: ApplyAction;
  reason?: string;
  /** The object's owner is in the mirror but not yet at the destination. */
  ownerPending?: boolean;
  /** When the apply or delete finished (epoch ms), for the replication lag. */
  at?: number;
}

/** Whether an owner of an object being rendered is in the mirror (then it is applied first). */
export type OwnerInMirror = (ref: UnversionedRef) => Promise<boolean>;

class OwnerPendingError extends Error {}

/** Kinds whose immutable fields may be changed by deleting and re-creating the object. */
const recreateAllowed = new Set(['batch/Job']);

/** The field manager of everything the synchronizer applies. */
export const fieldManager = 'lifeboat';

/** Which objects exist at the destination without this plan's label. */
export interface Ownership {
  /** True or false from the listing of the object's kind and namespace; undefined when that could not be listed. */
  foreign(ref: UnversionedRef): Promise<boolean | undefined>;
  /** Settles when every listing is done; the number of kind-and-namespace groups listed. */
  listed: Promise<number>;
}

export const noOwnership: Ownership = { foreign: () => Promise.resolve(undefined), listed: Promise.resolve(0) };

export interface DestinationOptions {
  plan: string;
  client: KubeClient;
  repository: MirrorRepository;
  identities: readonly string[];
  /** Requests in flight at once (applies, deletes, foreign-object listings), shared by every pass. */
  concurrency: number;
  log: Logger;
  hold?: HoldOptions;
}

export class Destination {
  private readonly options: DestinationOptions;
  /** The shared request slots: only the request holds one (rendering happens outside). */
  readonly slots: Semaphore;
  private resources: ResourceIndex | undefined;
  private discovering: Promise<ResourceIndex> | undefined;
  /** lifeboat-system, where holders live, created once when a holder is first applied. */
  private holdNamespace: Promise<unknown> | undefined;

  constructor(options: DestinationOptions) {
    this.options = options;
    this.slots = new Semaphore(options.concurrency);
  }

  get client(): KubeClient {
    return this.options.client;
  }

  get hold(): HoldOptions {
    return this.options.hold ?? holdEverything;
  }

  /** The destination's API resources, discovered once (again with `refresh`: after a CRD was established). */
  async index(refresh = false): Promise<ResourceIndex> {
    if (refresh) this.resources = await ResourceIndex.discover(this.options.client);
    else if (!this.resources) {
      this.discovering ??= ResourceIndex.discover(this.options.client).finally(() => (this.discovering = undefined));
      this.resources = await this.discovering;
    }
    return this.resources;
  }

  async read(ref: UnversionedRef): Promise<KubeObject | undefined> {
    const index = await this.index();
    let path: string;
    try {
      path = index.objectPath(ref);
    } catch {
      return undefined; // the kind is not served (yet) or the owner is cluster-scoped/namespaced differently
    }
    return read(this.options.client, path);
  }

  /** The object as the destination gets it: decrypted, labelled, annotated with the revision, owners re-linked. */
  async render(item: WorkItem, revision: string, ownerInMirror: OwnerInMirror): Promise<KubeObject> {
    const { plan, repository, identities } = this.options;
    let object = parseYaml(await repository.readText(item.oid!)) as KubeObject;
    if (isEncryptedSecret(object)) {
      const sourceNamespace = object.metadata.annotations?.[annotations.sourceNamespace];
      const decrypted = await decryptSecret(sourceNamespace ? { ...object, metadata: { ...object.metadata, namespace: sourceNamespace } } : object, identities);
      object = { ...decrypted, metadata: { ...decrypted.metadata, namespace: object.metadata.namespace } };
    }
    object.metadata.labels = { ...(object.metadata.labels ?? {}), [planLabel]: plan };
    object.metadata.annotations = { ...(object.metadata.annotations ?? {}), [annotations.revision]: revision };
    const owners = object.metadata.annotations[annotations.owners];
    if (owners) {
      const references = [];
      for (const owner of JSON.parse(owners) as { apiVersion: string; kind: string; name: string; blockOwnerDeletion?: boolean }[]) {
        const ownerRef = { ...parseApiVersion(owner.apiVersion), kind: owner.kind, namespace: object.metadata.namespace, name: owner.name };
        const live = await this.read(ownerRef);
        if (!live && (await ownerInMirror(ownerRef))) throw new OwnerPendingError(`waiting for its owner ${describeRef(ownerRef)} to be applied`);
        if (live?.metadata.labels?.[planLabel] === plan && typeof live.metadata.uid === 'string') {
          references.push({ apiVersion: owner.apiVersion, kind: owner.kind, name: owner.name, uid: live.metadata.uid, ...(owner.blockOwnerDeletion ? { blockOwnerDeletion: true } : {}) });
        }
      }
      if (references.length) object.metadata.ownerReferences = references;
    }
    return standbyForm(object, plan, this.hold);
  }

  /** Renders and applies one object; `existed`: the inventory has it (else what is there without our label is left). */
  async apply(item: WorkItem, revision: string, existed: boolean, ownerInMirror: OwnerInMirror, ownership: Ownership): Promise<ApplyResult> {
    const base = { path: item.path, ref: item.ref };
    const failed = (error: unknown): ApplyResult => {
      const reason = error instanceof Error ? error.message : String(error);
      if (!(error instanceof OwnerPendingError)) this.options.log.warn({ object: describeRef(item.ref), reason }, 'apply failed; will retry');
      return { ...base, action: 'failed', reason, ...(error instanceof OwnerPendingError ? { ownerPending: true } : {}) };
    };
    try {
      const object = await this.render(item, revision, ownerInMirror);
      const ref = refOf(object);
      let index = await this.index();
      if (!index.byKind(ref.group, ref.kind)) index = await this.index(true);
      const path = index.path(ref, { namespace: ref.namespace, name: ref.name });
      if (isHolder(object)) await this.ensureHoldNamespace();
      if (!existed) {
        // Never overwrite what someone else owns: an object already there without our plan label is left alone.
        const foreign = await ownership.foreign(ref)
          ?? await this.read(ref).then((live) => live !== undefined && live.metadata.labels?.[planLabel] !== this.options.plan);
        if (foreign) {
          return { ...base, action: 'skipped', reason: `not applied: ${describeRef(ref)} already exists at the destination without ${planLabel}=${this.options.plan}` };
        }
      }
      const outcome = await this.slots.run(() => apply(this.options.client, path, object, { fieldManager, recreateImmutable: recreateAllowed.has(`${ref.group}/${ref.kind}`) }));
      if (outcome.action === 'failed') return failed(outcome.error);
      return { ...base, action: existed ? 'configured' : 'created', at: Date.now() };
    } catch (error) {
      return failed(error);
    }
  }

  /** Deletes one object if it carries the plan label (and its holder, for a kind that may be held). */
  async delete(item: WorkItem): Promise<ApplyResult> {
    const base = { path: item.path, ref: item.ref };
    if (!item.liveOnly && holdableKind(item.ref, this.hold)) {
      // Held or not (an APIService is held only with a service), the object may be in either place.
      const holder = await this.delete({ path: item.path, ref: holderRef(this.options.plan, item.ref), oid: undefined });
      if (holder.action === 'failed') return { ...holder, ref: item.ref };
    }
    try {
      const live = await this.read(item.ref);
      if (!live) return { ...base, action: 'deleted', reason: 'already absent' };
      if (live.metadata.labels?.[planLabel] !== this.options.plan) return { ...base, action: 'skipped', reason: `not deleted: it does not carry ${planLabel}=${this.options.plan}` };
      const outcome = await remove(this.options.client, (await this.index()).objectPath(item.ref));
      if (outcome.action === 'failed') return { ...base, action: 'failed', reason: outcome.reason };
      return { ...base, action: 'deleted', at: Date.now() };
    } catch (error) {
      return { ...base, action: 'failed', reason: error instanceof Error ? error.message : String(error) };
    }
  }

  /** Waits (up to 30 s) until the CRDs are Established, then reads the API resources again: their kinds are served. */
  async waitForCustomResourceDefinitions(items: WorkItem[]): Promise<void> {
    const deadline = Date.now() + 30_000;
    for (const item of items) {
      while (Date.now() < deadline) {
        const crd = await this.read(item.ref).catch(() => undefined) as (KubeObject & { status?: { conditions?: { type: string; status: string }[] } }) | undefined;
        if (!crd || crd.status?.conditions?.some((condition) => condition.type === 'Established' && condition.status === 'True')) break;
        await new Promise((resolve) => setTimeout(resolve, 200));
      }
    }
    if (items.length) await this.index(true);
  }

  private ensureHoldNamespace(): Promise<unknown> {
    this.holdNamespace ??= apply(this.options.client, `/api/v1/namespaces/${holdNamespace}`, { apiVersion: 'v1', kind: 'Namespace', metadata: { name: holdNamespace } }, { fieldManager, force: false })
      .then(orThrow)
      .catch((error: unknown) => {
        this.holdNamespace = undefined;
        throw error;
      });
    return this.holdNamespace;
  }
}
