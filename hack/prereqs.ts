// `node hack/prereqs.ts`: checks (and, as root or with sudo without a password, installs) what the sandbox and the
// tests need, before anything is built; exit 3 with one line per missing prerequisite otherwise. .ci/run calls it;
// `npm run demo` (the sandbox's needs only) and `npm test` use the same check through `checkPrerequisites` and report
// errors through `reportErrorsPlainly`.
import { ensurePrerequisites, PrerequisiteError, type PrerequisitePurpose } from '../src/sandbox/prerequisites.ts';

const exitCodes = { failed: 1, prerequisite: 3 } as const;

function report(error: unknown): never {
  const message = error instanceof Error ? error.message : String(error);
  process.stderr.write(`lifeboat: ${message}\n`);
  if (process.env.LIFEBOAT_DEBUG && error instanceof Error) process.stderr.write(`${error.stack}\n`);
  else if (!(error instanceof PrerequisiteError)) process.stderr.write('lifeboat: (LIFEBOAT_DEBUG=1 shows where)\n');
  process.exit(error instanceof PrerequisiteError ? exitCodes.prerequisite : exitCodes.failed);
}

/** A script's uncaught error becomes one line and an exit code (3: prerequisite, 1: anything else), not a stack trace. */
export function reportErrorsPlainly(): void {
  process.on('uncaughtException', report);
  process.on('unhandledRejection', report);
}

/**
 * The prerequisite check, in one pass; ends the process with exit 3 when something is missing. `tests` adds what
 * only the test suite needs (podman and runc for the image test).
 */
export function checkPrerequisites(log: (line: string) => void = (line) => process.stderr.write(`lifeboat: ${line}\n`), purpose: PrerequisitePurpose = 'sandbox'): void {
  try {
    ensurePrerequisites(process.env, log, purpose);
  } catch (error) {
    report(error);
  }
}

if (import.meta.main) {
  const started = Date.now();
  // .ci/run's check, before the test suite: the tests' packages too.
  checkPrerequisites(undefined, 'tests');
  process.stderr.write(`lifeboat: prerequisites present (checked in ${Date.now() - started} ms)\n`);
}
