/**
 * Builds the playground (src/playground) into static files: index.html, app.js (the page, the
 * editor and Pemba's engine, bundled by esbuild for browsers) and app.css. `npm run build` runs it
 * after tsc; the browser tests run it when dist/playground is missing or stale. It reports the
 * sizes on stderr (stdout stays clean for `npm pack --json`, whose `prepare` runs it).
 *
 *   node src/playground/build.mjs [OUTDIR]   (default dist/playground)
 *
 * It lives among the sources (not in scripts/) because the package is built from src/ alone.
 */
import { copyFileSync, mkdirSync, statSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { argv, stderr } from 'node:process';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

const REPO = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const SHIMS = join(REPO, 'src/playground/shims');

/**
 * `node:path` and `node:fs` as the browser has them: the validation-file parser and the schema
 * composer name them, for `schemaFile` and schema imports, which the playground cannot read.
 */
const browserShims = {
  name: 'browser-shims',
  setup(b) {
    b.onResolve({ filter: /^(node:)?(path|fs)$/ }, (args) => ({
      path: join(SHIMS, `node-${args.path.replace(/^node:/, '')}.ts`),
    }));
  },
};

/** Builds into `outdir`; returns the files written and their sizes in bytes. */
export async function buildPlayground({ outdir = join(REPO, 'dist/playground'), minify = true } = {}) {
  mkdirSync(outdir, { recursive: true });
  await build({
    entryPoints: [join(REPO, 'src/playground/page/main.ts')],
    outfile: join(outdir, 'app.js'),
    bundle: true,
    format: 'iife',
    platform: 'browser',
    target: ['es2022'],
    minify,
    sourcemap: false,
    legalComments: 'none',
    plugins: [browserShims],
    logLevel: 'warning',
  });
  for (const name of ['index.html', 'app.css'])
    copyFileSync(join(REPO, 'src/playground/static', name), join(outdir, name));
  return Object.fromEntries(['index.html', 'app.js', 'app.css'].map((f) => [f, statSync(join(outdir, f)).size]));
}

if (resolve(argv[1] ?? '') === fileURLToPath(import.meta.url)) {
  const sizes = await buildPlayground({ outdir: argv[2] ? resolve(argv[2]) : undefined });
  stderr.write(
    `playground: ${Object.entries(sizes)
      .map(([f, n]) => `${f} ${(n / 1024).toFixed(1)} KiB`)
      .join(', ')}\n`,
  );
}
