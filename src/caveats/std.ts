/** Access to @bufbuild/cel's own standard-library overloads, for the functions that wrap them. */
import { celEnv, isCelError, type CelFunc, type CelValue } from '@bufbuild/cel';

const standard = celEnv();

/** @bufbuild/cel's own overload with this id, to wrap. */
export function std(name: string, id: string): CelFunc {
  for (const f of standard.funcs.find(name) ?? []) if (f.id === id) return f;
  throw new Error(`@bufbuild/cel has no overload ${id}`);
}

/** Calls a standard overload, rethrowing its error value so the wrapper fails the same way. */
export function callStd(f: CelFunc, target: CelValue | undefined, args: CelValue[]): CelValue {
  const r = f.call(0, target, args);
  if (r === undefined) throw new Error(`found no matching overload for '${f.name}'`);
  if (isCelError(r)) throw r;
  return r;
}
