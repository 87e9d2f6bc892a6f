// The console's HTTP server: the page (src/console/web, built into web/dist by `npm run build:console`) and the
// API of api.ts. Served by `lifeboat console`, and by `lifeboat run` and `lifeboat operator` with --console-addr;
// on loopback unless configured otherwise. Reads come from Redis (each plan's status and lag history, as the
// running lifeboat writes them) and the mirror; actions (approve, reject, recover, drill) need the bearer token and
// run the same code as the CLI commands. One poll of Redis per second at most feeds every open page (server-sent
// events), however many are open.
import { randomBytes, timingSafeEqual } from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import type { Bus } from '../bus/bus.ts';
import { KubeClient, KubeError } from '../kube/client.ts';
import { parseListenAddress } from '../metrics/metrics.ts';
import { appliedRevisions, planHistory, revisionDiff } from '../mirror/history.ts';
import { parseTrailers, type MirrorRepository } from '../mirror/repository.ts';
import { approveDeletes, rejectDeletes } from '../pipeline/decisions.ts';
import type { RecoveryExecutionJob } from '../plan/schema.ts';
import { drill } from '../recovery/drill.ts';
import { jobsNamespace, planRecoveryOptions, Restorer } from '../recovery/restorer.ts';
import { kubeConfigOf, type PlanContext } from '../runtime/plans.ts';
import type { PlanStatus } from '../runtime/status.ts';
import type { StateStore } from '../state/state.ts';
import type { Logger } from '../util/log.ts';
import type * as Api from './api.ts';

export interface ConsoleOptions {
  /** host:port (a port alone: loopback); port 0 picks one. */
  addr: string;
  /** The bearer token every action needs; random when undefined; null: none, the console is read-only. */
  token?: string | null;
  /** Said to a person who acts without a token when there is none (null): how to give the console one. */
  noTokenHint?: string;
  mode: Api.Overview['mode'];
  state: StateStore;
  /** NATS, connected on first use (approving deletes publishes them to the mirror writer). */
  connectBus: () => Promise<Bus>;
  mirror: MirrorRepository;
  /** The plans this console knows (their specs and clusters), as they are now. */
  plans: () => ReadonlyMap<string, PlanContext> | Promise<ReadonlyMap<string, PlanContext>>;
  identities: readonly string[];
  log: Logger;
  /** Where the built page is (default: web/dist beside this file). */
  assetsDir?: string;
}

export interface ConsoleServer {
  url: string;
  /** undefined: the console is read-only (no token was configured). */
  token: string | undefined;
  close(): Promise<void>;
}

/** Sent with every answer: nothing but this server's own scripts, styles and connections; no framing. */
const securityHeaders = {
  'Content-Security-Policy': "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; font-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
  'X-Content-Type-Options': 'nosniff',
  'Referrer-Policy': 'no-referrer',
  'Cross-Origin-Opener-Policy': 'same-origin',
  'Cross-Origin-Resource-Policy': 'same-origin',
};
const contentTypes: Record<string, string> = {
  '.html': 'text/html; charset=utf-8', '.js': 'text/javascript; charset=utf-8', '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml', '.png': 'image/png', '.ico': 'image/x-icon', '.map': 'application/json',
};
/** Open pages at once (each holds one server-sent events connection). */
const maxStreams = 100;
const maxBodyBytes = 64 * 1024;

class HttpError extends Error {
  readonly code: number;
  constructor(code: number, message: string) {
    super(message);
    this.code = code;
  }
}

const readyOrder: Record<Api.ConditionStatus, number> = { False: 0, Unknown: 1, True: 2 };

/** The Ready condition of a plan from its status (the runner writes its verdict; an older one did not). */
function readyOf(status: PlanStatus | undefined): Api.ReadyCondition {
  if (!status) return { status: 'Unknown', reason: 'Starting', message: 'no status written yet: the plan is starting or no lifeboat runs it' };
  return status.ready ?? { status: 'Unknown', reason: 'Syncing', message: `status of ${status.updatedAt} (written by an older lifeboat)` };
}

const driftCount = (status: PlanStatus | undefined) => status?.reconcile ? status.reconcile.drifted.length + status.reconcile.missing + status.reconcile.orphaned : 0;

function summaryOf(name: string, status: PlanStatus | undefined, lagHistory: Api.LagSample[], lastCommit: Api.PlanSummary['lastCommit']): Api.PlanSummary {
  const objectsByKind = status?.objectsByKind ?? {};
  return {
    name, ready: readyOf(status), lagSeconds: status?.lagSeconds ?? null, lagHistory,
    objects: Object.values(objectsByKind).reduce((sum, count) => sum + count, 0), objectsByKind,
    heldDeletes: status?.heldDeletes ?? 0, drift: driftCount(status), failingObjects: (status?.failingObjects ?? 0) + (status?.lastErrors.length ?? 0),
    mirrorHead: status?.mirrorHead ?? null, appliedHead: status?.appliedHead ?? null, lastCommit, failedOver: status?.failedOver ?? null,
    updatedAt: status?.updatedAt ?? '',
  };
}

/** The console's token: $LIFEBOAT_CONSOLE_TOKEN, else a new random one. */
export function consoleToken(given: string | undefined = process.env.LIFEBOAT_CONSOLE_TOKEN): string {
  return given?.trim() || randomBytes(24).toString('base64url');
}

/** The Secret holding the operator's console token (key `token`), in the operator's namespace. */
export const consoleTokenSecret = 'lifeboat-console';

/**
 * The operator's console token: $LIFEBOAT_CONSOLE_TOKEN, else key `token` of the Secret lifeboat-console in its
 * namespace (replicas share it; the operator only reads Secrets). Without either, the console is read-only.
 */
export async function operatorConsoleToken(client: KubeClient, namespace: string): Promise<string | undefined> {
  if (process.env.LIFEBOAT_CONSOLE_TOKEN?.trim()) return process.env.LIFEBOAT_CONSOLE_TOKEN.trim();
  try {
    const secret = await client.request<{ data?: Record<string, string> }>('GET', `/api/v1/namespaces/${namespace}/secrets/${consoleTokenSecret}`);
    const token = secret.data?.token ? Buffer.from(secret.data.token, 'base64').toString('utf8').trim() : '';
    return token || undefined;
  } catch (error) {
    if (error instanceof KubeError && error.code === 404) return undefined;
    throw error;
  }
}

export async function serveConsole(options: ConsoleOptions): Promise<ConsoleServer> {
  return new Console(options).listen();
}

class Console {
  private readonly options: ConsoleOptions;
  private readonly token: Buffer | undefined;
  private readonly assetsDir: string;
  private readonly streams = new Set<http.ServerResponse>();
  private readonly server: http.Server;
  /** The newest mirror commit of each plan, computed once per mirror head. */
  private commits: { head: string | undefined; byPlan: Map<string, Api.PlanSummary['lastCommit']> } = { head: undefined, byPlan: new Map() };
  private lastOverview = '';
  private poller: NodeJS.Timeout | undefined;
  private polling = false;
  /** Jobs this console started: job name → plan, and what the job last looked like (sent to open pages). */
  private readonly jobs = new Map<string, { plan: string; last: string; done: boolean }>();
  private readonly clients = new Map<string, KubeClient>();
  private bus: Bus | undefined;

  constructor(options: ConsoleOptions) {
    this.options = options;
    this.token = options.token === null ? undefined : Buffer.from(options.token ?? consoleToken());
    this.assetsDir = options.assetsDir ?? path.join(path.dirname(new URL(import.meta.url).pathname), 'web', 'dist');
    this.server = http.createServer((req, res) => void this.handle(req, res));
  }

  async listen(): Promise<ConsoleServer> {
    const { host, port } = parseListenAddress(this.options.addr);
    await new Promise<void>((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(port, host, resolve);
    });
    if (!fs.existsSync(path.join(this.assetsDir, 'index.html'))) {
      this.options.log.warn({ assets: this.assetsDir }, 'the console page is not built (npm run build:console): the API answers, the page does not');
    }
    const address = this.server.address() as AddressInfo;
    const hostText = address.family === 'IPv6' ? `[${address.address}]` : address.address;
    return { url: `http://${hostText}:${address.port}/`, token: this.token?.toString(), close: () => this.close() };
  }

  private async close(): Promise<void> {
    clearInterval(this.poller);
    for (const stream of this.streams) stream.end();
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
    this.clients.forEach((client) => client.close());
  }

  private async handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://console');
    try {
      if (req.method === 'GET' || req.method === 'HEAD') await this.get(url, req, res);
      else if (req.method === 'POST') await this.post(url, req, res);
      else throw new HttpError(405, `${req.method} is not answered here: GET reads, POST acts`);
    } catch (error) {
      const code = error instanceof HttpError ? error.code : 500;
      if (code === 500) this.options.log.warn({ err: (error as Error).message, path: url.pathname }, 'console request failed');
      if (!res.headersSent) this.json(res, code, { error: (error as Error).message.split('\n')[0] ?? '' } satisfies Api.ApiError);
      else res.end();
    }
  }

  private json(res: http.ServerResponse, code: number, body: unknown): void {
    res.writeHead(code, { ...securityHeaders, 'Content-Type': 'application/json; charset=utf-8', 'Cache-Control': 'no-store' }).end(body === undefined ? undefined : JSON.stringify(body));
  }

  private async get(url: URL, req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const route = url.pathname;
    if (route === '/api/overview') return this.json(res, 200, await this.overview());
    if (route === '/api/events') return this.stream(req, res);
    let match = /^\/api\/plans\/([^/]+)(\/[a-z]+)?$/.exec(route);
    if (match) {
      const plan = decodeURIComponent(match[1]!);
      const context = await this.planContext(plan);
      switch (match[2]) {
        case undefined: return this.json(res, 200, await this.detail(plan, context));
        case '/history': return this.json(res, 200, await this.history(plan, context, Number(url.searchParams.get('limit') ?? 100)));
        case '/diff': return this.json(res, 200, await this.diff(context, plan, url.searchParams.get('from') ?? undefined, url.searchParams.get('to') ?? 'HEAD'));
        case '/deletes': return this.json(res, 200, await this.options.state.heldDeletes(plan) satisfies Api.HeldDeleteEntry[]);
        default: throw new HttpError(404, `no such page: ${route}`);
      }
    }
    match = /^\/api\/jobs\/([^/]+)$/.exec(route);
    if (match) return this.json(res, 200, await this.jobProgress(decodeURIComponent(match[1]!)));
    if (route.startsWith('/api/')) throw new HttpError(404, `no such API: ${route}`);
    return this.asset(route === '/' ? '/index.html' : route, res);
  }

  private asset(route: string, res: http.ServerResponse): void {
    const file = path.join(this.assetsDir, path.normalize(route).replace(/^(\.\.[/\\])+/, ''));
    if (!file.startsWith(this.assetsDir + path.sep) || !fs.existsSync(file) || !fs.statSync(file).isFile()) {
      if (route === '/index.html') throw new HttpError(503, `the console page is not built: run npm run build:console (expected ${file})`);
      throw new HttpError(404, `no such file: ${route}`);
    }
    const type = contentTypes[path.extname(file)] ?? 'application/octet-stream';
    res.writeHead(200, { ...securityHeaders, 'Content-Type': type, 'Cache-Control': route === '/index.html' ? 'no-cache' : 'max-age=300' }).end(fs.readFileSync(file));
  }

  /** An action: the bearer token first, a JSON body of at most 64 KiB. */
  private async post(url: URL, req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    this.authorize(req);
    const body = await readBody(req);
    if (url.pathname === '/api/session') {
      res.writeHead(204, securityHeaders).end();
      return;
    }
    const match = /^\/api\/plans\/([^/]+)\/(deletes\/approve|deletes\/reject|recover|drill)$/.exec(url.pathname);
    if (!match) throw new HttpError(404, `no such action: ${url.pathname}`);
    const plan = decodeURIComponent(match[1]!);
    const context = await this.planContext(plan);
    switch (match[2]) {
      case 'deletes/approve':
      case 'deletes/reject': return this.json(res, 200, await this.decide(plan, match[2] === 'deletes/approve', body as Api.DeleteDecision));
      case 'recover': return this.json(res, 200, await this.recover(plan, context, body as Api.RecoverRequest));
      default: return this.json(res, 200, await this.drill(plan, context, body as Api.DrillRequest));
    }
  }

  private authorize(req: http.IncomingMessage): void {
    if (!this.token) throw new HttpError(401, `this console is read-only: it has no token (${this.options.noTokenHint ?? 'set $LIFEBOAT_CONSOLE_TOKEN'})`);
    const header = req.headers.authorization ?? '';
    const match = /^Bearer\s+(\S+)$/i.exec(header);
    if (!match) throw new HttpError(401, 'missing bearer token: every action needs the console token (printed when the console started; in the operator, the Secret lifeboat-console)');
    const given = Buffer.from(match[1]!);
    if (given.length !== this.token.length || !timingSafeEqual(given, this.token)) throw new HttpError(401, 'wrong console token: actions need the token printed when the console started (or from the operator\'s Secret)');
  }

  private async planContext(plan: string): Promise<PlanContext | undefined> {
    const plans = await this.options.plans();
    const context = plans.get(plan);
    if (!context && !(await this.options.state.planStatuses<PlanStatus>(new Set([plan]))).length) {
      throw new HttpError(404, `no plan ${plan} (known: ${[...plans.keys()].sort().join(', ') || 'none'})`);
    }
    return context;
  }

  private requireContext(plan: string, context: PlanContext | undefined, what: string): PlanContext {
    if (!context) throw new HttpError(409, `${what} needs the plan's spec: plan ${plan} is not in this console's plans (give lifeboat console --plans)`);
    return context;
  }

  private destination(context: PlanContext): Promise<KubeClient> | KubeClient {
    if ('error' in context.destination) throw new HttpError(409, context.destination.error);
    const key = context.plan.spec.destination.cluster;
    const known = this.clients.get(key);
    if (known) return known;
    return KubeClient.create(kubeConfigOf(context.destination)).then((client) => {
      this.clients.set(key, client);
      return client;
    });
  }

  // Reads.

  private async lastCommits(): Promise<Map<string, Api.PlanSummary['lastCommit']>> {
    const head = await this.options.mirror.head();
    if (head === this.commits.head) return this.commits.byPlan;
    const byPlan = new Map<string, Api.PlanSummary['lastCommit']>();
    // The newest commit per plan; the walk stops at 2000 commits (a plan idle longer shows none).
    for (const commit of await this.options.mirror.log(2000)) {
      const plan = parseTrailers(commit.message).Plan;
      if (plan && !byPlan.has(plan)) byPlan.set(plan, { revision: commit.oid, time: new Date(commit.timestamp * 1000).toISOString(), summary: commit.message.split('\n')[0] ?? '' });
    }
    this.commits = { head, byPlan };
    return byPlan;
  }

  private async overview(): Promise<Api.Overview> {
    const { state } = this.options;
    const contexts = await this.options.plans();
    const statuses = await state.planStatuses<PlanStatus>(contexts.size ? new Set(contexts.keys()) : undefined);
    const byName = new Map(statuses.map((status) => [status.plan, status]));
    const names = [...new Set([...contexts.keys(), ...byName.keys()])];
    const histories = await state.lagHistories(names);
    const commits = await this.lastCommits();
    const plans = names.map((name) => summaryOf(name, byName.get(name), histories.get(name) ?? [], commits.get(name) ?? null))
      .sort((a, b) => readyOrder[a.ready.status] - readyOrder[b.ready.status] || a.name.localeCompare(b.name));
    return { plans, mode: this.options.mode, generatedAt: new Date().toISOString() };
  }

  private async detail(plan: string, context: PlanContext | undefined): Promise<Api.PlanDetail> {
    const { state } = this.options;
    const [status] = await state.planStatuses<PlanStatus>(new Set([plan]));
    const history = (await state.lagHistories([plan])).get(plan) ?? [];
    const summary = summaryOf(plan, status, history, (await this.lastCommits()).get(plan) ?? null);
    const reconcile = status?.reconcile;
    return {
      ...summary, errors: status?.failing ?? [], lastErrors: status?.lastErrors ?? [],
      reconcile: reconcile ? { at: reconcile.at, ...(reconcile.error ? { error: reconcile.error } : {}), drift: reconcile.drift, drifted: reconcile.drifted, missing: reconcile.missing, orphaned: reconcile.orphaned, corrected: reconcile.corrected } : null,
      source: context?.plan.spec.source.cluster ?? null, destination: context?.plan.spec.destination.cluster ?? null,
    };
  }

  private mirrorDir(plan: string, context: PlanContext | undefined): string {
    return context?.plan.spec.mirror.path ?? plan;
  }

  private async history(plan: string, context: PlanContext | undefined, limit: number): Promise<Api.Revision[]> {
    const applied = await appliedRevisions(this.options.state, plan);
    const entries = await planHistory(this.options.mirror, plan, this.mirrorDir(plan, context), { ...applied, limit: Math.min(Math.max(1, limit || 100), 1000) });
    return entries.map((entry) => ({ ...entry, planRevision: entry.planRevision ?? null }));
  }

  private async diff(context: PlanContext | undefined, plan: string, from: string | undefined, to: string): Promise<Api.Diff> {
    try {
      const diff = await revisionDiff(this.options.mirror, this.mirrorDir(plan, context), from ?? to, from ? to : undefined);
      return { from: diff.from ?? null, to: diff.to, files: diff.files };
    } catch (error) {
      throw new HttpError(400, (error as Error).message);
    }
  }

  private async jobProgress(job: string): Promise<Api.JobProgress> {
    const known = this.jobs.get(job);
    if (!known) throw new HttpError(404, `no job ${job} was started from this console (kubectl get recoveryexecutionjobs -n ${jobsNamespace} shows every job)`);
    const context = this.requireContext(known.plan, await this.planContext(known.plan), 'a job');
    const client = await this.destination(context);
    // Right after the start the job may not be written yet: it is Pending, not an error.
    const found = await client.request<RecoveryExecutionJob>('GET', `/apis/lifeboat.dev/v1alpha1/namespaces/${jobsNamespace}/recoveryexecutionjobs/${encodeURIComponent(job)}`)
      .catch((error: unknown) => {
        if (error instanceof KubeError && error.code === 404) return undefined;
        throw error;
      });
    const status = found?.status ?? { message: 'the RecoveryExecutionJob is being created' };
    return {
      job, plan: known.plan, phase: status.phase ?? 'Pending', counts: status.counts ?? {}, failures: status.failures ?? [], revision: status.revision ?? null,
      recoverySeconds: status.recoverySeconds ?? null, message: status.message ?? '', startTime: status.startTime ?? null, completionTime: status.completionTime ?? null,
    };
  }

  // Actions.

  private async decide(plan: string, approve: boolean, decision: Api.DeleteDecision): Promise<Api.DecisionResult> {
    const { state } = this.options;
    const held = await state.heldDeletes(plan);
    const wanted = decision.all ? undefined : new Set(decision.paths ?? []);
    if (!decision.all && !wanted?.size) throw new HttpError(400, 'say which deletes: {"all": true} or {"paths": [mirror paths]}');
    const picked = wanted ? held.filter((entry) => wanted.has(entry.path)) : held;
    const unknown = wanted ? [...wanted].filter((wantedPath) => !held.some((entry) => entry.path === wantedPath)) : [];
    if (unknown.length) throw new HttpError(409, `not held (any more) in plan ${plan}: ${unknown.slice(0, 3).join(', ')}${unknown.length > 3 ? ` and ${unknown.length - 3} more` : ''}`);
    if (!picked.length) return { decided: 0, message: `no deletes are held for plan ${plan}` };
    const message = approve ? await approveDeletes(await this.connectBus(), state, plan, picked) : await rejectDeletes(state, plan, picked);
    this.options.log.info({ plan, decision: approve ? 'approve' : 'reject', deletes: picked.length }, 'held deletes decided in the console');
    this.kick();
    return { decided: picked.length, message };
  }

  private async connectBus(): Promise<Bus> {
    return (this.bus ??= await this.options.connectBus());
  }

  private async recover(plan: string, maybeContext: PlanContext | undefined, request: Api.RecoverRequest): Promise<Api.RecoverPreview | Api.JobStarted> {
    const context = this.requireContext(plan, maybeContext, 'a recovery');
    if (request.to && request.at) throw new HttpError(400, 'give either to (a revision) or at (a time), not both');
    if (!request.dryRun && request.confirm !== plan) throw new HttpError(400, `type the plan's name (${plan}) to confirm a recovery`);
    const destination = await this.destination(context);
    const job = `${request.dryRun ? 'preview' : 'recover'}-${plan}-${new Date().toISOString().replace(/[^0-9]/g, '').slice(0, 14)}`.slice(0, 63).replace(/-+$/, '');
    const restorer = new Restorer({
      ...planRecoveryOptions(plan, context.plan.spec), jobName: job, destination, repository: this.options.mirror, state: this.options.state,
      identities: this.options.identities, log: this.options.log.child({ plan, job, from: 'console' }),
    });
    const target = { ...(request.to ? { to: request.to } : {}), ...(request.at ? { at: request.at } : {}) };
    if (request.dryRun) {
      const status = await restorer.run({ ...target, dryRun: true }).catch((error: Error) => {
        throw new HttpError(400, error.message);
      });
      return { dryRun: true, revision: status.revision ?? null, counts: status.counts ?? {}, message: status.message ?? '' };
    }
    this.jobs.set(job, { plan, last: '', done: false });
    this.options.log.warn({ plan, job, ...target }, 'recovery started from the console');
    // Runs on; its RecoveryExecutionJob (the same kubectl would create) says how far it got, every second.
    void restorer.run({ ...target, dryRun: false }).catch((error: Error) => this.options.log.error({ plan, job, err: error.message }, 'recovery from the console failed'))
      .finally(() => this.kick());
    this.kick();
    return { dryRun: false, job };
  }

  private async drill(plan: string, maybeContext: PlanContext | undefined, request: Api.DrillRequest): Promise<Api.DrillResult> {
    const context = this.requireContext(plan, maybeContext, 'a drill');
    const options = planRecoveryOptions(plan, context.plan.spec);
    const report = await drill({
      plan, mirrorDir: options.mirrorDir, repository: this.options.mirror, destination: await this.destination(context), identities: this.options.identities,
      concurrency: options.concurrency, dryRun: Boolean(request.dryRun), keep: false, timeoutMs: options.timeoutMs ?? 15 * 60_000,
    });
    return { id: report.id, revision: report.revision, objects: report.objects, applied: report.applied, activated: report.activated, seconds: report.seconds, failed: report.failed, namespaces: report.namespaces, cleanup: report.cleanup, dryRun: report.dryRun };
  }

  // Live updates: one poll feeds every open page.

  private stream(req: http.IncomingMessage, res: http.ServerResponse): void {
    if (this.streams.size >= maxStreams) throw new HttpError(503, `${maxStreams} pages are open already`);
    res.writeHead(200, { ...securityHeaders, 'Content-Type': 'text/event-stream; charset=utf-8', 'Cache-Control': 'no-store', Connection: 'keep-alive' });
    res.write('retry: 2000\n\n');
    this.streams.add(res);
    if (this.lastOverview) res.write(`event: overview\ndata: ${this.lastOverview}\n\n`);
    req.on('close', () => {
      this.streams.delete(res);
      if (!this.streams.size) {
        clearInterval(this.poller);
        this.poller = undefined;
      }
    });
    this.poller ??= setInterval(() => this.kick(), 1000);
    this.kick(true);
  }

  private send(event: string, data: string): void {
    for (const stream of this.streams) stream.write(`event: ${event}\ndata: ${data}\n\n`);
  }

  /** One poll (never two at once): the overview and running jobs, sent to the open pages when they changed. */
  private kick(force = false): void {
    if (this.polling || (!this.streams.size && !force)) return;
    this.polling = true;
    void (async () => {
      const overview = await this.overview();
      const text = JSON.stringify({ ...overview, generatedAt: '' });
      if (text !== this.lastOverview || force) {
        this.lastOverview = text;
        this.send('overview', JSON.stringify(overview));
      }
      for (const [job, known] of this.jobs) {
        if (known.done) continue;
        const progress = await this.jobProgress(job).catch(() => undefined);
        if (!progress) continue;
        const now = JSON.stringify(progress);
        known.done = progress.phase === 'Succeeded' || progress.phase === 'Failed';
        if (now !== known.last) {
          known.last = now;
          this.send('job', now);
        }
      }
    })().catch((error: Error) => this.options.log.warn({ err: error.message }, 'console poll failed')).finally(() => {
      this.polling = false;
    });
  }
}

async function readBody(req: http.IncomingMessage): Promise<unknown> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > maxBodyBytes) throw new HttpError(413, `the request body is over ${maxBodyBytes / 1024} KiB`);
    chunks.push(chunk);
  }
  const text = Buffer.concat(chunks).toString('utf8').trim();
  if (!text) return {};
  if (!/^application\/json\b/.test(req.headers['content-type'] ?? '')) throw new HttpError(415, 'actions take JSON: Content-Type: application/json');
  try {
    const value = JSON.parse(text) as unknown;
    if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new Error('not an object');
    return value;
  } catch (error) {
    throw new HttpError(400, `the request body is not a JSON object: ${(error as Error).message}`);
  }
}
