/**
 * Request validation driven by the protovalidate rules authzed ships in the generated types' field
 * options (`buf.validate.field`), so Pemba rejects exactly the malformed requests SpiceDB rejects,
 * with SpiceDB's messages: `validation error: resource.object_id: does not match regex pattern …`
 * (or `validation errors:` and one ` - path: message` line per violation). Only the rule kinds
 * authzed.api.v1 uses are interpreted.
 */
import type { FieldInfo, IMessageType } from '@protobuf-ts/runtime';
import { invalidArgument } from '../errors/index.js';

interface StringRules {
  pattern?: string;
  maxBytes?: string;
  minBytes?: string;
}
interface Rules {
  required?: boolean;
  string?: StringRules;
  bool?: { const?: boolean };
  enum?: { definedOnly?: boolean; notIn?: number[] };
  uint32?: { gte?: number; lte?: number };
  repeated?: { minItems?: string; maxItems?: string; items?: Rules };
}

interface Violation {
  path: string;
  message: string;
}

const patterns = new Map<string, RegExp>();
function regex(pattern: string): RegExp {
  let r = patterns.get(pattern);
  if (!r) patterns.set(pattern, (r = new RegExp(pattern)));
  return r;
}

/** Throws INVALID_ARGUMENT (no ErrorInfo, like SpiceDB) listing every violated rule. */
export function validateMessage(type: IMessageType<object>, message: object): void {
  // Nearly every request is valid: a check compiled per message type says so without building
  // paths; only a request it refuses is walked again to name each violation.
  const valid = validatorOf(type);
  if (valid === null || valid(message as Record<string, unknown>, 0)) return;
  const violations: Violation[] = [];
  collectViolations(type, message as Record<string, unknown>, '', violations, 0);
  if (violations.length === 1) throw invalidArgument(`validation error: ${describe(violations[0])}`);
  if (violations.length > 1)
    throw invalidArgument(`validation errors:\n${violations.map((v) => ` - ${describe(v)}`).join('\n')}`);
}

const describe = (v: Violation) => (v.path ? `${v.path}: ${v.message}` : v.message);

function collectViolations(
  type: IMessageType<object>,
  msg: Record<string, unknown>,
  prefix: string,
  out: Violation[],
  depth: number,
): void {
  if (depth > 32) return;
  for (const field of type.fields) {
    const oneof = field.oneof ? (msg[field.oneof] as Record<string, unknown> | undefined) : undefined;
    if (field.oneof && oneof?.oneofKind !== field.localName) continue;
    const value = field.oneof ? oneof![field.localName] : msg[field.localName];
    const rules = field.options?.['buf.validate.field'] as Rules | undefined;
    const path = prefix + field.name;
    if (field.repeat) {
      const items = (value as unknown[] | undefined) ?? [];
      const r = rules?.repeated;
      if (r?.minItems && items.length < Number(r.minItems))
        out.push({ path, message: `must contain at least ${r.minItems} item(s)` });
      if (r?.maxItems && items.length > Number(r.maxItems))
        out.push({ path, message: `must contain no more than ${r.maxItems} item(s)` });
      items.forEach((item, i) => validateValue(field, item, r?.items, `${path}[${i}]`, out, depth));
    } else if (field.kind !== 'map') {
      validateValue(field, value, rules, path, out, depth);
    }
  }
}

function validateValue(
  field: FieldInfo,
  value: unknown,
  rules: Rules | undefined,
  path: string,
  out: Violation[],
  depth: number,
): void {
  if (field.kind === 'message') {
    if (value === undefined || value === null) {
      if (rules?.required) out.push({ path, message: 'value is required' });
      return;
    }
    collectViolations(field.T() as IMessageType<object>, value as Record<string, unknown>, `${path}.`, out, depth + 1);
    return;
  }
  if (!rules) return;
  const message = scalarViolation(field, value, rules);
  if (message) out.push({ path, message });
}

function scalarViolation(field: FieldInfo, value: unknown, rules: Rules): string | undefined {
  if (rules.string && typeof value === 'string') return stringViolation(value, rules.string);
  if (rules.bool?.const !== undefined && value !== undefined && value !== rules.bool.const)
    return `must equal ${rules.bool.const}`;
  if (rules.enum && typeof value === 'number' && field.kind === 'enum') {
    if (rules.enum.notIn?.includes(value)) return `must not be in list [${rules.enum.notIn.join(', ')}]`;
    if (rules.enum.definedOnly && field.T()[1][value] === undefined)
      return 'value must be one of the defined enum values';
  }
  if (rules.uint32 && typeof value === 'number') {
    if (rules.uint32.gte !== undefined && value < rules.uint32.gte)
      return `must be greater than or equal to ${rules.uint32.gte}`;
    if (rules.uint32.lte !== undefined && value > rules.uint32.lte)
      return `must be less than or equal to ${rules.uint32.lte}`;
  }
  return undefined;
}

function stringViolation(value: string, r: StringRules): string | undefined {
  // A UTF-16 unit is 1 to 3 UTF-8 bytes: the byte count is needed only when the length does not settle it.
  const n = value.length;
  if (r.minBytes !== undefined && n < Number(r.minBytes) && Buffer.byteLength(value, 'utf8') < Number(r.minBytes))
    return `must be at least ${r.minBytes} bytes`;
  if (r.maxBytes !== undefined && n * 3 > Number(r.maxBytes) && Buffer.byteLength(value, 'utf8') > Number(r.maxBytes))
    return `must be at most ${r.maxBytes} bytes`;
  if (r.pattern !== undefined && !regex(r.pattern).test(value)) return `does not match regex pattern \`${r.pattern}\``;
  return undefined;
}

// ---------------------------------------------------------------------------------------------
// The compiled check: the same rules as collectViolations, as a yes/no per message type.

/** True when `msg` violates no rule (at nesting `depth`, as collectViolations counts it). */
type Validator = (msg: Record<string, unknown>, depth: number) => boolean;

/** Per message type: its compiled check, or null when nothing in it (or below it) has a rule. */
const validators = new WeakMap<IMessageType<object>, Validator | null>();

function validatorOf(type: IMessageType<object>): Validator | null {
  let v = validators.get(type);
  if (v === undefined) {
    markRuleless(type);
    v = validators.get(type);
    if (v === undefined) validators.set(type, (v = compile(type)));
  }
  return v;
}

const rulesOf = (field: FieldInfo) => field.options?.['buf.validate.field'] as Rules | undefined;

/** Rules that can be violated (`required: false` alone cannot). */
function hasRules(rules: Rules | undefined): boolean {
  return rules !== undefined && Object.entries(rules).some(([k, v]) => !(k === 'required' && v === false));
}

function childType(field: FieldInfo): IMessageType<object> | undefined {
  return field.kind === 'message' ? (field.T() as IMessageType<object>) : undefined;
}

/**
 * Finds, among the types reachable from `root`, those with no rule anywhere below them (fixpoint
 * over the type graph, which may be cyclic, as google.protobuf.Struct is), and records null for them.
 */
function markRuleless(root: IMessageType<object>): void {
  const reachable = new Set<IMessageType<object>>();
  const stack = [root];
  while (stack.length > 0) {
    const t = stack.pop()!;
    if (reachable.has(t) || validators.has(t)) continue;
    reachable.add(t);
    for (const f of t.fields) {
      const child = childType(f);
      if (child) stack.push(child);
    }
  }
  const ruled = new Set<IMessageType<object>>();
  for (const t of reachable) if (t.fields.some((f) => f.kind !== 'map' && hasRules(rulesOf(f)))) ruled.add(t);
  for (let changed = true; changed;) {
    changed = false;
    for (const t of reachable) {
      if (ruled.has(t)) continue;
      const reaches = t.fields.some((f) => {
        const child = f.kind === 'map' ? undefined : childType(f);
        return child !== undefined && (ruled.has(child) || validators.get(child) != null);
      });
      if (reaches) {
        ruled.add(t);
        changed = true;
      }
    }
  }
  for (const t of reachable) if (!ruled.has(t)) validators.set(t, null);
}

/** One field's check: true when the field's value violates nothing. */
type FieldCheck = (value: unknown, depth: number) => boolean;

function compile(type: IMessageType<object>): Validator {
  const checks: { read: (msg: Record<string, unknown>) => unknown; present: boolean; check: FieldCheck }[] = [];
  for (const field of type.fields) {
    if (field.kind === 'map') continue;
    const rules = rulesOf(field);
    const check = field.repeat ? repeatedCheck(field, rules) : valueCheck(field, rules);
    if (!check) continue;
    const { localName, oneof } = field;
    // A oneof member is checked only when it is the member set, as collectViolations does.
    const read = oneof
      ? (msg: Record<string, unknown>) => {
          const o = msg[oneof] as Record<string, unknown> | undefined;
          return o?.oneofKind === localName ? o[localName] : SKIP;
        }
      : (msg: Record<string, unknown>) => msg[localName];
    checks.push({ read, present: !!oneof, check });
  }
  return (msg, depth) => {
    if (depth > 32) return true;
    for (const { read, present, check } of checks) {
      const value = read(msg);
      if (present && value === SKIP) continue;
      if (!check(value, depth)) return false;
    }
    return true;
  };
}

const SKIP = Symbol('not the oneof member set');

function repeatedCheck(field: FieldInfo, rules: Rules | undefined): FieldCheck | undefined {
  const r = rules?.repeated;
  const min = r?.minItems ? Number(r.minItems) : undefined;
  const max = r?.maxItems ? Number(r.maxItems) : undefined;
  const item = valueCheck(field, r?.items);
  if (min === undefined && max === undefined && !item) return undefined;
  return (value, depth) => {
    const items = (value as unknown[] | undefined) ?? [];
    if (min !== undefined && items.length < min) return false;
    if (max !== undefined && items.length > max) return false;
    if (item) for (const x of items) if (!item(x, depth)) return false;
    return true;
  };
}

function valueCheck(field: FieldInfo, rules: Rules | undefined): FieldCheck | undefined {
  if (field.kind === 'message') {
    const child = childType(field)!;
    const required = rules?.required === true;
    if (!required && validators.get(child) === null) return undefined;
    let valid: Validator | null | undefined;
    return (value, depth) => {
      if (value === undefined || value === null) return !required;
      if (depth + 1 > 32) return true;
      valid ??= validatorOf(child);
      return valid === null || valid(value as Record<string, unknown>, depth + 1);
    };
  }
  if (!rules || !hasRules(rules)) return undefined;
  return (value) => scalarViolation(field, value, rules) === undefined;
}
