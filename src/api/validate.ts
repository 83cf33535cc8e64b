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
  const bytes = Buffer.byteLength(value, 'utf8');
  if (r.minBytes !== undefined && bytes < Number(r.minBytes)) return `must be at least ${r.minBytes} bytes`;
  if (r.maxBytes !== undefined && bytes > Number(r.maxBytes)) return `must be at most ${r.maxBytes} bytes`;
  if (r.pattern !== undefined && !regex(r.pattern).test(value)) return `does not match regex pattern \`${r.pattern}\``;
  return undefined;
}
