import { describe, expect, it } from 'vitest';
import { startGcLoop } from '../../src/datastore/common/gc-loop.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('background GC loop', () => {
  it('runs repeatedly, never two runs at once, and stop() waits for the run in progress', async () => {
    let running = 0;
    let maxRunning = 0;
    let runs = 0;
    let finished = 0;
    const loop = startGcLoop(async () => {
      running++;
      maxRunning = Math.max(maxRunning, running);
      runs++;
      await sleep(15);
      running--;
      finished++;
    }, 5);
    await sleep(120);
    await loop.stop();
    expect(runs).toBeGreaterThanOrEqual(3);
    expect(maxRunning).toBe(1);
    expect(finished).toBe(runs);
    await sleep(30);
    expect(runs).toBe(finished);
  });

  it('keeps going after a failed run, reporting it', async () => {
    const errors: unknown[] = [];
    let runs = 0;
    const loop = startGcLoop(
      async () => {
        runs++;
        throw new Error(`run ${runs}`);
      },
      5,
      (e) => errors.push(e),
    );
    await sleep(60);
    await loop.stop();
    expect(runs).toBeGreaterThanOrEqual(2);
    expect(errors).toHaveLength(runs);
  });

  it('is disabled by an interval of 0', async () => {
    let runs = 0;
    const loop = startGcLoop(async () => {
      runs++;
    }, 0);
    await sleep(20);
    await loop.stop();
    expect(runs).toBe(0);
  });
});
