import { describe, expect, it } from 'vitest';
import { nextTurn, SLICE_MS, sliceSpent } from '../../src/engine/time-slice.js';
import { byCodeUnits, sortPaced } from '../../src/engine/paced-sort.js';

const pacing = { due: sliceSpent, pause: nextTurn };

describe('time slicing', () => {
  it('lets timers run every few milliseconds during a long computation that asks', async () => {
    const fired: number[] = [];
    const began = performance.now();
    const timer = setInterval(() => fired.push(performance.now() - began), 1);
    let x = 0;
    while (performance.now() - began < 200) {
      for (let i = 0; i < 1000; i++) x += Math.sqrt(i);
      if (sliceSpent()) await nextTurn();
    }
    clearInterval(timer);
    expect(x).toBeGreaterThan(0);
    const gaps = fired.map((t, i) => t - (fired[i - 1] ?? 0));
    expect(fired.length).toBeGreaterThan(20);
    // A few ms apart; without slicing the timer would not run once in the 200 ms.
    expect(Math.max(...gaps)).toBeLessThan(SLICE_MS + 100);
  });

  it('gives a request resumed after a long one a slice of its own (no starvation)', async () => {
    let stop = false;
    const long = (async () => {
      while (!stop) {
        const t = performance.now();
        while (performance.now() - t < 1) {
          /* busy */
        }
        if (sliceSpent()) await nextTurn();
      }
    })();
    await new Promise((resolve) => setTimeout(resolve, 10));
    const began = performance.now();
    // A short request: a few steps, asking each time.
    for (let i = 0; i < 10; i++) if (sliceSpent()) await nextTurn();
    const ms = performance.now() - began;
    stop = true;
    await long;
    expect(ms).toBeLessThan(250);
  });
});

describe('sortPaced', () => {
  it('sorts as Array.prototype.sort does, stably, at any size', async () => {
    for (const n of [0, 1, 10, 4096, 4097, 30_000]) {
      const items = Array.from({ length: n }, (_, i) => ({
        key: String(Math.floor((Math.random() * n) / 3)).padStart(3, '0'),
        i,
      }));
      const compare = (a: { key: string }, b: { key: string }) => byCodeUnits(a.key, b.key);
      const expected = [...items].sort(compare);
      expect(await sortPaced([...items], compare, pacing)).toEqual(expected);
    }
    const ids = Array.from({ length: 20_000 }, () => Math.random().toString(36).slice(2));
    expect(await sortPaced([...ids], byCodeUnits, pacing)).toEqual([...ids].sort());
  });
});
