// Kubernetes names and kind patterns as plans write them: DNS labels and subdomains, label keys and values, and
// `ConfigMap` / `apps/Deployment` / `apps/*` / `*` kind patterns.
import { SyntaxProblem } from './syntax-problem.ts';

// ---------------------------------------------------------------------------------------------------------------
// Kubernetes names

const dnsLabel = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const dnsSubdomain = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
const qualifiedNamePart = /^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$/;
const labelValuePattern = /^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$/;

/** Why a string is not a DNS-1123 label (namespace names), or undefined when it is one. */
export function dnsLabelProblem(name: string): string | undefined {
  if (name.length === 0) return 'must not be empty';
  if (name.length > 63) return `must be at most 63 characters (it has ${name.length})`;
  if (!dnsLabel.test(name)) return 'must consist of lowercase letters, digits and "-", and start and end with a letter or digit';
  return undefined;
}

/** Why a string is not a DNS-1123 subdomain (API groups, most object names), or undefined. */
export function dnsSubdomainProblem(name: string): string | undefined {
  if (name.length === 0) return 'must not be empty';
  if (name.length > 253) return `must be at most 253 characters (it has ${name.length})`;
  if (!dnsSubdomain.test(name)) return 'must consist of lowercase letters, digits, "-" and ".", and start and end with a letter or digit';
  return undefined;
}

/** Why a string is not a valid label or annotation key (`[prefix/]name`), or undefined. */
export function qualifiedNameProblem(key: string): string | undefined {
  const parts = key.split('/');
  if (parts.length > 2) return 'must be a name with an optional DNS prefix, like "app.kubernetes.io/name": at most one "/"';
  const name = parts.length === 2 ? parts[1]! : parts[0]!;
  if (parts.length === 2) {
    const prefix = parts[0]!;
    const problem = dnsSubdomainProblem(prefix);
    if (problem) return `prefix ${JSON.stringify(prefix)} ${problem}`;
  }
  if (name.length === 0) return 'name part must not be empty';
  if (name.length > 63) return `name part must be at most 63 characters (it has ${name.length})`;
  if (!qualifiedNamePart.test(name)) return 'name part must consist of letters, digits, "-", "_" and ".", and start and end with a letter or digit';
  return undefined;
}

/** Why a string is not a valid label value, or undefined. */
export function labelValueProblem(value: string): string | undefined {
  if (value.length > 63) return `must be at most 63 characters (it has ${value.length})`;
  if (!labelValuePattern.test(value)) return 'must be empty or consist of letters, digits, "-", "_" and ".", and start and end with a letter or digit';
  return undefined;
}

// ---------------------------------------------------------------------------------------------------------------
// Kind patterns: `ConfigMap` (core group), `apps/Deployment`, `apps/*`, `*`.

export interface KindPattern {
  /** '' for the core group, '*' for every group. */
  group: string;
  /** '*' for every kind of the group. */
  kind: string;
}

/** Parses a kind pattern; throws a SyntaxProblem explaining the accepted forms. */
export function parseKindPattern(text: string): KindPattern {
  const forms = 'write Kind for the core group (ConfigMap), group/Kind for the others (apps/Deployment), group/* or *';
  if (text === '*') return { group: '*', kind: '*' };
  const slash = text.indexOf('/');
  const group = slash < 0 ? '' : text.slice(0, slash);
  const kind = slash < 0 ? text : text.slice(slash + 1);
  if (slash >= 0) {
    const problem = dnsSubdomainProblem(group);
    if (problem) throw new SyntaxProblem(`invalid API group ${JSON.stringify(group)} in kind ${JSON.stringify(text)}: ${problem}`, 0);
    if (kind === '*') return { group, kind };
  }
  if (!/^[A-Z][A-Za-z0-9]*$/.test(kind)) throw new SyntaxProblem(`invalid kind ${JSON.stringify(text)}: ${forms}`, slash + 1);
  return { group, kind };
}

/** `apps/Deployment`, `ConfigMap` for the core group. */
export function formatKind(pattern: KindPattern): string {
  if (pattern.group === '*' && pattern.kind === '*') return '*';
  return pattern.group === '' ? pattern.kind : `${pattern.group}/${pattern.kind}`;
}
