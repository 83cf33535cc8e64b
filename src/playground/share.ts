/**
 * The playground's state in a URL fragment: JSON, deflated (CompressionStream) and base64url-encoded,
 * as `#s=…`: the four texts, and the check panel's inputs. Web APIs only, so it runs in browsers and
 * in Node alike.
 */
import { fromBase64Url, fromUtf8, portableToBase64Url, utf8 } from '../runtime/bytes.js';
import type { CheckInput, PlaygroundState } from './engine.js';

const PREFIX = 's=';

async function pipe(bytes: Uint8Array, stream: GenericTransformStream): Promise<Uint8Array> {
  const out = new Blob([bytes as BlobPart]).stream().pipeThrough(stream);
  return new Uint8Array(await new Response(out).arrayBuffer());
}

export interface Shared {
  state: PlaygroundState;
  check?: CheckInput;
}

export async function encodeState(state: PlaygroundState, check?: CheckInput): Promise<string> {
  const fields = [state.schema, state.relationships, state.assertions, state.validation];
  if (check) fields.push(check.resource, check.permission, check.subject, check.context ?? '');
  return PREFIX + portableToBase64Url(await pipe(utf8(JSON.stringify(fields)), new CompressionStream('deflate-raw')));
}

/** What a fragment (with or without its `#`) holds; undefined when it holds nothing or is damaged. */
export async function decodeShared(hash: string): Promise<Shared | undefined> {
  const fragment = hash.replace(/^#/, '');
  if (!fragment.startsWith(PREFIX)) return undefined;
  try {
    const json = fromUtf8(
      await pipe(fromBase64Url(fragment.slice(PREFIX.length)), new DecompressionStream('deflate-raw')),
    );
    const fields = JSON.parse(json) as unknown;
    if (!Array.isArray(fields)) return undefined;
    const text = (i: number) => (typeof fields[i] === 'string' ? (fields[i] as string) : '');
    const shared: Shared = {
      state: { schema: text(0), relationships: text(1), assertions: text(2), validation: text(3) },
    };
    if (fields.length >= 8)
      shared.check = { resource: text(4), permission: text(5), subject: text(6), context: text(7) };
    return shared;
  } catch {
    return undefined;
  }
}

/** The four texts in a fragment (see decodeShared). */
export async function decodeState(hash: string): Promise<PlaygroundState | undefined> {
  return (await decodeShared(hash))?.state;
}
