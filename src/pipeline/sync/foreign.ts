// Foreign objects: what exists at the destination without this plan's label, which the synchronizer never touches.
// Found with one LIST per kind and namespace among the collections a pass's new objects go to, instead of a GET per
// object; kinds the destination does not serve yet are left out, and their objects are checked one by one.
import { metadataOnly } from '../../kube/client.ts';
import { refKey, type UnversionedRef } from '../../kube/ref.ts';
import type { Logger } from '../../util/log.ts';
import { compareForApply } from '../order.ts';
import { planLabel } from '../transforms.ts';
import type { Destination, Ownership } from './destination.ts';


/** A kind with objects new to the destination in more namespaces than this is checked for foreign objects in one list. */
const clusterListAbove = 64;

const groupKey = (ref: UnversionedRef) => `${ref.group}/${ref.kind}/${ref.namespace ?? ''}`;

/**
 * Starts listing, per kind and namespace, the objects at the destination without this plan's label among the
 * collections `refs` go to, in apply order: each new object waits only for the listing of its own collection. Every
 * pass lists afresh (a listing shared across passes let a foreign object created meanwhile be overwritten).
 * Namespace by namespace, the cost follows the plan, not the cluster (a list across the cluster returns every other
 * application's objects); only a kind in very many namespaces is listed once across the cluster, when allowed.
 */
export function foreignObjects(destination: Destination, refs: UnversionedRef[], options: { plan: string; log: Logger }): Ownership {
  const collections = new Map<string, UnversionedRef>();
  const namespacesPerKind = new Map<string, number>();
  for (const ref of [...refs].sort(compareForApply)) {
    if (collections.has(groupKey(ref))) continue;
    collections.set(groupKey(ref), ref);
    const kind = `${ref.group}/${ref.kind}`;
    namespacesPerKind.set(kind, (namespacesPerKind.get(kind) ?? 0) + 1);
  }
  const query = { labelSelector: `${planLabel}!=${options.plan}` };
  // The destination's request slots, shared with every pass's applies and listings: overlapping passes never have
  // more requests in flight against the destination than sync.concurrency (each with its own limit, they multiplied).
  const requests = destination.slots;
  /** refKeys of the foreign objects of `ref`'s kind in its namespace, or across the cluster; undefined when not listed. */
  // Never rejects: a destination that cannot be discovered or listed (an API server just restarted whose RBAC cache is
  // still empty answers 403) leaves the collection unlisted, and each object is then looked at on its own.
  const list = (ref: UnversionedRef, acrossCluster: boolean) => requests.run(async () => {
    try {
      const index = await destination.index();
      const resource = index.byKind(ref.group, ref.kind);
      if (!resource) return undefined;
      const keys = new Set<string>();
      for await (const { items: page } of destination.client.listPages(index.path(ref, acrossCluster ? {} : { namespace: ref.namespace }), resource, query, 500, metadataOnly)) {
        for (const object of page) keys.add(refKey({ ...ref, namespace: object.metadata.namespace || undefined, name: object.metadata.name ?? '' }));
      }
      return keys;
    } catch (error) {
      // Across the cluster, perhaps not allowed: then namespace by namespace; in a namespace: object by object.
      options.log.debug({ kind: ref.kind, namespace: acrossCluster ? '*' : ref.namespace, err: (error as Error).message }, 'foreign objects not listed');
      return undefined;
    }
  });
  const clusterLists = new Map<string, Promise<Set<string> | undefined>>();
  const lists = new Map<string, Promise<Set<string> | undefined>>();
  for (const [key, ref] of collections) {
    const kind = `${ref.group}/${ref.kind}`;
    if (ref.namespace !== undefined && namespacesPerKind.get(kind)! > clusterListAbove) {
      if (!clusterLists.has(kind)) clusterLists.set(kind, list(ref, true));
      lists.set(key, clusterLists.get(kind)!.then((keys) => keys ?? list(ref, false)));
    } else lists.set(key, list(ref, false));
  }
  return {
    foreign: async (ref) => (await lists.get(groupKey(ref)))?.has(refKey(ref)),
    listed: Promise.all(lists.values()).then((all) => all.filter((keys) => keys !== undefined).length),
  };
}
