/**
 * The playground's static files (built by src/playground/build.mjs into dist/playground), served
 * over HTTP: at `/playground/` on the HTTP gateway (`pemba serve --http-enabled
 * --http-playground-enabled`) and at `/` by `pemba playground`. Only the three built files are
 * served; they are read once, and sent gzipped to clients that accept it.
 */
import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';

const FILES: Record<string, string> = {
  'index.html': 'text/html; charset=utf-8',
  'app.js': 'text/javascript; charset=utf-8',
  'app.css': 'text/css; charset=utf-8',
};

/** The page runs only its own script; CodeMirror adds its styles inline. */
const CSP =
  "default-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data: blob:; object-src 'none'; base-uri 'none'; frame-ancestors 'none'";

/**
 * Where the built playground is: next to this module once built (dist/server → dist/playground), or
 * the repository's dist/playground when run from the sources. Undefined when it was not built.
 */
export function findPlaygroundDir(): string | undefined {
  const here = dirname(fileURLToPath(import.meta.url));
  const candidates = [resolve(here, '../playground'), resolve(here, '../../dist/playground')];
  return candidates.find((d) => existsSync(join(d, 'index.html')) && existsSync(join(d, 'app.js')));
}

interface Asset {
  type: string;
  body: Buffer;
  gzipped: Buffer;
  /** Revalidated on every load (`no-cache`): an unchanged file is a 304, and the browser keeps its compiled script. */
  etag: string;
}

export interface PlaygroundRouteOptions {
  /** The path the page is served under, without a trailing slash (`/playground`; `''` for the root). */
  prefix?: string;
  /** The built files; default: findPlaygroundDir(). */
  dir?: string;
}

/**
 * A request handler for the playground's files; it answers `false` (and nothing) for any other path.
 * Throws when the playground was not built.
 */
export function playgroundHandler(
  options: PlaygroundRouteOptions = {},
): (req: IncomingMessage, res: ServerResponse) => boolean {
  const prefix = options.prefix ?? '/playground';
  const dir = options.dir ?? findPlaygroundDir();
  if (!dir) throw new Error('the playground is not built: run `npm run build` (or node src/playground/build.mjs)');
  const assets = new Map<string, Asset>();
  for (const [name, type] of Object.entries(FILES)) {
    const body = readFileSync(join(dir, name));
    const etag = `"${createHash('sha256').update(body).digest('base64url').slice(0, 27)}"`;
    assets.set(name, { type, body, gzipped: gzipSync(body), etag });
  }
  return (req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    if (prefix && path === prefix) {
      res.writeHead(301, { Location: `${prefix}/` });
      res.end();
      return true;
    }
    if (!path.startsWith(`${prefix}/`)) return false;
    const name = path.slice(prefix.length + 1) || 'index.html';
    const asset = assets.get(name);
    if (!asset) return false;
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { Allow: 'GET, HEAD', 'Content-Type': 'text/plain' });
      res.end('use GET\n');
      return true;
    }
    const common = {
      'Cache-Control': 'no-cache',
      ETag: asset.etag,
      'X-Content-Type-Options': 'nosniff',
      'Content-Security-Policy': CSP,
      Vary: 'Accept-Encoding',
    };
    const wanted = String(req.headers['if-none-match'] ?? '');
    if (wanted.split(/\s*,\s*/).some((tag) => tag.replace(/^W\//, '') === asset.etag || tag === '*')) {
      res.writeHead(304, common);
      res.end();
      return true;
    }
    const gzip = /\bgzip\b/.test(String(req.headers['accept-encoding'] ?? ''));
    const body = gzip ? asset.gzipped : asset.body;
    res.writeHead(200, {
      ...common,
      'Content-Type': asset.type,
      'Content-Length': body.length,
      ...(gzip ? { 'Content-Encoding': 'gzip' } : {}),
    });
    res.end(req.method === 'HEAD' ? undefined : body);
    return true;
  };
}

/** `next`, with the playground answered at `/playground/` first (what the HTTP gateway wires in). */
export function withPlayground(
  next: (req: IncomingMessage, res: ServerResponse) => void,
  options: PlaygroundRouteOptions = {},
): (req: IncomingMessage, res: ServerResponse) => void {
  const serve = playgroundHandler(options);
  return (req, res) => {
    if (!serve(req, res)) next(req, res);
  };
}
