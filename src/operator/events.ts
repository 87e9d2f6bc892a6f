// Events about the operator's resources (core/v1, as kubectl describe and kubectl events show them): a RecoveryPlan's
// Ready changes, a RecoveryExecutionJob's outcome. A failure to record one is only logged: an Event is a courtesy,
// never a reason to stop.
import type { KubeClient } from '../kube/client.ts';
import type { KubeObject } from '../kube/ref.ts';
import { apiGroup, apiVersion, Kind } from '../plan/schema.ts';
import type { Logger } from '../util/log.ts';

/** Who owns the status fields the operator writes (server-side apply), and the Events' source component. */
export const fieldManager = 'lifeboat-operator';

export type OperatorEvent = { type: 'Normal' | 'Warning'; reason: string; message: string };
export type RecordEvent = (object: KubeObject, event: OperatorEvent) => Promise<void>;

/** Records Events in `namespace` (where the resources live), naming this process as the reporting instance. */
export function eventRecorder(client: KubeClient, namespace: string, instance: string, log: Logger): RecordEvent {
  return async (object, event) => {
    const now = new Date().toISOString();
    const metadata = object.metadata as { name: string; uid?: string; resourceVersion?: string };
    await client.request('POST', `/api/v1/namespaces/${namespace}/events`, {
      apiVersion: 'v1', kind: 'Event', metadata: { generateName: `${metadata.name}.`, namespace },
      involvedObject: { apiVersion, kind: object.kind, name: metadata.name, namespace, uid: metadata.uid, resourceVersion: metadata.resourceVersion },
      type: event.type, reason: event.reason, message: event.message.slice(0, 1000), count: 1, firstTimestamp: now, lastTimestamp: now,
      source: { component: fieldManager }, reportingComponent: `${apiGroup}/operator`, reportingInstance: instance,
    }).catch((error: Error) => log.warn({ [object.kind === Kind.recoveryPlan ? 'plan' : 'job']: metadata.name, reason: event.reason, err: error.message }, 'cannot record an Event'));
  };
}
