// Activation: the exact undo of the `deactivate` transform, from the annotations it left on the object. Pure: an
// object in, the JSON patch that wakes it out (undefined when it is not deactivated). The patch tests the fields it
// changes, so an object someone changed meanwhile fails loudly instead of being overwritten blindly.
import type { Operation } from 'fast-json-patch';
import { annotations, deactivatedNodeLabel } from '../pipeline/transforms.ts';

type Json = Record<string, unknown>;
const isRecord = (value: unknown): value is Json => typeof value === 'object' && value !== null && !Array.isArray(value);

/** `lifeboat.dev/deactivated` → `/metadata/annotations/lifeboat.dev~1deactivated`. */
const escape = (key: string) => key.replace(/~/g, '~0').replace(/\//g, '~1');

export const activatedAnnotation = 'lifeboat.dev/activated-by';

function pointerExists(object: unknown, pointer: string): boolean {
  let current: unknown = object;
  for (const raw of pointer.split('/').slice(1)) {
    const key = raw.replace(/~1/g, '/').replace(/~0/g, '~');
    if (Array.isArray(current)) current = current[Number(key)];
    else if (isRecord(current)) {
      if (!(key in current)) return false;
      current = current[key];
    } else return false;
  }
  return true;
}

/** What activation gives back (the plan's `recovery.activate`). */
export interface ActivationOptions {
  /** Replicas, HPA minReplicas, DaemonSet node selectors, replicasPaths. */
  restoreReplicas: boolean;
  /** CronJob/Job `suspend`, suspendPaths. */
  resumeSuspended: boolean;
}

export function activationPatch(object: { apiVersion: string; kind: string; metadata: { name?: string; annotations?: Record<string, string> } } & Json, activatedBy: string,
  options: ActivationOptions = { restoreReplicas: true, resumeSuspended: true }): Operation[] | undefined {
  const notes = object.metadata.annotations ?? {};
  if (notes[annotations.deactivated] !== 'true') return undefined;
  const ops: Operation[] = [];
  let partial = false;
  const spec = isRecord(object.spec) ? object.spec : undefined;
  const replicasNotes = [annotations.replicas, annotations.minReplicas, annotations.nodeSelector].filter((key) => notes[key] !== undefined);
  if (!options.restoreReplicas && replicasNotes.length) partial = true;
  if (!options.resumeSuspended && notes[annotations.suspend] !== undefined) partial = true;
  if (options.restoreReplicas && notes[annotations.replicas] !== undefined && spec) {
    const replicas = Number(notes[annotations.replicas]);
    if (!Number.isInteger(replicas) || replicas < 0) throw new Error(`annotation ${annotations.replicas} is not a replica count: ${notes[annotations.replicas]}`);
    ops.push({ op: 'add', path: '/spec/replicas', value: replicas });
  }
  if (options.resumeSuspended && notes[annotations.suspend] !== undefined && spec) ops.push({ op: 'add', path: '/spec/suspend', value: notes[annotations.suspend] === 'true' });
  if (options.restoreReplicas && notes[annotations.minReplicas] !== undefined && spec) ops.push({ op: 'add', path: '/spec/minReplicas', value: Number(notes[annotations.minReplicas]) });
  const savedSelector = notes[annotations.nodeSelector];
  if (options.restoreReplicas && savedSelector !== undefined) {
    const original = JSON.parse(savedSelector) as Record<string, string> | null;
    const template = isRecord(spec?.template) ? spec.template : undefined;
    const podSpec = isRecord(template?.spec) ? template.spec : undefined;
    const current = isRecord(podSpec?.nodeSelector) ? podSpec.nodeSelector : undefined;
    if (original && Object.keys(original).length) ops.push({ op: 'add', path: '/spec/template/spec/nodeSelector', value: original });
    else if (current) {
      const { [deactivatedNodeLabel]: _deactivated, ...rest } = current;
      ops.push(Object.keys(rest).length ? { op: 'add', path: '/spec/template/spec/nodeSelector', value: rest } : { op: 'remove', path: '/spec/template/spec/nodeSelector' });
    }
  }
  const savedPaths = notes[annotations.savedPaths];
  if (savedPaths !== undefined) {
    for (const [pointer, value] of Object.entries(JSON.parse(savedPaths) as Record<string, unknown>)) {
      // suspendPaths saved booleans (or nothing); replicasPaths saved counts.
      const isSuspend = typeof value === 'boolean' || (value === null && /suspend|pause/i.test(pointer));
      if (isSuspend ? !options.resumeSuspended : !options.restoreReplicas) {
        partial = true;
        continue;
      }
      if (value === null) {
        if (pointerExists(object, pointer)) ops.push({ op: 'remove', path: pointer });
      } else ops.push({ op: 'add', path: pointer, value });
    }
  }
  // Partly activated (the plan keeps some things asleep): stays marked, so a later full recovery can finish it.
  if (!partial) ops.push({ op: 'replace', path: `/metadata/annotations/${escape(annotations.deactivated)}`, value: 'false' });
  ops.push({ op: 'add', path: `/metadata/annotations/${escape(activatedAnnotation)}`, value: activatedBy });
  return ops;
}
