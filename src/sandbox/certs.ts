// Certificates for one sandbox control plane, minted with openssl: a serving CA and the API server's serving pair,
// a client CA and one client certificate per user (CN = user, O = groups), and the service-account signing key.
// Every cluster gets its own set; nothing is shared between source and destination.
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';

export interface ClientUser {
  file: string;
  user: string;
  groups: string[];
}

function openssl(cwd: string, args: string[]): void {
  execFileSync('openssl', args, { cwd, stdio: ['ignore', 'ignore', 'pipe'] });
}

function ecKey(cwd: string, file: string): void {
  openssl(cwd, ['genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256', '-out', file]);
}

function certificateAuthority(cwd: string, name: string, commonName: string): void {
  ecKey(cwd, `${name}.key`);
  openssl(cwd, ['req', '-x509', '-new', '-key', `${name}.key`, '-sha256', '-days', '3650', '-subj', `/O=lifeboat-sandbox/CN=${commonName}`,
    '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign,digitalSignature', '-out', `${name}.crt`]);
}

function sign(cwd: string, name: string, ca: string, subject: string, extensions: string): void {
  ecKey(cwd, `${name}.key`);
  openssl(cwd, ['req', '-new', '-key', `${name}.key`, '-subj', subject, '-out', `${name}.csr`]);
  fs.writeFileSync(path.join(cwd, `${name}.ext`), extensions);
  openssl(cwd, ['x509', '-req', '-in', `${name}.csr`, '-CA', `${ca}.crt`, '-CAkey', `${ca}.key`, '-CAcreateserial', '-days', '3650', '-sha256',
    '-extfile', `${name}.ext`, '-out', `${name}.crt`]);
  fs.rmSync(path.join(cwd, `${name}.csr`));
  fs.rmSync(path.join(cwd, `${name}.ext`));
}

/** Creates the cluster's certificates in `dir` unless they are already there (idempotent). */
export function ensureClusterCertificates(dir: string, users: ClientUser[]): void {
  fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
  if (!fs.existsSync(path.join(dir, 'apiserver.crt'))) {
    certificateAuthority(dir, 'serving-ca', 'lifeboat-serving-ca');
    sign(dir, 'apiserver', 'serving-ca', '/O=lifeboat-sandbox/CN=localhost', [
      'basicConstraints=CA:FALSE', 'keyUsage=critical,digitalSignature,keyEncipherment', 'extendedKeyUsage=serverAuth',
      'subjectAltName=DNS:localhost,IP:127.0.0.1', ''].join('\n'));
    certificateAuthority(dir, 'client-ca', 'lifeboat-client-ca');
    ecKey(dir, 'sa-signer.key');
    openssl(dir, ['pkey', '-in', 'sa-signer.key', '-pubout', '-out', 'sa-signer.pub']);
  }
  for (const user of users) {
    if (fs.existsSync(path.join(dir, `${user.file}.crt`))) continue;
    const subject = [...user.groups.map((group) => `/O=${group}`), `/CN=${user.user}`].join('');
    sign(dir, user.file, 'client-ca', subject, ['basicConstraints=CA:FALSE', 'keyUsage=critical,digitalSignature,keyEncipherment', 'extendedKeyUsage=clientAuth', ''].join('\n'));
  }
  for (const file of fs.readdirSync(dir)) if (file.endsWith('.srl')) fs.rmSync(path.join(dir, file));
}
