/**
 * The few `node:path` functions the validation-file parser and schema composer name, for the
 * browser bundle (POSIX rules, root `/`). In a browser they only ever see the playground's one
 * file name: schema imports, which need them, cannot be read there (see node-fs.ts).
 */
export const sep = '/';

function normalize(parts: string[]): string[] {
  const out: string[] = [];
  for (const p of parts) {
    if (p === '' || p === '.') continue;
    if (p === '..') out.pop();
    else out.push(p);
  }
  return out;
}

export function isAbsolute(path: string): boolean {
  return path.startsWith('/');
}

export function resolve(...paths: string[]): string {
  let joined = '';
  for (const p of paths) joined = isAbsolute(p) ? p : `${joined}/${p}`;
  return `/${normalize(joined.split('/')).join('/')}`;
}

export function join(...paths: string[]): string {
  const joined = paths.filter(Boolean).join('/');
  const body = normalize(joined.split('/')).join('/');
  return isAbsolute(joined) ? `/${body}` : body || '.';
}

export function dirname(path: string): string {
  const i = path.replace(/\/+$/, '').lastIndexOf('/');
  if (i < 0) return '.';
  return i === 0 ? '/' : path.slice(0, i);
}

export function basename(path: string): string {
  const trimmed = path.replace(/\/+$/, '');
  return trimmed.slice(trimmed.lastIndexOf('/') + 1);
}

export function extname(path: string): string {
  const base = basename(path);
  const dot = base.lastIndexOf('.');
  return dot > 0 ? base.slice(dot) : '';
}

export default { sep, isAbsolute, resolve, join, dirname, basename, extname };
