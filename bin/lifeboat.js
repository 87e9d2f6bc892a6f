#!/usr/bin/env node
// Entry point of the `lifeboat` command. In the repository Node.js 24 runs the TypeScript sources directly (older
// Node cannot); the image ships the compiled JavaScript (`npm run build` → dist/) and no sources, and runs that.
import fs from 'node:fs';

const major = Number(process.versions.node.split('.')[0]);
if (major < 24) {
  process.stderr.write(`lifeboat: needs Node.js 24 (this is ${process.version}); run it through npm (\`npm run lifeboat -- …\`) or npx, which use the pinned Node\n`);
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
const sources = new URL('../src/cli/main.ts', import.meta.url);
const { main } = await import(fs.existsSync(sources) ? sources.href : new URL('../dist/cli/main.js', import.meta.url).href);
// Exit explicitly: open connections (NATS, Redis) must not keep a finished command alive.
process.exit(await main(args));
