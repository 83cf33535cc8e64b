/**
 * Shrinks a differential-test discrepancy to a small reproduction.
 *
 *   npx tsx test/differential/minimize.ts <seed> [query substring] [--kind=mismatch|error-mismatch|depth-divergence|...]
 *
 * Runs the seed's case, picks the first discrepancy of a failing kind (or of --kind) whose query
 * contains the substring, then repeatedly
 *   - removes relationships (delta debugging),
 *   - drops relations/permissions and allowed subject types, replaces expression nodes by a child
 *     or by `nil`,
 * keeping each change only if both engines still accept the case and still disagree the same way
 * (same discrepancy kind) on that query. Prints the minimized schema, relationships and answers.
 */
import { formatAnswer, formatQuery } from './engines.js';
import type { Answer, Query } from './engines.js';
import { classify, FAILING, queriesFor, runCase } from './compare.js';
import type { DiscrepancyKind } from './compare.js';
import { formatRelationship, generateCase, schemaToString } from './generator.js';
import type { DefModel, Expr, GeneratedCase, RelModel, SchemaModel } from './generator.js';
import { PembaEngine } from './pemba-engine.js';
import { SpiceDBProcess } from './spicedb-process.js';
import type { Relationship } from '../../src/relationships/relationship.js';

const TYPES = ['user', 'group', 'folder', 'document'];

interface Candidate {
  model: SchemaModel;
  relationships: Relationship[];
}

const clone = <T>(x: T): T => structuredClone(x);

export async function minimize(
  c: GeneratedCase,
  query: Query,
  kind: DiscrepancyKind,
  spicedb: SpiceDBProcess,
  pemba: PembaEngine,
  log: (s: string) => void = () => undefined,
): Promise<{ candidate: Candidate; spicedb: Answer; pemba: Answer; trials: number }> {
  let trials = 0;
  let last: { spicedb: Answer; pemba: Answer } | undefined;

  const interesting = async (cand: Candidate): Promise<boolean> => {
    trials++;
    const schema = schemaToString(cand.model);
    try {
      await spicedb.load(schema, cand.relationships, TYPES);
    } catch {
      return false;
    }
    try {
      await pemba.load(schema, cand.relationships);
    } catch {
      return false;
    }
    const s = await spicedb.run(query);
    const p = await pemba.run(query);
    if (classify(s, p) !== kind) return false;
    last = { spicedb: s, pemba: p };
    return true;
  };

  let best: Candidate = { model: clone(c.model), relationships: [...c.relationships] };
  if (!(await interesting(best))) throw new Error('the discrepancy does not reproduce');

  // ddmin over relationships.
  const shrinkRelationships = async () => {
    let n = 2;
    while (best.relationships.length >= 1) {
      const rels = best.relationships;
      const size = Math.ceil(rels.length / n);
      let reduced = false;
      for (let i = 0; i < rels.length; i += size) {
        const complement = [...rels.slice(0, i), ...rels.slice(i + size)];
        const cand = { model: best.model, relationships: complement };
        if (await interesting(cand)) {
          best = cand;
          n = Math.max(n - 1, 2);
          reduced = true;
          break;
        }
      }
      if (!reduced) {
        if (size === 1) break;
        n = Math.min(n * 2, rels.length);
      }
    }
  };

  /** Schema edits, one at a time: each yields a modified copy of the model. */
  function* schemaEdits(model: SchemaModel): Generator<SchemaModel> {
    const defs = model.definitions;
    for (let d = 0; d < defs.length; d++) {
      for (let r = 0; r < defs[d].relations.length; r++) {
        const rel = defs[d].relations[r];
        const isQueried =
          (query.kind === 'lookupResources' ? query.resourceType : query.resource.type) === defs[d].name &&
          query.permission === rel.name;
        if (!isQueried) {
          const m = clone(model);
          m.definitions[d].relations.splice(r, 1);
          yield m;
        }
        if (rel.kind === 'relation' && rel.types.length > 1) {
          for (let t = 0; t < rel.types.length; t++) {
            const m = clone(model);
            m.definitions[d].relations[r].types.splice(t, 1);
            yield m;
          }
        }
        if (rel.kind === 'permission') {
          for (const replacement of exprShrinks(rel.expr!)) {
            const m = clone(model);
            m.definitions[d].relations[r].expr = replacement;
            yield m;
          }
        }
      }
    }
  }

  const shrinkSchema = async (): Promise<boolean> => {
    let changed = false;
    for (let progress = true; progress;) {
      progress = false;
      for (const m of schemaEdits(best.model)) {
        // Drop relationships the edited schema no longer allows.
        const relationships = best.relationships.filter((r) => allowed(m, r));
        const cand = { model: m, relationships };
        if (await interesting(cand)) {
          best = cand;
          progress = true;
          changed = true;
          log(`  schema edit kept (${trials} trials)`);
          break;
        }
      }
    }
    return changed;
  };

  for (let round = 0; round < 10; round++) {
    const before = `${schemaToString(best.model)}\n${best.relationships.map(formatRelationship).join('\n')}`;
    await shrinkRelationships();
    log(`round ${round}: ${best.relationships.length} relationships (${trials} trials)`);
    await shrinkSchema();
    const after = `${schemaToString(best.model)}\n${best.relationships.map(formatRelationship).join('\n')}`;
    if (after === before) break;
  }
  // Leave both engines on the final candidate and record its answers.
  await interesting(best);
  return { candidate: best, spicedb: last!.spicedb, pemba: last!.pemba, trials };
}

function* exprShrinks(e: Expr): Generator<Expr> {
  if (e.op === 'nil') return;
  yield { op: 'nil' };
  if (e.op === '+' || e.op === '&' || e.op === '-') {
    yield e.left;
    yield e.right;
    for (const l of exprShrinks(e.left)) yield { ...e, left: l };
    for (const r of exprShrinks(e.right)) yield { ...e, right: r };
    if (e.parens) yield { ...e, parens: false };
  }
  if (e.op === 'arrow' && e.fn !== '->') yield { ...e, fn: '->' };
}

function allowed(model: SchemaModel, r: Relationship): boolean {
  const def: DefModel | undefined = model.definitions.find((d) => d.name === r.resource.type);
  const rel: RelModel | undefined = def?.relations.find((x) => x.name === r.relation);
  if (!rel || rel.kind !== 'relation') return false;
  return rel.types.some(
    (t) =>
      t.type === r.subject.type &&
      (t.wildcard ? r.subject.id === '*' : r.subject.id !== '*') &&
      (t.relation ?? '...') === r.subject.relation,
  );
}

async function main(): Promise<void> {
  const args = process.argv.slice(2);
  const kindArg = args.find((a) => a.startsWith('--kind='))?.slice('--kind='.length) as DiscrepancyKind | undefined;
  const [seedArg, filter = ''] = args.filter((a) => !a.startsWith('--'));
  const seed = Number(seedArg);
  if (!Number.isInteger(seed)) throw new Error('usage: minimize.ts <seed> [query substring] [--kind=...]');

  const spicedb = await SpiceDBProcess.start();
  const pemba = new PembaEngine();
  try {
    const c = generateCase(seed);
    const result = await runCase(c, spicedb, pemba);
    if (result.rejectedBySpiceDB) throw new Error(`SpiceDB rejects seed ${seed}: ${result.rejectedBySpiceDB}`);
    const d = result.discrepancies.find(
      (x) => (kindArg ? x.kind === kindArg : FAILING.has(x.kind)) && x.query.includes(filter),
    );
    if (!d) {
      console.log(`seed ${seed}: no matching discrepancy (${result.discrepancies.length} in all)`);
      return;
    }
    if (d.kind === 'paging' || d.kind === 'schema') throw new Error(`cannot minimize a ${d.kind} discrepancy`);
    const query = queriesFor(c).find((q) => formatQuery(q) === d.query)!;
    console.log(
      `minimizing [${d.kind}] ${d.query} of seed ${seed} (${result.discrepancies.length} discrepancies in the case)`,
    );
    const m = await minimize(c, query, d.kind, spicedb, pemba, (s) => console.log(s));
    console.log(
      [
        `--- minimized after ${m.trials} trials ---`,
        schemaToString(m.candidate.model).trimEnd(),
        '--- relationships ---',
        ...m.candidate.relationships.map(formatRelationship),
        '--- query ---',
        formatQuery(query),
        `  SpiceDB: ${formatAnswer(m.spicedb)}`,
        `  Pemba:   ${formatAnswer(m.pemba)}`,
      ].join('\n'),
    );
  } finally {
    await pemba.close();
    spicedb.close();
  }
}

if (process.argv[1] && import.meta.url === new URL(`file://${process.argv[1]}`).href) {
  main().catch((e) => {
    console.error(e);
    process.exit(1);
  });
}
