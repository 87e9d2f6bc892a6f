// bin/lifeboat.js runs the compiled JavaScript (dist/) only when it is at least as new as every TypeScript source,
// the sources otherwise, and dist/ alone where there are no sources (the image). Checked on a copy of the entry point
// beside a stand-in src/ and dist/ whose main() says which one ran.
import test from 'ava';
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);
const bin = path.join(import.meta.dirname, '..', '..', 'bin', 'lifeboat.js');

function layout(): string {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'lifeboat-bin-'));
  fs.mkdirSync(path.join(root, 'bin'));
  fs.copyFileSync(bin, path.join(root, 'bin', 'lifeboat.js'));
  fs.writeFileSync(path.join(root, 'package.json'), '{"type":"module"}\n');
  fs.mkdirSync(path.join(root, 'src', 'cli'), { recursive: true });
  fs.mkdirSync(path.join(root, 'src', 'mirror'));
  fs.writeFileSync(path.join(root, 'src', 'cli', 'main.ts'), `export async function main(args: string[]): Promise<number> { console.log('sources', args.join(' ')); return 0; }\n`);
  fs.writeFileSync(path.join(root, 'src', 'mirror', 'repository.ts'), 'export const x = 1;\n');
  fs.mkdirSync(path.join(root, 'dist', 'cli'), { recursive: true });
  fs.writeFileSync(path.join(root, 'dist', 'cli', 'main.js'), `export async function main(args) { console.log('compiled', args.join(' ')); return 0; }\n`);
  return root;
}

const at = (file: string, seconds: number) => fs.utimesSync(file, seconds, seconds);
const ran = async (root: string) => (await run(process.execPath, [path.join(root, 'bin', 'lifeboat.js'), 'status'])).stdout.trim();

test('bin runs dist/ when it is as new as every source, the sources when one is newer, dist/ alone without sources', async (t) => {
  const root = layout();
  t.teardown(() => fs.rmSync(root, { recursive: true, force: true }));
  const now = Math.floor(Date.now() / 1000);
  at(path.join(root, 'src', 'cli', 'main.ts'), now - 100);
  at(path.join(root, 'src', 'mirror', 'repository.ts'), now - 100);
  at(path.join(root, 'dist', 'cli', 'main.js'), now - 50);
  t.is(await ran(root), 'compiled status');

  // One source edited after the build, deep in the tree: the build is stale, the sources run.
  at(path.join(root, 'src', 'mirror', 'repository.ts'), now);
  t.is(await ran(root), 'sources status');

  // Rebuilt: compiled again.
  at(path.join(root, 'dist', 'cli', 'main.js'), now + 1);
  t.is(await ran(root), 'compiled status');

  // No build at all: the sources.
  fs.rmSync(path.join(root, 'dist'), { recursive: true });
  t.is(await ran(root), 'sources status');

  // The image: no sources, only dist/.
  fs.mkdirSync(path.join(root, 'dist', 'cli'), { recursive: true });
  fs.writeFileSync(path.join(root, 'dist', 'cli', 'main.js'), `export async function main(args) { console.log('compiled', args.join(' ')); return 0; }\n`);
  fs.rmSync(path.join(root, 'src'), { recursive: true });
  t.is(await ran(root), 'compiled status');
});

test('bin keeps V8\'s compiled code of the modules it loads in a per-user cache (LIFEBOAT_COMPILE_CACHE), and runs without one when it is ""', async (t) => {
  const root = layout();
  const cache = path.join(root, 'cache');
  t.teardown(() => fs.rmSync(root, { recursive: true, force: true }));
  fs.rmSync(path.join(root, 'src'), { recursive: true });
  const files = (dir: string): string[] => (fs.existsSync(dir) ? fs.readdirSync(dir, { recursive: true, withFileTypes: true }).filter((entry) => entry.isFile()).map((entry) => entry.name) : []);
  const env = (value: string) => ({ ...process.env, LIFEBOAT_COMPILE_CACHE: value });
  t.is((await run(process.execPath, [path.join(root, 'bin', 'lifeboat.js'), 'status'], { env: env('') })).stdout.trim(), 'compiled status');
  t.deepEqual(files(cache), [], 'no cache when turned off');
  t.is((await run(process.execPath, [path.join(root, 'bin', 'lifeboat.js'), 'status'], { env: env(cache) })).stdout.trim(), 'compiled status');
  t.true(files(cache).length > 0, 'the compiled main module is cached');
});
