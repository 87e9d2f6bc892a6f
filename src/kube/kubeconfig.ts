// Kubeconfigs read by lifeboat itself: clusters, users and contexts, and the TLS options and Authorization header of
// the selected context. It covers what a kubeconfig for a service identity holds — client certificates, bearer tokens
// (inline or a file re-read on every refresh, as the kubelet rotates projected tokens) and basic auth — in a few
// hundred lines that load in milliseconds. Users that need a program to sign in (`exec`, `auth-provider`) and the
// default chain ($KUBECONFIG lists, ~/.kube/config) are left to @kubernetes/client-node's KubeConfig, which loads its
// generated API models with it (~85 MB and ~0.2 s): a `lifeboat run` whose clusters use certificates or tokens never
// pays for them.
import fs from 'node:fs';
import type https from 'node:https';
import path from 'node:path';
import { parse } from 'yaml';

export interface ClusterEntry {
  name: string;
  server: string;
  /** certificate-authority-data, base64 as in the file. */
  caData?: string;
  caFile?: string;
  skipTLSVerify: boolean;
  tlsServerName?: string;
}

/** What lifeboat asks of a kubeconfig; client-node's KubeConfig has the same shape (and is used for the rest). */
export interface Kubeconfig {
  getClusters(): ClusterEntry[];
  getContexts(): { name: string }[];
  getContextObject(name: string): { name: string } | null;
  setCurrentContext(name: string): void;
  getCurrentContext(): string;
  getCurrentCluster(): ClusterEntry | null;
  getCurrentUser(): { name: string; token?: string } | null;
  applyToHTTPSOptions(options: https.RequestOptions): Promise<void>;
}

interface UserEntry {
  name: string;
  certData?: string;
  certFile?: string;
  keyData?: string;
  keyFile?: string;
  token?: string;
  tokenFile?: string;
  username?: string;
  password?: string;
  /** exec or auth-provider: a program signs in, which only client-node does. */
  external: boolean;
}

interface ContextEntry {
  name: string;
  cluster: string;
  user: string;
}

type Raw = Record<string, unknown>;
const record = (value: unknown): Raw => (value && typeof value === 'object' && !Array.isArray(value) ? value as Raw : {});
const text = (value: unknown): string | undefined => (typeof value === 'string' && value !== '' ? value : undefined);
const named = (value: unknown): { name: string; body: Raw }[] => (Array.isArray(value) ? value : [])
  .map((item) => record(item)).filter((item) => typeof item.name === 'string').map((item) => ({ name: item.name as string, body: item }));

export class KubeconfigFile implements Kubeconfig {
  private readonly clusters: ClusterEntry[];
  private readonly users: UserEntry[];
  private readonly contexts: ContextEntry[];
  private current: string;

  private constructor(clusters: ClusterEntry[], users: UserEntry[], contexts: ContextEntry[], current: string) {
    this.clusters = clusters;
    this.users = users;
    this.contexts = contexts;
    this.current = current;
  }

  /** Parses a kubeconfig; relative file paths in it are resolved against `baseDir` (the file's directory). */
  static parse(content: string, baseDir: string): KubeconfigFile {
    const document = record(parse(content));
    const file = (value: unknown) => {
      const name = text(value);
      return name === undefined ? undefined : path.resolve(baseDir, name);
    };
    const clusters = named(document.clusters).map(({ name, body }) => {
      const cluster = record(body.cluster);
      return {
        name, server: text(cluster.server) ?? '', caData: text(cluster['certificate-authority-data']), caFile: file(cluster['certificate-authority']),
        skipTLSVerify: cluster['insecure-skip-tls-verify'] === true, tlsServerName: text(cluster['tls-server-name']),
      };
    });
    const users = named(document.users).map(({ name, body }) => {
      const user = record(body.user);
      return {
        name, certData: text(user['client-certificate-data']), certFile: file(user['client-certificate']), keyData: text(user['client-key-data']), keyFile: file(user['client-key']),
        token: text(user.token), tokenFile: file(user.tokenFile), username: text(user.username), password: text(user.password),
        external: user.exec !== undefined || user['auth-provider'] !== undefined,
      };
    });
    const contexts = named(document.contexts).map(({ name, body }) => {
      const context = record(body.context);
      return { name, cluster: text(context.cluster) ?? '', user: text(context.user) ?? '' };
    });
    return new KubeconfigFile(clusters, users, contexts, text(document['current-context']) ?? contexts[0]?.name ?? '');
  }

  /** A single cluster and a token-file user (a pod's service account). */
  static inCluster(cluster: ClusterEntry, tokenFile: string): KubeconfigFile {
    return new KubeconfigFile([cluster], [{ name: 'service-account', tokenFile, external: false }], [{ name: 'in-cluster', cluster: cluster.name, user: 'service-account' }], 'in-cluster');
  }

  /** Whether the current context's user signs in through a program (exec, auth-provider): client-node must read it. */
  needsSignInProgram(): boolean {
    return this.currentUser()?.external ?? false;
  }

  getClusters(): ClusterEntry[] {
    return this.clusters;
  }

  getContexts(): ContextEntry[] {
    return this.contexts;
  }

  getContextObject(name: string): ContextEntry | null {
    return this.contexts.find((context) => context.name === name) ?? null;
  }

  setCurrentContext(name: string): void {
    this.current = name;
  }

  getCurrentContext(): string {
    return this.current;
  }

  getCurrentCluster(): ClusterEntry | null {
    const context = this.getContextObject(this.current);
    return (context && this.clusters.find((cluster) => cluster.name === context.cluster)) ?? null;
  }

  getCurrentUser(): UserEntry | null {
    return this.currentUser() ?? null;
  }

  private currentUser(): UserEntry | undefined {
    const context = this.getContextObject(this.current);
    return context ? this.users.find((user) => user.name === context.user) : undefined;
  }

  /** TLS material and the Authorization header (a token file read now), as client-node's applyToHTTPSOptions sets them. */
  async applyToHTTPSOptions(options: https.RequestOptions): Promise<void> {
    const cluster = this.getCurrentCluster();
    const user = this.currentUser();
    const read = (data: string | undefined, file: string | undefined) => (data !== undefined ? Buffer.from(data, 'base64') : file !== undefined ? fs.readFileSync(file) : undefined);
    if (cluster) {
      const ca = read(cluster.caData, cluster.caFile);
      if (ca) options.ca = ca;
      options.rejectUnauthorized = !cluster.skipTLSVerify;
      if (cluster.tlsServerName) options.servername = cluster.tlsServerName;
    }
    if (!user) return;
    const cert = read(user.certData, user.certFile);
    const key = read(user.keyData, user.keyFile);
    if (cert) options.cert = cert;
    if (key) options.key = key;
    const token = user.tokenFile !== undefined ? fs.readFileSync(user.tokenFile, 'utf8').trim() : user.token;
    const headers = { ...(options.headers as Record<string, string> | undefined) };
    if (token) headers.Authorization = `Bearer ${token}`;
    if (user.username !== undefined && user.password !== undefined) options.auth = `${user.username}:${user.password}`;
    options.headers = headers;
  }
}
