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
