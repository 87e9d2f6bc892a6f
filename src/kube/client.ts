// A small raw-JSON Kubernetes REST client. The generated typed clients drop unknown fields and turn timestamps
// into Dates, which a DR tool cannot afford; this client returns exactly what the API server sent.
// Credentials come from a kubeconfig context through @kubernetes/client-node's KubeConfig.
import https from 'node:https';
import http from 'node:http';
import { KubeConfig } from '@kubernetes/client-node';
import { apiVersionOf, type KubeObject } from './ref.ts';

/** An error answered by the API server (or the transport), with the HTTP status when there is one. */
export class KubeError extends Error {
  readonly code: number;
  readonly reason: string;
  readonly body: unknown;
  constructor(message: string, code: number, reason: string, body?: unknown) {
    super(message);
    this.name = 'KubeError';
    this.code = code;
    this.reason = reason;
    this.body = body;
  }
}

export interface RequestOptions {
  query?: Record<string, string | number | boolean | undefined>;
  contentType?: string;
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

/** Loads a kubeconfig (file path or the default chain) and selects a context; a clear error when it is missing. */
export function loadKubeConfig(options: { path?: string; context?: string }): KubeConfig {
  const kc = new KubeConfig();
  if (options.path) kc.loadFromFile(options.path);
  else kc.loadFromDefault();
  if (options.context) {
    if (!kc.getContextObject(options.context)) {
      const known = kc.getContexts().map((c) => c.name).join(', ') || 'none';
      throw new Error(`kubeconfig ${options.path ?? '(default)'} has no context "${options.context}" (contexts: ${known})`);
    }
    kc.setCurrentContext(options.context);
  }
  return kc;
}

export class KubeClient {
  readonly server: URL;
  readonly contextName: string;
  private readonly kubeConfig: KubeConfig;
  private readonly agent: https.Agent | http.Agent;
  /** Watches hold their connection for minutes: they get their own pool so they never starve requests (or each other). */
  private readonly watchAgent: https.Agent | http.Agent;
  private headers: Record<string, string> = {};
  private headersAt = 0;

  private constructor(kubeConfig: KubeConfig, agent: https.Agent | http.Agent, watchAgent: https.Agent | http.Agent) {
    const cluster = kubeConfig.getCurrentCluster();
    if (!cluster) throw new Error(`kubeconfig context "${kubeConfig.getCurrentContext()}" has no cluster`);
    this.kubeConfig = kubeConfig;
    this.contextName = kubeConfig.getCurrentContext();
    this.server = new URL(cluster.server);
    this.agent = agent;
    this.watchAgent = watchAgent;
  }

  static async create(kubeConfig: KubeConfig, options: ClientOptions = {}): Promise<KubeClient> {
    const tls: https.RequestOptions = {};
    await kubeConfig.applyToHTTPSOptions(tls);
    const server = kubeConfig.getCurrentCluster()?.server ?? '';
    const makeAgent = (maxSockets: number) => server.startsWith('http:')
      ? new http.Agent({ keepAlive: true, maxSockets })
      : new https.Agent({ keepAlive: true, maxSockets, ca: tls.ca, cert: tls.cert, key: tls.key, rejectUnauthorized: tls.rejectUnauthorized ?? true, servername: tls.servername });
    return new KubeClient(kubeConfig, makeAgent(options.maxSockets ?? 32), makeAgent(Infinity));
  }

  /** Authorization headers can expire (exec plugins, rotated tokens): refresh them once a minute. */
  private async authHeaders(): Promise<Record<string, string>> {
    if (Date.now() - this.headersAt > 60_000) {
      const opts: https.RequestOptions = { headers: {} };
      await this.kubeConfig.applyToHTTPSOptions(opts);
      this.headers = Object.fromEntries(Object.entries(opts.headers ?? {}).map(([k, v]) => [k, String(v)]));
      if (opts.auth) this.headers.Authorization = `Basic ${Buffer.from(opts.auth).toString('base64')}`;
      this.headersAt = Date.now();
    }
    return this.headers;
  }

  url(path: string, query?: RequestOptions['query']): URL {
    const url = new URL(path, this.server);
    for (const [key, value] of Object.entries(query ?? {})) if (value !== undefined) url.searchParams.set(key, String(value));
    return url;
  }

  /** Sends a request and returns the response body parsed as JSON; non-2xx answers become a KubeError. */
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

  async request<T = unknown>(method: string, path: string, body?: unknown, options: RequestOptions = {}): Promise<T> {
    const response = await this.send(method, path, body, options);
    const status = response.statusCode ?? 0;
    if (options.discardBody && status >= 200 && status < 300) {
      await new Promise<void>((resolve, reject) => response.on('end', resolve).on('error', reject).resume());
      return undefined as T;
    }
    const text = await readAll(response);
    const parsed = text ? safeJson(text) : undefined;
    if (status >= 200 && status < 300) return parsed as T;
    throw toKubeError(method, path, status, parsed ?? text);
  }

  /** Opens a streaming request (watch). The caller owns the returned response and must destroy it. */
  async stream(path: string, options: RequestOptions = {}): Promise<http.IncomingMessage> {
    const response = await this.send('GET', path, undefined, options, this.watchAgent);
    const status = response.statusCode ?? 0;
    if (status >= 200 && status < 300) return response;
    const text = await readAll(response);
    throw toKubeError('GET', path, status, safeJson(text) ?? text);
  }

  private async send(method: string, path: string, body: unknown, options: RequestOptions, agent = this.agent): Promise<http.IncomingMessage> {
    const url = this.url(path, options.query);
    const payload = body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body);
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
    this.agent.destroy();
    this.watchAgent.destroy();
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

function safeJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

function toKubeError(method: string, path: string, status: number, body: unknown): KubeError {
  const statusObject = (typeof body === 'object' && body !== null ? body : {}) as { message?: string; reason?: string };
  const message = statusObject.message ?? (typeof body === 'string' ? body.slice(0, 300) : `HTTP ${status}`);
  return new KubeError(`${method} ${path}: ${status} ${message}`, status, statusObject.reason ?? `HTTP${status}`, body);
}

/** True for errors worth retrying: throttling, server errors, timeouts, broken connections. */
export function isRetryable(error: unknown): boolean {
  if (!(error instanceof KubeError)) return false;
  return error.code === 0 || error.code === 429 || error.code >= 500;
}
