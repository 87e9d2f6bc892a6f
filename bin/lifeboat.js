#!/usr/bin/env node
// Entry point of the `lifeboat` command. It runs the compiled JavaScript (`npm run build` → dist/; `npm ci` builds
// it through prepare, and the image ships only that) when it is at least as new as every TypeScript source, and the
// sources themselves otherwise (Node.js 24 strips their types at every start: ~50 ms and ~25 MB more). So an edited
// source is never shadowed by a stale build.
import fs from 'node:fs';
import module from 'node:module';
import os from 'node:os';
import path from 'node:path';

const major = Number(process.versions.node.split('.')[0]);
if (major < 24) {
  process.stderr.write(`lifeboat: needs Node.js 24 (this is ${process.version}); put the project's node_modules/.bin first on PATH (\`export PATH="$PWD/node_modules/.bin:$PATH"\`), or run it through npm (\`npm run lifeboat -- …\`), which use the pinned Node\n`);
  process.exit(3);
}

// `lifeboat run` is long-lived, and V8's defaults let its heap grow to several times what is live before collecting
// (10,000 objects: 500 MB peak with 85 MB live). A 4 MB young generation and heap growth of 20 % over the live size
// keep memory proportional to the plan (267 MB peak) for a few percent more CPU. These flags only take effect at
// startup, so the process replaces itself (same pid) with one that has them. LIFEBOAT_V8_FLAGS overrides them
// ("" for V8's defaults).
const tuning = (process.env.LIFEBOAT_V8_FLAGS ?? '--max-semi-space-size=4 --heap-growing-percent=20').split(' ').filter(Boolean);
const args = process.argv.slice(2);
if (args[0] === 'run' && tuning.length && !process.execArgv.some((flag) => tuning.includes(flag)) && typeof process.execve === 'function') {
  process.execve(process.execPath, [process.execPath, ...process.execArgv, ...tuning, process.argv[1], ...args], process.env);
}
// V8's compiled code of every module loaded, kept on disk by Node.js (checked against each file's contents): a
// command after the first skips compiling commander, ioredis, yaml and lifeboat's own modules (~30 ms of ~100).
// Per user, never a shared temporary directory; LIFEBOAT_COMPILE_CACHE="" turns it off. Where nothing can be
// written (a read-only image), Node.js just runs without it.
const compileCache = process.env.LIFEBOAT_COMPILE_CACHE ?? path.join(process.env.XDG_CACHE_HOME || path.join(os.homedir(), '.cache'), 'lifeboat', 'compile-cache');
if (compileCache) module.enableCompileCache?.(compileCache);
const root = path.join(import.meta.dirname, '..');
const consolePage = path.join(root, 'src', 'console', 'web');

/** The newest modification time of the TypeScript sources under `dir` (the console page is built apart). */
function newestSource(dir) {
  let newest = 0;
  for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
    const file = path.join(dir, entry.name);
    if (entry.isDirectory()) {
      if (file !== consolePage) newest = Math.max(newest, newestSource(file));
    } else if (entry.name.endsWith('.ts')) newest = Math.max(newest, fs.statSync(file).mtimeMs);
  }
  return newest;
}

function entryPoint() {
  const compiled = path.join(root, 'dist', 'cli', 'main.js');
  const built = fs.statSync(compiled, { throwIfNoEntry: false })?.mtimeMs;
  if (!fs.existsSync(path.join(root, 'src'))) return compiled;
  return built !== undefined && built >= newestSource(path.join(root, 'src')) ? compiled : path.join(root, 'src', 'cli', 'main.ts');
}
const { main } = await import(new URL(`file://${entryPoint()}`).href);
// Exit explicitly: open connections (NATS, Redis) must not keep a finished command alive.
process.exit(await main(args));
