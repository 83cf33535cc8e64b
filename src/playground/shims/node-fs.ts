/** `node:fs` in the browser bundle: there are no files, so a schema's imports cannot be read. */
function noFiles(path: string): never {
  throw new Error(`cannot read ${path}: the playground has no files (schema imports are not supported in the browser)`);
}

export function readFileSync(path: string): never {
  return noFiles(path);
}

export function realpathSync(path: string): never {
  return noFiles(path);
}

export default { readFileSync, realpathSync };
