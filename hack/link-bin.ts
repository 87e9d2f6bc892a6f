// npm's `prepare` (so `npm ci` does it): links the project's own `lifeboat` command into node_modules/.bin, beside the
// pinned Node.js 24 that npm put there. npm links the commands of dependencies only, never the package's own; with
// this, `export PATH="$PWD/node_modules/.bin:$PATH"` gives a shell `lifeboat` at node's start-up cost (npm run adds
// ~190 ms to every command), and bin/lifeboat.js's `#!/usr/bin/env node` finds the pinned node first.
import fs from 'node:fs';
import path from 'node:path';

const root = path.join(import.meta.dirname, '..');
const binDir = path.join(root, 'node_modules', '.bin');
const link = path.join(binDir, 'lifeboat');
fs.mkdirSync(binDir, { recursive: true });
fs.rmSync(link, { force: true });
fs.symlinkSync(path.relative(binDir, path.join(root, 'bin', 'lifeboat.js')), link);
