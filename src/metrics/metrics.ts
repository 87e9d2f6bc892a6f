// Prometheus metrics (`lifeboat_*`) and the HTTP endpoints `/metrics`, `/healthz`, `/readyz`, on loopback unless
// configured otherwise. One registry per process, passed to every component (no module-level singleton).
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

export function createMetrics() {
  const registry = new Registry();
  // Node.js and process metrics as lifeboat_process_resident_memory_bytes, lifeboat_process_cpu_seconds_total, lifeboat_nodejs_*.
  collectDefaultMetrics({ register: registry, prefix: 'lifeboat_' });
  const registers = [registry];
  return {
    registry,
    events: new Counter({ name: 'lifeboat_source_events_total', help: 'Source events published by the listener', labelNames: ['plan', 'type'] as const, registers }),
    objects: new Counter({ name: 'lifeboat_processed_objects_total', help: 'Objects processed, by outcome', labelNames: ['plan', 'outcome'] as const, registers }),
    commits: new Counter({ name: 'lifeboat_mirror_commits_total', help: 'Mirror commits written', labelNames: ['plan'] as const, registers }),
    commitDuration: new Histogram({ name: 'lifeboat_mirror_commit_duration_seconds', help: 'Time to write one mirror commit', labelNames: ['plan'] as const,
      buckets: [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10], registers }),
    applies: new Counter({ name: 'lifeboat_applies_total', help: 'Objects applied or deleted at the destination, by action', labelNames: ['plan', 'action'] as const, registers }),
    applyErrors: new Counter({ name: 'lifeboat_apply_errors_total', help: 'Objects that failed to apply at the destination', labelNames: ['plan'] as const, registers }),
    lag: new Histogram({ name: 'lifeboat_replication_lag_seconds', help: 'From the source event to the destination apply', labelNames: ['plan'] as const,
      buckets: [0.05, 0.1, 0.25, 0.5, 0.75, 1, 2, 5, 10, 30, 60, 300], registers }),
    queueDepth: new Gauge({ name: 'lifeboat_queue_depth', help: 'Messages waiting for a stage', labelNames: ['plan', 'stage'] as const, registers }),
    planErrors: new Gauge({ name: 'lifeboat_plan_errors', help: 'Errors in the newest plans revision (non-zero: it was not applied); failures of objects are lifeboat_failing_objects', registers }),
    failingObjects: new Gauge({ name: 'lifeboat_failing_objects', help: 'Objects a stage skipped because it cannot handle them (named in lifeboat status); 0 once they go through or are deleted', labelNames: ['plan', 'stage'] as const, registers }),
    objectFailures: new Counter({ name: 'lifeboat_object_failures_total', help: 'Times a stage skipped an object it cannot handle', labelNames: ['plan', 'stage'] as const, registers }),
    stalled: new Gauge({ name: 'lifeboat_stalled', help: '1 while a component of the plan cannot make progress for any object (mirror not writable, a watch failing)', labelNames: ['plan', 'component'] as const, registers }),
    reconciles: new Counter({ name: 'lifeboat_reconcile_runs_total', help: 'Reconciler runs, by result', labelNames: ['plan', 'result'] as const, registers }),
    drift: new Gauge({ name: 'lifeboat_drift_objects', help: 'Destination objects that differ from the mirror (drifted, missing or orphaned) at the last reconcile', labelNames: ['plan', 'kind'] as const, registers }),
    corrections: new Counter({ name: 'lifeboat_reconcile_corrections_total', help: 'Corrections made by the reconciler, by where and what', labelNames: ['plan', 'action'] as const, registers }),
    deadLetters: new Counter({ name: 'lifeboat_dead_letters_total', help: 'Messages a stage gave up on (failed every delivery, or unreadable); the reconciler replicates their objects again', labelNames: ['plan', 'stage'] as const, registers }),
    heldDeletes: new Gauge({ name: 'lifeboat_deletes_held', help: 'Source deletes held by the delete guard, waiting for approval', labelNames: ['plan'] as const, registers }),
    planReady: new Gauge({ name: 'lifeboat_plan_ready', help: "1 while the plan's Ready condition is True (in sync), 0 otherwise", labelNames: ['plan'] as const, registers }),
    planLag: new Gauge({ name: 'lifeboat_plan_lag_seconds', help: 'The RPO right now: seconds since the source change of the oldest change not yet applied at the destination; 0 when caught up', labelNames: ['plan'] as const, registers }),
    lastApplied: new Gauge({ name: 'lifeboat_last_applied_timestamp_seconds', help: 'When the synchronizer last recorded a mirror revision as applied at the destination (Unix time)', labelNames: ['plan'] as const, registers }),
    objectsInMirror: new Gauge({ name: 'lifeboat_objects', help: 'Objects of the plan in the mirror (what the stand-by holds once caught up), by kind (group/Kind)', labelNames: ['plan', 'kind'] as const, registers }),
    recoveryJobs: new Counter({ name: 'lifeboat_recovery_jobs_total', help: 'RecoveryExecutionJobs run to the end, by result (succeeded, failed, dry_run)', labelNames: ['result'] as const, registers }),
    recoverySeconds: new Histogram({ name: 'lifeboat_recovery_seconds', help: 'Measured recovery time (RTO) of RecoveryExecutionJobs that changed the stand-by',
      buckets: [1, 2.5, 5, 10, 20, 30, 60, 120, 300, 600, 900], registers }),
    ready: new Gauge({ name: 'lifeboat_ready', help: '1 when /readyz answers 200: every plan finished its initial sync and none is stalled', registers }),
  };
}

export type Metrics = ReturnType<typeof createMetrics>;

function readiness(answer: boolean | { ready: boolean; reasons: string[] }): { ready: boolean; reasons: string[] } {
  return typeof answer === 'boolean' ? { ready: answer, reasons: ['initial sync in progress'] } : answer;
}

export interface MetricsServer {
  address: string;
  close(): Promise<void>;
}

/** `host:port`, `[v6]:port` or a port alone (loopback). */
export function parseListenAddress(addr: string): { host: string; port: number } {
  const colon = addr.lastIndexOf(':');
  const host = colon > 0 ? addr.slice(0, colon).replace(/^\[|\]$/g, '') : '127.0.0.1';
  const port = Number(colon >= 0 ? addr.slice(colon + 1) : addr);
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new Error(`${addr}: not host:port (a port 0-65535)`);
  return { host, port };
}

/** Serves the registry; `ready()` decides /readyz. `addr` is host:port (default 127.0.0.1:9464; port 0 picks one). */
export async function serveMetrics(metrics: Metrics, addr: string, ready: () => boolean | { ready: boolean; reasons: string[] }): Promise<MetricsServer> {
  const { host, port } = parseListenAddress(addr);
  const server = http.createServer(async (req, res) => {
    if (req.url === '/metrics') {
      // Decided as /readyz decides, at each scrape: the two never disagree.
      metrics.ready.set(readiness(ready()).ready ? 1 : 0);
      res.writeHead(200, { 'Content-Type': metrics.registry.contentType }).end(await metrics.registry.metrics());
    } else if (req.url === '/healthz') {
      res.writeHead(200).end('ok\n');
    } else if (req.url === '/readyz') {
      // Not ready says why, one line per plan: which cluster does not answer and since when, or the initial sync.
      const { ready: ok, reasons } = readiness(ready());
      res.writeHead(ok ? 200 : 503, { 'Content-Type': 'text/plain; charset=utf-8' }).end(ok ? 'ok\n' : `${reasons.join('\n')}\n`);
    } else {
      res.writeHead(404).end();
    }
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, resolve);
  });
  const address = server.address() as AddressInfo;
  return {
    address: `${address.address}:${address.port}`,
    close: () => new Promise((resolve) => {
      server.closeAllConnections();
      server.close(() => resolve());
    }),
  };
}
