// `make console`: bundles the console (src/) into userpipe/console/, the static files the local
// stack serves at / — so running it needs no Node. esbuild (pinned in package-lock.json) is
// deterministic: the same sources and lock give the same bytes, which a test checks.
// Usage: node console/build.mjs [outdir]
import { copyFileSync, mkdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

const here = dirname(fileURLToPath(import.meta.url));
const outdir = process.argv[2] ?? join(here, '..', 'userpipe', 'console');
mkdirSync(outdir, { recursive: true });
await build({
  entryPoints: [join(here, 'src', 'app.js')],
  outfile: join(outdir, 'app.js'),
  bundle: true,
  format: 'esm',
  platform: 'browser',
  target: 'es2020',
  minify: true,
  legalComments: 'none',
  charset: 'utf8',
  logLevel: 'warning',
});
for (const file of ['index.html', 'app.css']) copyFileSync(join(here, 'src', file), join(outdir, file));
