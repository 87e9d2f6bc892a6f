// Files that another process may read while they are written (the sandbox's kubeconfig and state, read by every
// kubectl and lifeboat pointed at it; the mirror's objects and packs, read by git): written beside their place and
// renamed into it, so a reader sees the old content or the new, and a crash leaves no truncated file.
import fs from 'node:fs';

/** Writes `data` to `file` atomically (a temporary file in the same directory, then rename), with `mode` if given. */
export function writeFileAtomic(file: string, data: string | NodeJS.ArrayBufferView, mode?: number): void {
  const temporary = `${file}.${process.pid}.tmp`;
  try {
    fs.writeFileSync(temporary, data, mode === undefined ? undefined : { mode });
    fs.renameSync(temporary, file);
  } catch (error) {
    fs.rmSync(temporary, { force: true });
    throw error;
  }
}
