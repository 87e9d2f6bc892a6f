// String formats of lifeboat's schemas: zod refinements that report one precise message each (names, globs,
// kind patterns, selectors, JSON pointers, durations, age recipients, image prefixes), shared by every kind.
import { Encrypter } from 'age-encryption';
import { z } from 'zod';
import { DurationError, durationPattern, parseDuration } from './duration.ts';
import { dnsLabelProblem, dnsSubdomainProblem, namespaceAlphabet, objectNameAlphabet, parseGlob, parseJsonPointer, parseKindPattern, parseLabelSelector, SyntaxProblem } from './parse.ts';

/** Label and annotation keys under this prefix belong to lifeboat (`lifeboat.dev/plan`, `lifeboat.dev/revision`). */
export const reservedPrefix = 'lifeboat.dev/';

// ---------------------------------------------------------------------------------------------------------------
// String formats. Each reports one precise message; `params.offset` points into the string, `params.at: 'key'`
// at a map key rather than its value (validate.ts turns both into line:column).

export type Refinement = (value: string, context: z.RefinementCtx) => void;

export function syntax(parse: (text: string) => unknown): Refinement {
  return (value, context) => {
    try {
      parse(value);
    } catch (error) {
      if (!(error instanceof SyntaxProblem)) throw error;
      context.addIssue({ code: 'custom', message: error.message, params: { offset: error.offset } });
    }
  };
}

export function problem(check: (text: string) => string | undefined, prefix: (text: string) => string): Refinement {
  return (value, context) => {
    const found = check(value);
    if (found) context.addIssue({ code: 'custom', message: `${prefix(value)} ${found}` });
  };
}

/**
 * Object-level checks run even when a field of the object has an error, so every problem shows at once; they read
 * their input defensively for that reason. They do not run when the object itself is not a mapping.
 */
export const always = { when: (payload: { value: unknown }) => isRecord(payload.value) } as const;

export const dnsLabelName = (what: string) => z.string()
  .superRefine(problem(dnsLabelProblem, (text) => `invalid ${what} ${JSON.stringify(text)}:`))
  .meta({ maxLength: 63, pattern: '^[a-z0-9]([-a-z0-9]*[a-z0-9])?$' });

export const dnsSubdomainName = (what: string) => z.string()
  .superRefine(problem(dnsSubdomainProblem, (text) => `invalid ${what} ${JSON.stringify(text)}:`))
  .meta({ maxLength: 253 });

export const namespaceGlob = z.string().superRefine(syntax((text) => parseGlob(text, namespaceAlphabet)))
  .describe('A namespace name or glob: `*` any characters, `?` one character, `[a-z]` a character class.');

export const nameGlob = z.string().superRefine(syntax((text) => parseGlob(text, objectNameAlphabet)))
  .describe('An object name or glob: `*` any characters, `?` one character, `[a-z]` a character class.');

export const kindPattern = z.string().superRefine(syntax(parseKindPattern))
  .describe('`Kind` for the core group (`ConfigMap`), `group/Kind` for the others (`apps/Deployment`), `group/*`, or `*` (every namespaced kind).');

export const labelSelector = z.string().superRefine(syntax(parseLabelSelector))
  .describe('A Kubernetes label selector, as for `kubectl get -l`: `app=web,tier in (a,b),!legacy,env!=dev`.');

export const jsonPointer = z.string().superRefine(syntax(parseJsonPointer))
  .describe('An RFC 6901 JSON pointer into the object, e.g. `/spec/replicas`.');

export function duration() {
  return z.string()
    .superRefine((value, context) => {
      try {
        if (parseDuration(value) <= 0) context.addIssue({ code: 'custom', message: `duration ${JSON.stringify(value)} must be longer than 0` });
      } catch (error) {
        if (!(error instanceof DurationError)) throw error;
        context.addIssue({ code: 'custom', message: error.message });
      }
    })
    .meta({ pattern: durationPattern });
}

/** Why a string is not an age recipient, or undefined when age-encryption accepts it. */
export function ageRecipientProblem(text: string): string | undefined {
  if (/^AGE-SECRET-KEY-/i.test(text)) return 'this is an age identity, a private key: put its public key (age1...) here and keep the identity secret';
  try {
    new Encrypter().addRecipient(text);
    return undefined;
  } catch {
    return `invalid age recipient ${JSON.stringify(text)}: expected an age public key (age1...), as printed by age-keygen`;
  }
}

export const ageRecipient = z.string()
  .superRefine((value, context) => {
    const found = ageRecipientProblem(value);
    if (found) context.addIssue({ code: 'custom', message: found });
  })
  .describe('An age public key (`age1...`); the matching identity decrypts Secrets at the destination.');

/**
 * An image prefix as the pipeline compares it: one trailing "/" (`registry.example.com/`) means the same as none,
 * since people write a prefix the way it reads in front of an image name. The schema applies it, so a parsed plan
 * never has the "/" and nothing after parsing needs to know.
 */
export function normalizeImagePrefix(text: string): string {
  return text.endsWith('/') ? text.slice(0, -1) : text;
}

/** Why an image prefix is not a registry or repository prefix (`registry.example.com/team`), or undefined. */
export function imagePrefixProblem(text: string): string | undefined {
  if (text === '') return 'must not be empty';
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(text)) return `image prefix ${JSON.stringify(text)} must not have a scheme: write the registry host, e.g. "registry.example.com/team"`;
  const parts = normalizeImagePrefix(text).split('/');
  const last = parts.at(-1)!;
  if (text.includes('@')) return `image prefix ${JSON.stringify(text)} must not have a digest: prefixes rewrite registries and repositories, digests are kept`;
  // A ":" in the last part is a tag, except a registry's port when the prefix is only a host ("registry:5000").
  if (parts.length > 1 ? last.includes(':') : /:(?![0-9]+$)/.test(last)) {
    return `image prefix ${JSON.stringify(text)} must not have a tag: prefixes rewrite registries and repositories, tags are kept`;
  }
  if (parts.includes('')) return `image prefix ${JSON.stringify(text)} has an empty path component: write one "/" between parts, e.g. "registry.example.com/team"`;
  const [first, ...rest] = parts;
  const host = /^[A-Za-z0-9]([A-Za-z0-9.-]*[A-Za-z0-9])?(:[0-9]+)?$/;
  const component = /^[a-z0-9]+([._-]+[a-z0-9]+)*$/;
  if (!host.test(first!) && !component.test(first!)) return `invalid image prefix ${JSON.stringify(text)}: ${JSON.stringify(first)} is neither a registry host nor a repository name`;
  const bad = rest.find((part) => !component.test(part));
  if (bad !== undefined) return `invalid image prefix ${JSON.stringify(text)}: repository part ${JSON.stringify(bad)} must be lowercase letters, digits and separators (".", "_", "-")`;
  return undefined;
}

// Checked as written (messages quote the user's text), then normalized.
export const imagePrefix = z.string().superRefine((value, context) => {
  const found = imagePrefixProblem(value);
  if (found) context.addIssue({ code: 'custom', message: found });
}).overwrite(normalizeImagePrefix);

export const stringMap = () => z.record(z.string(), z.string());

export function checkMapKeys(context: z.RefinementCtx, map: unknown, path: Array<string | number>, check: (key: string) => string | undefined, what: string) {
  if (!isRecord(map)) return;
  for (const key of Object.keys(map)) {
    const found = check(key);
    if (found) context.addIssue({ code: 'custom', path: [...path, key], message: `invalid ${what} ${JSON.stringify(key)}: ${found}`, params: { at: 'key' } });
  }
}

export function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

export const present = (value: unknown, key: string) => isRecord(value) && value[key] !== undefined;

