/**
 * Request validation driven by the protoc-gen-validate rules authzed ships in the generated types'
 * field options (`validate.rules`), so Pemba rejects exactly the malformed requests SpiceDB rejects,
 * with messages in the same shape ("invalid ObjectReference.ObjectId: value does not match regex
 * pattern ..."). Only the rule kinds authzed.api.v1 uses are interpreted.
 */
import type { FieldInfo, IMessageType } from '@protobuf-ts/runtime';
import { apiInvalidArgument } from './errors.js';

interface StringRules { pattern?: string; maxBytes?: string; minBytes?: string }
interface Rules {
  string?: StringRules;
  bool?: { const?: boolean };
  message?: { required?: boolean };
  enum?: { definedOnly?: boolean; notIn?: number[] };
  uint32?: { gte?: number; lte?: number };
  repeated?: { minItems?: string; maxItems?: string; items?: Rules };
}

const patterns = new Map<string, RegExp>();
function regex(pattern: string): RegExp {
  let r = patterns.get(pattern);
  if (!r) patterns.set(pattern, (r = new RegExp(pattern)));
  return r;
}

/** Throws INVALID_ARGUMENT (no ErrorInfo, like SpiceDB) at the first violated rule. */
export function validateMessage(type: IMessageType<object>, message: object): void {
  const problem = check(type, message as Record<string, unknown>, 0);
  if (problem) throw apiInvalidArgument(problem);
}

function check(type: IMessageType<object>, msg: Record<string, unknown>, depth: number): string | undefined {
  if (depth > 32) return undefined;
  for (const field of type.fields) {
    const value = field.oneof
      ? (msg[field.oneof] as { oneofKind?: string } | undefined)?.oneofKind === field.localName
        ? (msg[field.oneof] as Record<string, unknown>)[field.localName]
        : undefined
      : msg[field.localName];
    const rules = field.options?.['validate.rules'] as Rules | undefined;
    const where = `invalid ${shortName(type.typeName)}.${pascal(field.name)}`;
    if (field.repeat) {
      const items = (value as unknown[] | undefined) ?? [];
      const r = rules?.repeated;
      if (r?.minItems && items.length < Number(r.minItems)) return `${where}: value must contain at least ${r.minItems} item(s)`;
      if (r?.maxItems && items.length > Number(r.maxItems)) return `${where}: value must contain no more than ${r.maxItems} item(s)`;
      for (let i = 0; i < items.length; i++) {
        const problem = checkValue(field, items[i], r?.items, depth);
        if (problem) return `${where}[${i}]: ${problem}`;
      }
    } else if (field.kind !== 'map') {
      const problem = checkValue(field, value, rules, depth);
      if (problem) return `${where}: ${problem}`;
    }
  }
  return undefined;
}

function checkValue(field: FieldInfo, value: unknown, rules: Rules | undefined, depth: number): string | undefined {
  if (field.kind === 'message') {
    if (value === undefined || value === null) return rules?.message?.required ? 'value is required' : undefined;
    const nested = check(field.T() as IMessageType<object>, value as Record<string, unknown>, depth + 1);
    return nested ? `embedded message failed validation | caused by: ${nested}` : undefined;
  }
  if (!rules) return undefined;
  if (rules.string && typeof value === 'string') return checkString(value, rules.string);
  if (rules.bool?.const !== undefined && value !== undefined && value !== rules.bool.const) {
    return `value must equal ${rules.bool.const}`;
  }
  if (rules.enum && typeof value === 'number' && field.kind === 'enum') {
    if (rules.enum.notIn?.includes(value)) return `value must not be in list [${rules.enum.notIn.join(', ')}]`;
    if (rules.enum.definedOnly && field.T()[1][value] === undefined) return 'value must be one of the defined enum values';
  }
  if (rules.uint32 && typeof value === 'number') {
    if (rules.uint32.gte !== undefined && value < rules.uint32.gte) return `value must be greater than or equal to ${rules.uint32.gte}`;
    if (rules.uint32.lte !== undefined && value > rules.uint32.lte) return `value must be less than or equal to ${rules.uint32.lte}`;
  }
  return undefined;
}

function checkString(value: string, r: StringRules): string | undefined {
  const bytes = Buffer.byteLength(value, 'utf8');
  if (r.minBytes !== undefined && bytes < Number(r.minBytes)) return `value length must be at least ${r.minBytes} bytes`;
  if (r.maxBytes !== undefined && bytes > Number(r.maxBytes)) return `value length must be at most ${r.maxBytes} bytes`;
  if (r.pattern !== undefined && !regex(r.pattern).test(value)) return `value does not match regex pattern ${JSON.stringify(r.pattern)}`;
  return undefined;
}

/** `authzed.api.v1.SubjectFilter.RelationFilter` → `SubjectFilter_RelationFilter`, as PGV names it. */
function shortName(typeName: string): string {
  return typeName.replace(/^([a-z0-9_]+\.)+/, '').replace(/\./g, '_');
}

function pascal(name: string): string {
  return name.replace(/(^|_)([a-z0-9])/g, (_, __, c: string) => c.toUpperCase());
}
