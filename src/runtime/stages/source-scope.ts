// What the listener and the reconciler both ask of a source object: is its kind selected, is it worth publishing,
// and what it becomes before it leaves this process (a Secret encrypted, or refused when it carries ciphertext).
import type { KubeClient } from '../../kube/client.ts';
import { KubeError } from '../../kube/client.ts';
import type { ApiResource } from '../../kube/discovery.ts';
import type { KubeObject } from '../../kube/ref.ts';
import { defaultExclusion } from '../../pipeline/exclusions.ts';
import { encryptSecret, SecretEncryptionError } from '../../pipeline/secrets.ts';
import { candidateOf, type KubeObject as TransformObject } from '../../pipeline/transforms.ts';
import type { PlanPorts } from '../ports.ts';

/** Annotations only lifeboat writes on a Secret: their values decide what the stand-by decrypts. */
const encryptionAnnotations = ['lifeboat.dev/encrypted-data', 'lifeboat.dev/data-hash', 'lifeboat.dev/encrypted-to'];

/**
 * A source Secret carrying lifeboat's encryption annotations is refused, never passed on: its ciphertext would be
 * decrypted into the stand-by, so anyone able to write a source Secret could choose what the stand-by gets (another
 * Secret's data moved under this name, an old value replayed). It is reported and skipped until the annotations go.
 */
function refuseForeignCiphertext(secret: KubeObject): void {
  const carried = encryptionAnnotations.filter((key) => secret.metadata.annotations?.[key] !== undefined);
  if (carried.length) throw new SecretEncryptionError(`the source Secret carries ${carried.join(', ')}, which only lifeboat writes (copied from a mirror or a stand-by?); remove ${carried.length > 1 ? 'them' : 'it'} in the source to replicate it`);
}

export interface SourceScope {
  selectsKind: (resource: ApiResource) => boolean;
  relevant: (object: KubeObject, resource: ApiResource) => boolean;
  protect: (object: KubeObject) => Promise<KubeObject | undefined>;
}

export function sourceScope(ports: PlanPorts): SourceScope {
  const { compiled, plan, hashKey } = ports;
  return {
    selectsKind: (resource) => compiled.scope.selectsKind(resource.group, resource.kind, resource.namespaced),
    relevant: (object, resource) => !defaultExclusion(object).excluded && compiled.scope.mayInclude(candidateOf(object as TransformObject, resource.namespaced)),
    protect: async (object) => {
      if (object.kind !== 'Secret' || object.apiVersion !== 'v1') return object;
      if (plan.spec.secrets.mode !== 'encrypt') return undefined;
      refuseForeignCiphertext(object);
      return encryptSecret(object, plan.spec.secrets.recipients, hashKey);
    },
  };
}

/** Whether source namespaces are being deleted, asked once per namespace per two seconds. */
export class NamespaceStates {
  private readonly client: KubeClient;
  private readonly cache = new Map<string, { at: number; terminating: Promise<boolean> }>();

  constructor(client: KubeClient) {
    this.client = client;
  }

  check(namespace: string): Promise<boolean> {
    const cached = this.cache.get(namespace);
    if (cached && Date.now() - cached.at < 2000) return cached.terminating;
    const terminating = this.client.request<KubeObject>('GET', `/api/v1/namespaces/${encodeURIComponent(namespace)}`)
      .then((object) => object.metadata.deletionTimestamp !== undefined)
      .catch((error: unknown) => error instanceof KubeError && error.code === 404);
    this.cache.set(namespace, { at: Date.now(), terminating });
    return terminating;
  }
}
