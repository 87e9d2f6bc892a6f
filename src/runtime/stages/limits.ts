// Sizes shared by the stages that publish batches.
import type { Bus } from '../../bus/bus.ts';

/**
 * Largest batch message between stages. Objects listed or watched together travel as one JetStream message (one
 * publish and ack instead of hundreds); never over what the server accepts (its max_payload, 1 MiB by default),
 * so only an object that is itself larger travels by reference (see Bus.publishSerialized).
 */
const maxBatchBytes = 256 * 1024;

export function batchBytes(bus: Bus): number {
  return Math.min(maxBatchBytes, bus.maxMessageBytes);
}

/**
 * True when NATS or JetStream refused this message (over max_payload, over a stream's limits), as opposed to being
 * unreachable: trying it again cannot help, so the listener skips the objects it carries instead of waiting.
 */
export function refusedByBus(error: Error): boolean {
  return error.name === 'InvalidArgumentError' || error.name === 'JetStreamApiError';
}
