// A RecoveryExecutionJob's life: claimed once, then recorded. Claiming is a status update guarded by the
// resourceVersion the claimant read (optimistic concurrency): of two claimants, the API server lets exactly one write,
// the other gets 409 Conflict. The `lifeboat recover` command and every operator replica claim the same way.
import { KubeError, type KubeClient } from '../kube/client.ts';
import type { RecoveryExecutionJob } from '../plan/schema.ts';

/** Where a job's status is written: a client of the job's cluster and the job's path. */
export interface JobTarget {
  client: KubeClient;
  path: string;
}

/** Set on a job `lifeboat recover` creates and runs itself: operators leave it alone. */
export const runByAnnotation = 'lifeboat.dev/run-by';

/** The prefix of `status.claimedBy` for operator replicas (a replica that dies leaves its job to another). */
export const operatorClaimant = 'operator/';

type Condition = NonNullable<NonNullable<RecoveryExecutionJob['status']>['conditions']>[number];

/** The job's `Succeeded` condition (kubectl wait --for=condition=Succeeded): Unknown while it runs. */
export function jobCondition(status: 'True' | 'False' | 'Unknown', reason: string, message: string, generation?: number): Condition {
  return { type: 'Succeeded', status, reason, message: message.slice(0, 4000), lastTransitionTime: new Date().toISOString(), ...(generation ? { observedGeneration: generation } : {}) };
}

/**
 * Claims the job as read (its resourceVersion): phase Running, claimedBy, startTime kept from an earlier claim (a
 * takeover continues a job, it does not restart its clock). Answers the claimed job, or undefined when someone else
 * wrote it since it was read (409).
 */
export async function claimJob(client: KubeClient, path: string, job: RecoveryExecutionJob, claimedBy: string, message?: string): Promise<RecoveryExecutionJob | undefined> {
  const status = {
    ...job.status, phase: 'Running' as const, claimedBy, startTime: job.status?.startTime ?? new Date().toISOString(),
    conditions: [jobCondition('Unknown', 'Running', message ?? `claimed by ${claimedBy}`, (job.metadata as { generation?: number }).generation)],
  };
  try {
    return await client.request<RecoveryExecutionJob>('PUT', `${path}/status`, { ...job, status });
  } catch (error) {
    if (error instanceof KubeError && error.code === 409) return undefined;
    throw error;
  }
}
