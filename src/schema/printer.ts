/**
 * Canonical schema text for a compiled schema: `use` flags, then caveats, then definitions, in
 * the order they were declared. Compiling the output yields the same IR (positions aside).
 */
import { ELLIPSIS } from './ir.js';
import type * as ir from './ir.js';

export function printSchema(schema: ir.CompiledSchema): string {
  const blocks: string[] = [];
  if (schema.useExpiration) blocks.push('use expiration');
  if (schema.useSelf) blocks.push('use self');
  for (const c of schema.caveats.values()) blocks.push(printCaveat(c));
  for (const d of schema.definitions.values()) blocks.push(printDefinition(d));
  return blocks.join('\n\n') + '\n';
}

function printCaveat(c: ir.CaveatDefinition): string {
  const params = [...c.parameters].map(([name, type]) => `${name} ${printCaveatType(type)}`).join(', ');
  return `${printDoc(c.doc, '')}caveat ${c.name}(${params}) {\n\t${c.expression}\n}`;
}

export function printCaveatType(t: ir.CaveatParameterType): string {
  if (t.kind === 'list') return `list<${printCaveatType(t.element)}>`;
  if (t.kind === 'map') return `map<${printCaveatType(t.value)}>`;
  return t.kind;
}

function printDefinition(d: ir.ObjectDefinition): string {
  const head = `${printDoc(d.doc, '')}definition ${d.name} {`;
  if (!d.relations.size) return `${head}}`;
  const lines: string[] = [];
  for (const r of d.relations.values()) {
    // A blank line sets a documented member apart, as SpiceDB's own printer does.
    if (r.doc !== undefined && lines.length) lines.push('');
    lines.push(`${printDoc(r.doc, '\t')}\t${printMember(r)}`);
  }
  return `${head}\n${lines.join('\n')}\n}`;
}

function printMember(r: ir.RelationDefinition): string {
  if (r.kind === 'relation') return `relation ${r.name}: ${r.allowedSubjects.map(printAllowedType).join(' | ')}`;
  return `permission ${r.name} = ${printRewrite(r.rewrite)}`;
}

export function printAllowedType(a: ir.AllowedSubjectType): string {
  let s = a.wildcard ? `${a.type}:*` : a.relation === ELLIPSIS ? a.type : `${a.type}#${a.relation}`;
  if (a.caveat !== undefined) s += ` with ${a.caveat}`;
  if (a.expiration) s += a.caveat !== undefined ? ' and expiration' : ' with expiration';
  return s;
}

const OPERATOR = { union: ' + ', intersection: ' & ', exclusion: ' - ' } as const;

/**
 * Permission expression text. Compound operands are always parenthesised, so readers never need
 * SpiceDB's precedence (`+` over `&` over `-`) to read it.
 */
export function printRewrite(r: ir.Rewrite): string {
  switch (r.kind) {
    case 'this':
      return '_this';
    case 'nil':
      return 'nil';
    case 'self':
      return 'self';
    case 'computed':
      return r.relation;
    case 'tupleToUserset':
      return r.mode === 'all' ? `${r.tupleset}.all(${r.computed})` : `${r.tupleset}->${r.computed}`;
    case 'union':
    case 'intersection':
      return r.children.map(operand).join(OPERATOR[r.kind]);
    case 'exclusion':
      return `${operand(r.base)}${OPERATOR.exclusion}${operand(r.subtract)}`;
  }
}

function operand(r: ir.Rewrite): string {
  const text = printRewrite(r);
  return r.kind === 'union' || r.kind === 'intersection' || r.kind === 'exclusion' ? `(${text})` : text;
}

/** A doc comment as `/** … *\/`, or `//` lines when the text itself contains `*\/`. */
function printDoc(doc: string | undefined, indent: string): string {
  if (doc === undefined) return '';
  const lines = doc.split('\n');
  if (doc.includes('*/')) return lines.map((l) => `${indent}//${l ? ` ${l}` : ''}\n`).join('');
  if (lines.length === 1 && doc === doc.trim()) return `${indent}/** ${doc} */\n`;
  return `${indent}/**\n${lines.map((l) => `${indent} *${l ? ` ${l}` : ''}\n`).join('')}${indent} */\n`;
}
