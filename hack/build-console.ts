// `npm run build:console` (and npm's `prepare`, so `npm ci` builds it): bundles the console's page from
// src/console/web into src/console/web/dist with esbuild — one script, one stylesheet, index.html and the icon, no
// asset from any other host. Preact (4 KB) renders it; uPlot draws the RPO chart.
import { build } from 'esbuild';
import fs from 'node:fs';
import path from 'node:path';

const web = path.join(import.meta.dirname, '..', 'src', 'console', 'web');
const dist = path.join(web, 'dist');
const started = performance.now();
fs.rmSync(dist, { recursive: true, force: true });
fs.mkdirSync(path.join(dist, 'assets'), { recursive: true });
const result = await build({
  entryPoints: { app: path.join(web, 'src', 'app.tsx') },
  outdir: path.join(dist, 'assets'),
  bundle: true, format: 'esm', target: 'es2022', minify: true, sourcemap: false, legalComments: 'none',
  jsx: 'automatic', jsxImportSource: 'preact', metafile: true, logLevel: 'warning',
});
fs.copyFileSync(path.join(web, 'index.html'), path.join(dist, 'index.html'));
fs.copyFileSync(path.join(web, 'favicon.svg'), path.join(dist, 'assets', 'favicon.svg'));
const sizes = Object.entries(result.metafile.outputs).map(([file, output]) => `${path.basename(file)} ${(output.bytes / 1024).toFixed(1)} KB`);
console.log(`console: built ${path.relative(process.cwd(), dist)} (${sizes.join(', ')}) in ${Math.round(performance.now() - started)} ms`);
