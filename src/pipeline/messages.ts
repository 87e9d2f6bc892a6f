// The messages between stages, as discriminated unions, validated at the boundary where they are read.
import { hash } from 'node:crypto';
import type { KubeObject } from '../kube/ref.ts';

export interface ResourceInfo {
  group: string;
  version: string;
  kind: string;
  namespaced: boolean;
}

/** listener → processor: an object as the source has it (Secret data already encrypted). */
export type SourceEvent =
  | { type: 'source.upserted'; plan: string; resource: ResourceInfo; object: KubeObject; observedAt: number }
  | { type: 'source.deleted'; plan: string; resource: ResourceInfo; object: KubeObject; observedAt: number; namespaceTerminating?: boolean };

/**
 * processor → mirror: the destination form of an object and its mirror path, or its removal. `sourceVersion` is the
 * source resourceVersion the message reflects (for a delete: of the delete, or of the list that found it gone):
 * processor replicas may publish out of order, and the mirror writer never commits an older version over a newer.
 */
export type ObjectMessage =
  | { type: 'object.changed'; plan: string; path: string; content: string; secretHash?: string; summary: string; observedAt: number; sourceVersion?: string }
  | { type: 'object.deleted'; plan: string; path: string; summary: string; observedAt: number; sourceVersion?: string; reconciled?: boolean; approved?: boolean; guard?: 'namespace' }
  | { type: 'object.failed'; plan: string; summary: string; reason: string; observedAt: number };

/** listener → processor: events listed or watched together, carried by one JetStream message. */
export interface SourceEventBatch {
  type: 'source.batch';
  plan: string;
  events: SourceEvent[];
}

/** processor → mirror: the objects of one source batch, carried by one JetStream message. */
export interface ObjectBatch {
  type: 'object.batch';
  plan: string;
  messages: ObjectMessage[];
}

/** mirror → synchronizer: a new mirror commit for a plan; observed times feed the lag histogram. */
export interface CommitMessage {
  type: 'mirror.committed';
  plan: string;
  commit: string;
  /** Earliest source observation time per changed mirror path. */
  observed: Record<string, number>;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

export function isSourceEvent(value: unknown): value is SourceEvent {
  return isRecord(value) && (value.type === 'source.upserted' || value.type === 'source.deleted') && isRecord(value.object) && isRecord(value.resource);
}

export function isObjectMessage(value: unknown): value is ObjectMessage {
  return isRecord(value) && typeof value.type === 'string' && ['object.changed', 'object.deleted', 'object.failed'].includes(value.type);
}

export function isCommitMessage(value: unknown): value is CommitMessage {
  return isRecord(value) && value.type === 'mirror.committed' && typeof value.commit === 'string';
}

/** The source events a message carries: itself, a batch's, or none. */
export function sourceEventsOf(value: unknown): SourceEvent[] {
  if (isSourceEvent(value)) return [value];
  return isRecord(value) && value.type === 'source.batch' && Array.isArray(value.events) ? value.events.filter(isSourceEvent) : [];
}

/** The object messages a message carries: itself, a batch's, or none. */
export function objectMessagesOf(value: unknown): ObjectMessage[] {
  if (isObjectMessage(value)) return [value];
  return isRecord(value) && value.type === 'object.batch' && Array.isArray(value.messages) ? value.messages.filter(isObjectMessage) : [];
}

/**
 * The serialized batch messages for `items`: each at most `maxBytes` (an item larger than that travels alone), as
 * `{"type":<type>,"plan":<plan>,"<field>":[...]}` built from each item's JSON, with a de-duplication id derived
 * from the items' ids (a retried publish of the same items is dropped by JetStream). A batch of one is the item's
 * own message and id.
 */
export function serializeBatches<T>(type: SourceEventBatch['type'] | ObjectBatch['type'], plan: string, field: 'events' | 'messages', items: readonly T[],
  serialize: (item: T) => { json: string; id: string }, maxBytes: number): { json: string; dedupId: string; items: T[] }[] {
  const out: { json: string; dedupId: string; items: T[] }[] = [];
  const prefix = `{"type":${JSON.stringify(type)},"plan":${JSON.stringify(plan)},${JSON.stringify(field)}:[`;
  let parts: string[] = [];
  let ids: string[] = [];
  let members: T[] = [];
  // Bytes, not UTF-16 units: the server's limit is on bytes, and data is often not ASCII.
  const prefixBytes = Buffer.byteLength(prefix) + 2;
  let bytes = prefixBytes;
  const close = () => {
    if (parts.length === 0) return;
    // One item travels as itself, with its own id.
    if (parts.length === 1) out.push({ json: parts[0]!, dedupId: ids[0]!, items: members });
    else out.push({ json: `${prefix}${parts.join(',')}]}`, dedupId: `${plan}:batch:${hash('sha1', ids.join('\n'))}`, items: members });
    parts = [];
    ids = [];
    members = [];
    bytes = prefixBytes;
  };
  for (const item of items) {
    const { json, id } = serialize(item);
    const size = Buffer.byteLength(json);
    if (parts.length > 0 && bytes + size + 1 > maxBytes) close();
    parts.push(json);
    ids.push(id);
    members.push(item);
    bytes += size + 1;
  }
  close();
  return out;
}

/**
 * The objects a message names, for a person reading a log line about it: `kind namespace/name` (with the group) of
 * each source event, the summary (or mirror path) of each object message, the commit of a commit message.
 */
export function objectsNamedBy(value: unknown): string[] {
  const events = sourceEventsOf(value).map(({ resource, object }) => `${resource.group ? `${resource.group}/` : ''}${resource.kind} ${object.metadata.namespace ? `${object.metadata.namespace}/` : ''}${object.metadata.name}`);
  if (events.length) return events;
  const objects = objectMessagesOf(value).map((message) => ('path' in message ? `${message.summary} (${message.path})` : message.summary));
  if (objects.length) return objects;
  if (isCommitMessage(value)) return [`mirror commit ${value.commit}`];
  return [];
}

/**
 * True when resourceVersion `candidate` is older than `known`. resourceVersions are opaque to clients, but every
 * kube-apiserver backed by etcd gives decimal revisions that grow; anything else (absent, not decimal) is never
 * called older, so ordering falls back to arrival.
 */
export function olderVersion(candidate: string | undefined, known: string | undefined): boolean {
  if (!candidate || !known || !/^\d+$/.test(candidate) || !/^\d+$/.test(known)) return false;
  return BigInt(candidate) < BigInt(known);
}
