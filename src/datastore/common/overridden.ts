/** What `unwrapped` reads through a Proxy made by withOverrides. */
const UNWRAPPED = Symbol('pemba.unwrapped');

/**
 * A Proxy of an object with some of its members replaced: everything else (a backend's own methods,
 * its id) is the object's own, methods called on the object itself (a Proxy receiver would break
 * private fields), and `instanceof` still holds.
 */
export function withOverrides<T extends object>(target: T, overrides: Record<PropertyKey, unknown>): T {
  const replaced = new Map<PropertyKey, unknown>(Object.entries(overrides));
  /** Methods of the target bound to it, made once (and again if the target replaces one). */
  const bound = new Map<PropertyKey, { original: unknown; bound: unknown }>();
  return new Proxy(target, {
    get(t, prop) {
      if (prop === UNWRAPPED) return unwrapped(t);
      const override = replaced.get(prop);
      if (override !== undefined) return override;
      const value: unknown = Reflect.get(t, prop, t);
      if (typeof value !== 'function') return value;
      const known = bound.get(prop);
      if (known?.original === value) return known.bound;
      const fn = (value as (...args: unknown[]) => unknown).bind(t);
      bound.set(prop, { original: value, bound: fn });
      return fn;
    },
  });
}

/**
 * The object under every withOverrides Proxy around `o` (the mirror, instrumentation, read-only
 * wrappers of a datastore), or `o` itself: to reach a backend's own state, such as its connection.
 */
export function unwrapped<T extends object>(o: T): T {
  return ((o as Record<PropertyKey, unknown>)[UNWRAPPED] as T | undefined) ?? o;
}
