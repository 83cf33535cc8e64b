import { readFileSync } from 'node:fs';
import { expect, it } from 'vitest';
import { SERVE_NODE_FLAGS } from '../../src/server/node-flags.js';

it("the pemba command's shebang passes SERVE_NODE_FLAGS to Node", () => {
  const shebang = readFileSync(new URL('../../src/cli/main.ts', import.meta.url), 'utf8').split('\n')[0];
  expect(shebang).toBe(`#!/usr/bin/env -S node ${SERVE_NODE_FLAGS.join(' ')}`);
});
