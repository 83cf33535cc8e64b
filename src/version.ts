/** Pemba's version, from package.json (src/version.ts and dist/version.js both sit one level below it). */
import { readFileSync } from 'node:fs';

export const PEMBA_VERSION: string = (
  JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string }
).version;
