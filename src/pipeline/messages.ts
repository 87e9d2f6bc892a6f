// The messages between stages, as discriminated unions, validated at the boundary where they are read.
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

/** processor → mirror: the destination form of an object and its mirror path, or its removal. */
export type ObjectMessage =
  | { type: 'object.changed'; plan: string; path: string; content: string; secretHash?: string; summary: string; observedAt: number }
  | { type: 'object.deleted'; plan: string; path: string; summary: string; observedAt: number; reconciled?: boolean; approved?: boolean; guard?: 'namespace' }
  | { type: 'object.failed'; plan: string; summary: string; reason: string; observedAt: number };

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
