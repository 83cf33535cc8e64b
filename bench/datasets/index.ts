/** The datasets by name; `scale` multiplies every count (the GitHub-like ×10 is scale 10). */
import type { Dataset } from './dataset.js';
import { deepNestingDataset } from './deep-nesting.js';
import { documentsDataset } from './documents.js';
import { githubDataset } from './github.js';
import { sharingDataset } from './sharing.js';

export const DATASETS: Record<string, (scale: number, seed: number) => Dataset> = {
  github: githubDataset,
  deep: deepNestingDataset,
  documents: documentsDataset,
  sharing: sharingDataset,
};

export function buildDataset(name: string, scale: number, seed: number): Dataset {
  const make = DATASETS[name];
  if (!make) throw new Error(`unknown dataset ${name} (known: ${Object.keys(DATASETS).join(', ')})`);
  return make(scale, seed);
}
