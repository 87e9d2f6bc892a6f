// Discovery: which kinds a cluster serves (preferred version of every group), their REST names and scope, and the
// REST paths built from them. A group that fails to answer (an aggregated API whose backend is down) is skipped and
// reported rather than failing the whole discovery, so one broken APIService does not stop replication of the rest.
//
// This uses the per-group-version documents (`/api/v1`, `/apis`, `/apis/<group>/<version>`): the aggregated
// discovery document needs an `Accept` header the raw client does not let callers choose, and the plain documents
// carry the same facts for preferred versions.
import { describeRef, type ObjectRef, type UnversionedRef } from './ref.ts';

/** One listable kind of a cluster, at its group's preferred version. */
export interface ApiResource {
  group: string;
  version: string;
  kind: string;
  /** The REST name: `deployments`. */
  plural: string;
  namespaced: boolean;
  /** Sorted, so two discoveries of the same kind compare equal. */
  verbs: string[];
}

/** A group version that could not be discovered, and why. */
export interface FailedGroup {
  groupVersion: string;
  message: string;
}

export interface Discovery {
  resources: ApiResource[];
  failedGroups: FailedGroup[];
}

/** What discovery needs from a client: KubeClient satisfies it, and tests can wrap it. */
export interface DiscoveryClient {
  request<T = unknown>(method: string, path: string, body?: undefined, options?: { retry?: { until: number } }): Promise<T>;
}

/**
 * A group that answers 503 is usually an aggregated API whose backend is down (metrics-server restarting, a
 * sleeping stand-by): retried briefly, then skipped, so one dead APIService does not hold discovery for the
 * client's whole 30 s retry window.
 */
const groupRetry = () => ({ retry: { until: Date.now() + 3000 } });

interface ApiResourceList {
  resources?: { name: string; kind: string; namespaced: boolean; verbs?: string[] }[];
}

interface ApiGroupList {
  groups?: { name: string; preferredVersion?: { groupVersion: string; version: string }; versions?: { groupVersion: string; version: string }[] }[];
}

/** How many group versions are fetched at once. */
const concurrency = 8;

/**
 * Discovers every kind at the preferred version of every group. Subresources (`deployments/scale`) are skipped.
 * Throws only when the core API or the group list cannot be read (the cluster is unreachable or denies discovery).
 */
export async function discoverResources(client: DiscoveryClient): Promise<Discovery> {
  const [core, groupList] = await Promise.all([
    client.request<ApiResourceList>('GET', '/api/v1'),
    client.request<ApiGroupList>('GET', '/apis'),
  ]);
  const resources = resourcesOf('', 'v1', core);
  const failedGroups: FailedGroup[] = [];
  const preferred = (groupList.groups ?? []).flatMap((group) => {
    const version = group.preferredVersion?.version ?? group.versions?.[0]?.version;
    return version ? [{ group: group.name, version }] : [];
  });
  const lists = await mapLimited(preferred, concurrency, async ({ group, version }) => {
    try {
      return resourcesOf(group, version, await client.request<ApiResourceList>('GET', `/apis/${group}/${version}`, undefined, groupRetry()));
    } catch (error) {
      failedGroups.push({ groupVersion: `${group}/${version}`, message: error instanceof Error ? error.message : String(error) });
      return [];
    }
  });
  resources.push(...lists.flat());
  failedGroups.sort((a, b) => compareStrings(a.groupVersion, b.groupVersion));
  return { resources, failedGroups };
}

function resourcesOf(group: string, version: string, list: ApiResourceList): ApiResource[] {
  return (list.resources ?? [])
    .filter((resource) => !resource.name.includes('/'))
    .map((resource) => ({ group, version, kind: resource.kind, plural: resource.name, namespaced: resource.namespaced, verbs: [...(resource.verbs ?? [])].sort() }));
}

async function mapLimited<T, R>(items: readonly T[], limit: number, work: (item: T) => Promise<R>): Promise<R[]> {
  const results: R[] = new Array<R>(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const index = next++;
      results[index] = await work(items[index] as T);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return results;
}

function compareStrings(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** A kind, optionally at a given version (otherwise the preferred one). */
export type KindRef = Pick<ObjectRef, 'group' | 'kind'> & { version?: string };

/** The kinds of one cluster, looked up by group and kind, and the REST paths of their objects. */
export class ResourceIndex {
  readonly resources: readonly ApiResource[];
  readonly failedGroups: readonly FailedGroup[];
  private readonly byGroupKind = new Map<string, ApiResource>();

  constructor(resources: readonly ApiResource[], failedGroups: readonly FailedGroup[] = []) {
    this.resources = resources;
    this.failedGroups = failedGroups;
    // A kind served by two resources (rare, e.g. legacy aliases) resolves to the first one listed.
    for (const resource of resources) {
      const key = `${resource.group}/${resource.kind}`;
      if (!this.byGroupKind.has(key)) this.byGroupKind.set(key, resource);
    }
  }

  static async discover(client: DiscoveryClient): Promise<ResourceIndex> {
    const { resources, failedGroups } = await discoverResources(client);
    return new ResourceIndex(resources, failedGroups);
  }

  byKind(group: string, kind: string): ApiResource | undefined {
    return this.byGroupKind.get(`${group}/${kind}`);
  }

  /** Like byKind, with an error that says what to do when the cluster does not serve the kind. */
  require(group: string, kind: string): ApiResource {
    const resource = this.byKind(group, kind);
    if (resource) return resource;
    const failed = this.failedGroups.find((failure) => failure.groupVersion.startsWith(`${group}/`));
    const why = failed ? `discovery of ${failed.groupVersion} failed: ${failed.message}` : 'is its CRD installed?';
    throw new Error(`the cluster does not serve kind ${kind}${group ? ` in group ${group}` : ' in the core group'} (${why})`);
  }

  /**
   * The REST path of a collection (no name) or of one object (with name). Without a namespace, a namespaced kind
   * gives the all-namespaces collection. The kind's version is used when given (it must match the object's
   * apiVersion for server-side apply); otherwise the preferred version.
   */
  path(kind: KindRef, at: { namespace?: string; name?: string } = {}): string {
    const resource = this.require(kind.group, kind.kind);
    const version = kind.version || resource.version;
    const base = resource.group === '' ? `/api/${version}` : `/apis/${resource.group}/${version}`;
    const segments = [base];
    if (at.namespace !== undefined) {
      if (!resource.namespaced) throw new Error(`${kind.kind} is cluster-scoped: a path for it takes no namespace (got ${JSON.stringify(at.namespace)})`);
      segments.push('namespaces', encodeURIComponent(at.namespace));
    } else if (resource.namespaced && at.name !== undefined) {
      throw new Error(`${kind.kind} is namespaced: the path of ${kind.kind} ${JSON.stringify(at.name)} needs a namespace`);
    }
    segments.push(resource.plural);
    if (at.name !== undefined) segments.push(encodeURIComponent(at.name));
    return segments.join('/');
  }

  /** The REST path of the object a ref names. */
  objectPath(ref: ObjectRef | UnversionedRef): string {
    try {
      return this.path(ref, { namespace: ref.namespace, name: ref.name });
    } catch (error) {
      throw new Error(`${describeRef(ref)}: ${error instanceof Error ? error.message : String(error)}`, { cause: error });
    }
  }

  /** Every kind that can be listed and watched: what a listener can follow. */
  listWatchable(): ApiResource[] {
    return this.resources.filter((resource) => resource.verbs.includes('list') && resource.verbs.includes('watch'));
  }
}
