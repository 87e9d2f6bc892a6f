// Who may publish and subscribe what on the bus, per component, derived from the streams in bus.ts: the listener
// may only publish source events, the processor only consume events and publish objects, and so on. A NATS server
// enforces these lists (the sandbox writes them into its configuration); a client without credentials gets nothing.
import { blobStream, streams, type StreamName } from './bus.ts';

/** The NATS users lifeboat's components connect as. `lifeboat` is `lifeboat run` with every stage in one process. */
export const busComponents = ['lifeboat', 'listener', 'processor', 'mirror', 'synchronizer'] as const;
export type BusComponent = (typeof busComponents)[number];

export interface SubjectPermissions {
  publish: string[];
  subscribe: string[];
}

const api = '$JS.API';
const streamNames = [...Object.values(streams).map((stream) => stream.name), blobStream.name];

/**
 * What every component does: JetStream's account check, making sure the streams exist (created, or scaled up to
 * the cluster's replicas when made with fewer: Bus.ensureStreams), replies to its requests.
 */
function connecting(): SubjectPermissions {
  return {
    publish: [`${api}.INFO`, ...streamNames.flatMap((name) => [`${api}.STREAM.INFO.${name}`, `${api}.STREAM.CREATE.${name}`, `${api}.STREAM.UPDATE.${name}`])],
    subscribe: ['_INBOX.>'],
  };
}

/** Publishing to a stage stream; a message too large for one NATS message goes to the blob stream first. */
function publishing(stream: StreamName): SubjectPermissions {
  return { publish: [`${streams[stream].subject}.>`, `${blobStream.subject}.>`], subscribe: [] };
}

/** Consuming a stage stream with a durable pull consumer: create and inspect it, pull, acknowledge, read blobs. */
function consuming(stream: StreamName): SubjectPermissions {
  const name = streams[stream].name;
  return {
    publish: [
      `${api}.CONSUMER.INFO.${name}.*`, `${api}.CONSUMER.CREATE.${name}.>`, `${api}.CONSUMER.DURABLE.CREATE.${name}.*`,
      `${api}.CONSUMER.MSG.NEXT.${name}.*`,
      // Acknowledgements go to the message's reply subject: $JS.ACK.<stream>.… (or with a domain and account hash).
      `$JS.ACK.${name}.>`, `$JS.ACK.*.*.${name}.>`,
      `${api}.DIRECT.GET.${blobStream.name}`, `${api}.DIRECT.GET.${blobStream.name}.>`,
    ],
    subscribe: [],
  };
}

/**
 * Looking into the streams (a stored message by subject, an ordered consumer reading a plan's messages) and removing
 * a plan for good: consumers deleted, messages purged.
 */
function administering(): SubjectPermissions {
  return {
    publish: streamNames.flatMap((name) => [
      `${api}.STREAM.MSG.GET.${name}`, `${api}.CONSUMER.CREATE.${name}`, `${api}.CONSUMER.CREATE.${name}.>`, `${api}.CONSUMER.INFO.${name}.*`,
      `${api}.CONSUMER.MSG.NEXT.${name}.*`, `${api}.CONSUMER.LIST.${name}`, `${api}.CONSUMER.DELETE.${name}.*`, `${api}.STREAM.PURGE.${name}`,
    ]),
    subscribe: [],
  };
}

function merge(...parts: SubjectPermissions[]): SubjectPermissions {
  const unique = (lists: string[][]) => [...new Set(lists.flat())].sort();
  return { publish: unique(parts.map((part) => part.publish)), subscribe: unique(parts.map((part) => part.subscribe)) };
}

/**
 * The subjects a component may publish and subscribe to. The synchronizer's process also runs the reconciler, which
 * puts what it finds back into the pipeline (events and objects).
 */
export function permissionsOf(component: BusComponent): SubjectPermissions {
  switch (component) {
    case 'listener': return merge(connecting(), publishing('events'));
    case 'processor': return merge(connecting(), consuming('events'), publishing('objects'));
    case 'mirror': return merge(connecting(), consuming('objects'), publishing('commits'));
    case 'synchronizer': return merge(connecting(), consuming('commits'), publishing('events'), publishing('objects'));
    case 'lifeboat': return merge(...(['listener', 'processor', 'mirror', 'synchronizer'] as const).map(permissionsOf), publishing('commits'), administering());
    default: {
      const unknown: never = component;
      throw new Error(`unknown bus component ${String(unknown)}`);
    }
  }
}
