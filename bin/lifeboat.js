#!/usr/bin/env node
// Entry point of the `lifeboat` command. Node.js 24 runs the TypeScript sources directly; older Node cannot.
const major = Number(process.versions.node.split('.')[0]);
if (major < 24) {
  process.stderr.write(`lifeboat: needs Node.js 24 (this is ${process.version}); run it through npm (\`npm run lifeboat -- …\`) or npx, which use the pinned Node\n`);
  process.exit(3);
}
const { main } = await import('../src/cli/main.ts');
// Exit explicitly: open connections (NATS, Redis) must not keep a finished command alive.
process.exit(await main(process.argv.slice(2)));
