// Health probes of the sandbox's processes: an API server's /readyz with its admin certificate, NATS's monitoring
// endpoint, Redis's PING as lifeboat's user; the probes of a cluster's etcd, API server and controller manager.
import fs from 'node:fs';
import https from 'node:https';
import net from 'node:net';
import path from 'node:path';
import { redisUserName } from './credentials.ts';
import { clusterDir, type ClusterName, type ClusterState } from './layout.ts';

export function httpsOk(url: string, options: https.RequestOptions = {}): Promise<boolean> {
  return new Promise((resolve) => {
    const req = https.get(url, { rejectUnauthorized: false, timeout: 2000, ...options }, (res) => {
      res.resume();
      resolve(res.statusCode === 200);
    });
    req.on('error', () => resolve(false));
    req.on('timeout', () => req.destroy());
  });
}

export function httpOk(url: string): Promise<boolean> {
  return fetch(url, { signal: AbortSignal.timeout(2000) }).then((r) => r.ok, () => false);
}

/** PING, as lifeboat's user (or `user`) when the server runs with authentication (then an unauthenticated PING is refused). */
export function redisPing(port: number, password?: string, user = redisUserName('lifeboat')): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect({ host: '127.0.0.1', port });
    socket.setTimeout(2000, () => socket.destroy());
    const expected = password === undefined ? '+PONG\r\n' : '+OK\r\n+PONG\r\n';
    socket.once('connect', () => socket.write(`${password === undefined ? '' : `AUTH ${user} ${password}\r\n`}PING\r\n`));
    let answer = '';
    socket.on('data', (data) => {
      answer += data.toString();
      if (answer.length < expected.length && expected.startsWith(answer)) return;
      socket.destroy();
      resolve(answer === expected);
    });
    socket.once('error', () => resolve(false));
    socket.once('close', () => resolve(false));
  });
}

export function apiserverHealthy(dir: string, name: ClusterName, port: number): Promise<boolean> {
  const certs = path.join(clusterDir(dir, name), 'certs');
  return httpsOk(`https://127.0.0.1:${port}/readyz`, {
    ca: fs.readFileSync(path.join(certs, 'serving-ca.crt')),
    cert: fs.readFileSync(path.join(certs, 'admin.crt')),
    key: fs.readFileSync(path.join(certs, 'admin.key')),
    rejectUnauthorized: true,
  });
}

/** The health probes of one cluster's three processes, shared by `up` (waiting for them) and `status`. */
export function controlPlaneProbes(dir: string, name: ClusterName, cluster: ClusterState): Record<'etcd' | 'apiserver' | 'controllerManager', () => Promise<boolean>> {
  return {
    etcd: () => httpOk(`http://127.0.0.1:${cluster.ports.etcdClient}/health`),
    apiserver: () => apiserverHealthy(dir, name, cluster.ports.apiserver),
    controllerManager: () => httpsOk(`https://127.0.0.1:${cluster.ports.controllerManager}/healthz`),
  };
}
