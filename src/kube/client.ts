// A small raw-JSON Kubernetes REST client. The generated typed clients drop unknown fields and turn timestamps
// into Dates, which a DR tool cannot afford; this client returns exactly what the API server sent.
// Credentials come from a kubeconfig context (kubeconfig.ts; @kubernetes/client-node's KubeConfig for sign-in programs).
import https from 'node:https';
import http from 'node:http';
import { createRequire } from 'node:module';
import fs from 'node:fs';
import path from 'node:path';
import type { KubeConfig } from '@kubernetes/client-node';
import { KubeconfigFile, type Kubeconfig } from './kubeconfig.ts';
import { escapeForYamlReaders, parseJson, stringifyJson } from '../util/json.ts';
import { apiVersionOf, type KubeObject } from './ref.ts';

const requireModule = createRequire(import.meta.url);

/**
 * client-node's KubeConfig class, loaded at the first kubeconfig rather than at start: the package takes ~0.3 s and
 * ~90 MB to load (its generated models come with it), which `lifeboat --help` and every command that never reads a
 * kubeconfig should not pay. Synchronous: Node.js 24 requires an ES module as it imports one.
 */
export function kubeConfigClass(): typeof KubeConfig {
  return (requireModule('@kubernetes/client-node') as typeof import('@kubernetes/client-node')).KubeConfig;
}

/** An error answered by the API server (or the transport), with the HTTP status when there is one. */
export class KubeError extends Error {
  readonly code: number;
  readonly reason: string;
  readonly body: unknown;
  /** The server's Retry-After, in milliseconds, when it sent one (429, 503). */
  readonly retryAfterMs: number | undefined;
  constructor(message: string, code: number, reason: string, body?: unknown, retryAfterMs?: number) {
    super(message);
    this.name = 'KubeError';
    this.code = code;
    this.reason = reason;
    this.body = body;
    this.retryAfterMs = retryAfterMs;
  }
}

/**
 * How long a request keeps retrying transient answers (429, 5xx, refused or reset connections, timeouts): until
 * `until` (epoch ms), with exponential backoff and full jitter between tries, honouring Retry-After. Answers that
 * cannot change by waiting (400, 403, 404, 409, 422, …) fail at once.
 */
export interface RetryPolicy {
  until: number;
}

/** The default when a caller sets no deadline: 30 s per request. */
export const defaultRetryMs = 30_000;
const firstDelayMs = 200;
const maxDelayMs = 5_000;

/** The wait before try `attempt + 1` (attempt ≥ 1): exponential with full jitter, at least Retry-After. */
export function retryDelay(attempt: number, error: unknown, random: () => number = Math.random): number {
  const ceiling = Math.min(maxDelayMs, firstDelayMs * 2 ** Math.max(0, attempt - 1));
  const jittered = ceiling / 2 + random() * (ceiling / 2);
  const retryAfter = error instanceof KubeError ? error.retryAfterMs ?? 0 : 0;
  return Math.max(jittered, retryAfter);
}

export interface RequestOptions {
  query?: Record<string, string | number | boolean | undefined>;
  contentType?: string;
  /** Retry transient failures until this deadline (default: the client's policy, 30 s); false: one try. */
  retry?: RetryPolicy | false;
  /** A successful response's body is read and dropped, not parsed (an apply's echo of the whole object). */
  discardBody?: boolean;
  /** The Accept header; application/json unless given (e.g. metadataOnly). */
  accept?: string;
  timeoutMs?: number;
}

/** Accept header for lists of metadata only (PartialObjectMetadataList), full objects where not supported. */
export const metadataOnly = 'application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1,application/json';

export interface ClientOptions {
  /** Maximum concurrent sockets to the API server. */
  maxSockets?: number;
}

interface Connection {
  kubeConfig: Kubeconfig;
  agent: https.Agent | http.Agent;
  watchAgent: https.Agent | http.Agent;
  headers: Record<string, string>;
  headersAt: number;
}

/**
 * Loads a kubeconfig (a file path, its content as `data`, or the default chain) and selects a context; a clear error
 * when it is missing. With `data`, `path` only names where the content came from (a Secret), for messages. Read by
 * lifeboat's own reader (kubeconfig.ts); client-node's KubeConfig reads the default chain and any context whose user
 * signs in through a program.
 */
export function loadKubeConfig(options: { path?: string; data?: string; context?: string }): Kubeconfig {
  if (!options.path && options.data === undefined) return selectContext(defaultChain(), options);
  const where = options.path ?? '(data)';
  // The parser's errors quote the file's lines: name the file and the problem, never its content.
  const problem = (error: { code?: string; linePos?: { line: number }[]; message: string }) =>
    error.linePos ? `not YAML (${error.code ?? 'syntax error'} at line ${error.linePos[0]?.line ?? '?'})` : ({ ENOENT: 'no such file', EISDIR: 'it is a directory', EACCES: 'permission denied' } as Record<string, string>)[error.code ?? ''] ?? `cannot be read (${error.code ?? 'not a kubeconfig'})`;
  let kubeconfig: KubeconfigFile;
  let content: string;
  try {
    content = options.data ?? fs.readFileSync(options.path!, 'utf8');
    kubeconfig = KubeconfigFile.parse(content, options.path && options.data === undefined ? path.dirname(path.resolve(options.path)) : process.cwd());
  } catch (error) {
    throw new Error(`kubeconfig ${where}: ${problem(error as Error)}`, { cause: error });
  }
  if (!kubeconfig.getClusters().length || !kubeconfig.getContexts().length) throw new Error(`kubeconfig ${where}: not a kubeconfig (it needs clusters, contexts and users)`);
  selectContext(kubeconfig, options);
  if (!kubeconfig.needsSignInProgram()) return kubeconfig;
  const full = new (kubeConfigClass())();
  if (options.data !== undefined) full.loadFromString(content);
  else full.loadFromFile(options.path!);
  return selectContext(full, options);
}

function defaultChain(): Kubeconfig {
  const full = new (kubeConfigClass())();
  full.loadFromDefault();
  return full;
}

function selectContext<T extends Kubeconfig>(kubeconfig: T, options: { path?: string; context?: string }): T {
  if (options.context) {
    if (!kubeconfig.getContextObject(options.context)) {
      const known = kubeconfig.getContexts().map((c) => c.name).join(', ') || 'none';
      throw new Error(`kubeconfig ${options.path ?? '(default)'} has no context "${options.context}" (contexts: ${known})`);
    }
    kubeconfig.setCurrentContext(options.context);
  }
  return kubeconfig;
}

export class KubeClient {
  readonly server: URL;
  readonly contextName: string;
  /** Agents and credentials, shared by the views withRetry() makes. Watches hold their connection for minutes: they
   * get their own pool (watchAgent) so they never starve requests (or each other). */
  private readonly connection: Connection;
  /** This view's deadline for retries: a fixed time, or a window from each request's start. */
  private readonly retryPolicy: RetryPolicy | { windowMs: number };

  private constructor(connection: Connection, retryPolicy: RetryPolicy | { windowMs: number }) {
    const cluster = connection.kubeConfig.getCurrentCluster();
    if (!cluster) throw new Error(`kubeconfig context "${connection.kubeConfig.getCurrentContext()}" has no cluster`);
    this.connection = connection;
    this.contextName = connection.kubeConfig.getCurrentContext();
    this.server = new URL(cluster.server);
    this.retryPolicy = retryPolicy;
  }

  /** The same connection whose requests retry transient failures until `policy.until` (an operation's deadline). */
  withRetry(policy: RetryPolicy | { windowMs: number }): KubeClient {
    return new KubeClient(this.connection, policy);
  }

  static async create(kubeConfig: Kubeconfig, options: ClientOptions = {}): Promise<KubeClient> {
    const tls: https.RequestOptions = {};
    await kubeConfig.applyToHTTPSOptions(tls);
    const server = kubeConfig.getCurrentCluster()?.server ?? '';
    const makeAgent = (maxSockets: number) => server.startsWith('http:')
      ? new http.Agent({ keepAlive: true, maxSockets })
      : new https.Agent({ keepAlive: true, maxSockets, ca: tls.ca, cert: tls.cert, key: tls.key, rejectUnauthorized: tls.rejectUnauthorized ?? true, servername: tls.servername });
    return new KubeClient({ kubeConfig, agent: makeAgent(options.maxSockets ?? 32), watchAgent: makeAgent(Infinity), headers: {}, headersAt: 0 }, { windowMs: defaultRetryMs });
  }

  /** Authorization headers can expire (exec plugins, rotated tokens): refresh them once a minute. */
  private async authHeaders(): Promise<Record<string, string>> {
    const connection = this.connection;
    if (Date.now() - connection.headersAt > 60_000) {
      const opts: https.RequestOptions = { headers: {} };
      await connection.kubeConfig.applyToHTTPSOptions(opts);
      connection.headers = Object.fromEntries(Object.entries(opts.headers ?? {}).map(([k, v]) => [k, String(v)]));
      if (opts.auth) connection.headers.Authorization = `Basic ${Buffer.from(opts.auth).toString('base64')}`;
      connection.headersAt = Date.now();
    }
    return connection.headers;
  }

  url(path: string, query?: RequestOptions['query']): URL {
    const url = new URL(path, this.server);
    for (const [key, value] of Object.entries(query ?? {})) if (value !== undefined) url.searchParams.set(key, String(value));
    return url;
  }

  /**
   * A LIST, page by page (`limit`/`continue`), its items with apiVersion and kind filled in (the API server leaves them
   * out of list items). `resourceVersion` is the list's (the first page's).
   */
  async *listPages(path: string, type: { group: string; version: string; kind: string }, query: RequestOptions['query'] = {}, limit = 500, accept?: string): AsyncGenerator<{ items: KubeObject[]; resourceVersion: string }> {
    const apiVersion = apiVersionOf(type);
    let continueToken: string | undefined;
    let resourceVersion: string | undefined;
    do {
      const page = await this.request<{ items: KubeObject[] | null; metadata: { resourceVersion: string; continue?: string } }>('GET', path, undefined, { query: { ...query, limit, continue: continueToken }, accept });
      resourceVersion ??= page.metadata.resourceVersion;
      yield { items: (page.items ?? []).map((item) => ({ ...item, apiVersion, kind: type.kind })), resourceVersion }; // an empty metadata-only list has `items: null`
      continueToken = page.metadata.continue || undefined;
    } while (continueToken);
  }

  /**
   * Sends a request and returns the response body parsed as JSON; non-2xx answers become a KubeError. Transient
   * failures are retried until the deadline (options.retry, else this client's policy); the last error is thrown.
   */
  async request<T = unknown>(method: string, path: string, body?: unknown, options: RequestOptions = {}): Promise<T> {
    const policy = options.retry ?? this.retryPolicy;
    if (policy === false) return this.once<T>(method, path, body, options);
    const until = 'until' in policy ? policy.until : Date.now() + policy.windowMs;
    for (let attempt = 1; ; attempt++) {
      try {
        return await this.once<T>(method, path, body, options);
      } catch (error) {
        if (!isRetryable(error)) throw error;
        const wait = retryDelay(attempt, error);
        if (Date.now() + wait > until) throw error;
        await new Promise((resolve) => setTimeout(resolve, wait));
      }
    }
  }

  private async once<T>(method: string, path: string, body: unknown, options: RequestOptions): Promise<T> {
    const response = await this.send(method, path, body, options);
    const status = response.statusCode ?? 0;
    if (options.discardBody && status >= 200 && status < 300) {
      await new Promise<void>((resolve, reject) => response.on('end', resolve).on('error', reject).resume());
      return undefined as T;
    }
    const text = await readAll(response);
    const parsed = text ? safeJson(text) : undefined;
    if (status >= 200 && status < 300) return parsed as T;
    throw toKubeError(method, path, status, parsed ?? text, retryAfter(response));
  }

  /** Opens a streaming request (watch). The caller owns the returned response and must destroy it. */
  async stream(path: string, options: RequestOptions = {}): Promise<http.IncomingMessage> {
    const response = await this.send('GET', path, undefined, options, this.connection.watchAgent);
    const status = response.statusCode ?? 0;
    if (status >= 200 && status < 300) return response;
    const text = await readAll(response);
    throw toKubeError('GET', path, status, safeJson(text) ?? text, retryAfter(response));
  }

  private async send(method: string, path: string, body: unknown, options: RequestOptions, agent = this.connection.agent): Promise<http.IncomingMessage> {
    const url = this.url(path, options.query);
    // Integers beyond 2^53 as their digits; characters YAML readers change escaped (an apply body is read as YAML).
    const payload = body === undefined ? undefined : typeof body === 'string' ? body : escapeForYamlReaders(stringifyJson(body));
    const headers: Record<string, string> = { Accept: options.accept ?? 'application/json', ...(await this.authHeaders()) };
    if (payload !== undefined) {
      headers['Content-Type'] = options.contentType ?? 'application/json';
      headers['Content-Length'] = String(Buffer.byteLength(payload));
    }
    const transport = url.protocol === 'http:' ? http : https;
    return new Promise((resolve, reject) => {
      const req = transport.request(url, { method, headers, agent }, resolve);
      req.setTimeout(options.timeoutMs ?? 60_000, () => req.destroy(new KubeError(`${method} ${url.pathname}: timed out`, 0, 'Timeout')));
      req.on('error', (error: Error & { code?: string }) => {
        reject(error instanceof KubeError ? error : new KubeError(`${method} ${url.pathname}: ${error.message}`, 0, error.code ?? 'ConnectionError'));
      });
      if (payload !== undefined) req.write(payload);
      req.end();
    });
  }

  close(): void {
    this.connection.agent.destroy();
    this.connection.watchAgent.destroy();
  }
}

function readAll(response: http.IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    response.on('data', (chunk: Buffer) => chunks.push(chunk));
    response.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    response.on('error', reject);
  });
}

/** The body as JSON, integers beyond 2^53 as bigints (a custom resource's int64 fields, digit for digit). */
function safeJson(text: string): unknown {
  try {
    return parseJson(text);
  } catch {
    return undefined;
  }
}

function toKubeError(method: string, path: string, status: number, body: unknown, retryAfterMs?: number): KubeError {
  const statusObject = (typeof body === 'object' && body !== null ? body : {}) as { message?: string; reason?: string };
  const message = statusObject.message ?? (typeof body === 'string' ? body.slice(0, 300) : `HTTP ${status}`);
  return new KubeError(`${method} ${path}: ${status} ${message}`, status, statusObject.reason ?? `HTTP${status}`, body, retryAfterMs);
}

/** Retry-After in seconds (the API server's form; an HTTP date is read too), capped at a minute. */
function retryAfter(response: http.IncomingMessage): number | undefined {
  const header = response.headers['retry-after'];
  if (!header) return undefined;
  const seconds = Number(header);
  const ms = Number.isFinite(seconds) ? seconds * 1000 : Date.parse(header) - Date.now();
  return Number.isFinite(ms) && ms > 0 ? Math.min(ms, 60_000) : undefined;
}

/** True for errors worth retrying: throttling, server errors, timeouts, broken connections (code 0). */
export function isRetryable(error: unknown): boolean {
  if (!(error instanceof KubeError)) return false;
  return error.code === 0 || error.code === 429 || error.code >= 500;
}
