import { describe, expect, it } from 'vitest';
import { PresharedKeys } from '../../src/server/auth.js';

describe('preshared keys', () => {
  it('accepts any configured key (rotation) and nothing else', () => {
    const keys = new PresharedKeys(['old-key', 'new-key']);
    expect(keys.matches('old-key')).toBe(true);
    expect(keys.matches('new-key')).toBe(true);
    expect(keys.matches('new-ke')).toBe(false);
    expect(keys.matches('new-key ')).toBe(false);
    expect(keys.matches('')).toBe(false);
  });

  it('authenticates `Bearer <key>` case-insensitively in the scheme only', () => {
    const keys = new PresharedKeys(['s3cret']);
    expect(() => keys.authenticate('Bearer s3cret')).not.toThrow();
    expect(() => keys.authenticate('bearer s3cret')).not.toThrow();
    expect(() => keys.authenticate('Bearer S3CRET')).toThrow(/invalid preshared key/);
    expect(() => keys.authenticate(undefined)).toThrow(/missing or malformed/);
    expect(() => keys.authenticate('s3cret')).toThrow(/missing or malformed/);
  });

  it('answers UNAUTHENTICATED without echoing the key', () => {
    const keys = new PresharedKeys(['s3cret']);
    try {
      keys.authenticate('Bearer guess-1234');
      expect.unreachable();
    } catch (e) {
      expect((e as { code: string }).code).toBe('UNAUTHENTICATED');
      expect((e as Error).message).not.toContain('guess-1234');
      expect((e as Error).message).not.toContain('s3cret');
    }
  });

  it('remembers accepted headers only: a repeat is accepted without a digest, a refused one stays refused', () => {
    const keys = new PresharedKeys(['s3cret']);
    let digests = 0;
    const matches = keys.matches.bind(keys);
    keys.matches = (key: string) => {
      digests++;
      return matches(key);
    };
    for (let i = 0; i < 3; i++) expect(() => keys.authenticate('Bearer s3cret')).not.toThrow();
    expect(digests).toBe(1);
    for (let i = 0; i < 3; i++) expect(() => keys.authenticate('Bearer guess')).toThrow(/invalid preshared key/);
    expect(digests).toBe(4);
    // Many spellings of the right header: the memory stays bounded and every one is still accepted.
    for (let i = 0; i < 40; i++) expect(() => keys.authenticate(`Bearer${' '.repeat(i + 1)}s3cret`)).not.toThrow();
    expect(() => keys.authenticate('Bearer s3cret')).not.toThrow();
  });

  it('refuses to run without a key', () => {
    expect(() => new PresharedKeys([])).toThrow();
    expect(() => new PresharedKeys([''])).toThrow();
  });
});
