/**
 * Run a callback on a later turn of the event loop, after pending I/O: setImmediate in Node, a
 * MessageChannel message elsewhere (browsers clamp nested setTimeout(0) to 4 ms).
 */
type Later = (fn: () => void) => void;

export const later: Later =
  typeof setImmediate === 'function'
    ? (fn) => void setImmediate(fn)
    : (() => {
        const queue: Array<() => void> = [];
        const channel = new MessageChannel();
        channel.port1.onmessage = () => queue.shift()?.();
        return (fn: () => void) => {
          queue.push(fn);
          channel.port2.postMessage(null);
        };
      })();

/** A promise that settles on a later turn. */
export const laterTurn = (): Promise<void> => new Promise((resolve) => later(resolve));
