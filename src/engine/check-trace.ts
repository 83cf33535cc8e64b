/**
 * Traced checks: the relations and permissions a check evaluates, as SpiceDB's CheckDebugTrace tree
 * (CheckPermission `with_tracing`, zed's `--explain`).
 *
 * A traced check is evaluated again, apart from the ordinary one that answers it: by a Checker of
 * its own with a tracer, past the shared sub-problem cache (so a trace neither reads an answer from
 * it, hiding a subtree, nor writes one), the nested-group index (which answers without the nested
 * steps) and the other nodes of a cluster. An ordinary check pays for this with one test of an
 * absent tracer per sub-problem.
 *
 * The tree has SpiceDB's shape, which follows its dispatches rather than the rewrite tree:
 *  - a node per relation or permission evaluated on objects: the check itself, each computed
 *    userset (`permission view = viewer + editor` has two sub-problems), each arrow's targets and
 *    each relation's subject sets (`group#member`); set operations (`+ & -`) have no node of their own;
 *  - the objects one step reaches in one node, as SpiceDB batches them into one dispatch: an arrow
 *    to two folders is `folder:a,b#view`, and their own sub-problems batch alike. Pemba evaluates
 *    the objects one by one and stops at the first that grants, so a batch lists the objects it
 *    evaluated (SpiceDB lists all it dispatched);
 *  - an alias (`permission edit = editor`) is its target: SpiceDB dispatches the target directly;
 *  - caveats stay unevaluated, as in SpiceDB's dispatch: a result resting on one is CONDITIONAL,
 *    with the caveat's expression and its evaluation under the request's context beside it (the
 *    evaluator is symbolic: its conditional memberships carry their CaveatExpr, see membership.ts);
 *  - a batch of several objects whose answers differ is UNSPECIFIED where SpiceDB dispatched it
 *    requiring every object's answer (under `&` and `-`, `.all()`, through an alias, for subject sets
 *    reached through a caveat, and in a bulk check of several resources).
 */
import { parse, unparse } from '@bufbuild/cel';
import { compileCaveat, evaluateCaveat, mergeContext } from '../caveats/index.js';
import type { ObjectRef, SubjectRef } from '../relationships/relationship.js';
import type { CaveatTrace, CheckTraceNode, Permissionship } from '../requests/requests.js';
import type { CompiledSchema, Rewrite } from '../schema/ir.js';
import { CaveatEvaluator } from './caveat-evaluator.js';
import { Checker, SUBJECT_SETS } from './check.js';
import type { RequestReader } from './request-reader.js';
import type { CaveatExpr, Membership } from './membership.js';
import { conditional, MEMBER, NOT_MEMBER } from './membership.js';

/** What the Checker tells a tracer: each sub-problem, around its evaluation. */
export interface CheckTracer {
  /**
   * `run` evaluates `relation` on `type:id`, reached by the step `site` (a computed userset or arrow
   * rewrite, SUBJECT_SETS, or the check itself) through a relationship granting `via`.
   */
  step<T extends { m: Membership }>(
    site: object,
    type: string,
    id: string,
    relation: string,
    via: Membership,
    run: () => Promise<T>,
  ): Promise<T>;
}

/** One traced check: what to check, for whom, under which context. */
export interface TracedQuery {
  resource: ObjectRef;
  permission: string;
  subject: SubjectRef;
  context?: Record<string, unknown>;
}

export interface TraceOptions {
  schema: CompiledSchema;
  reader: RequestReader;
  maxDepth: number;
}

/** This process, as a trace's `source` (SpiceDB's is `spicedb:<node id>`): a random id (web Crypto, as the core runs in browsers too). */
const SOURCE = `pemba:${[...globalThis.crypto.getRandomValues(new Uint8Array(8))].map((b) => b.toString(16).padStart(2, '0')).join('')}`;

/** The step of the check itself. */
const ROOT: object = Object.freeze({ step: 'check' });

/**
 * The traces of `queries`, in order (undefined for a query whose evaluation failed before it began).
 * `bulk`: they are the items of one CheckBulkPermissions: SpiceDB evaluates the items of the same
 * permission, subject and context as one batch, and each item's trace is a node of its own over that
 * batch's.
 */
export async function traceChecks(
  options: TraceOptions,
  queries: readonly TracedQuery[],
  bulk = false,
): Promise<(CheckTraceNode | undefined)[]> {
  const groups = new Map<string, number[]>();
  queries.forEach((q, i) => {
    const key = bulk ? JSON.stringify([q.resource.type, q.permission, q.subject, q.context ?? null]) : String(i);
    const group = groups.get(key);
    if (group) group.push(i);
    else groups.set(key, [i]);
  });
  const traces: (CheckTraceNode | undefined)[] = new Array(queries.length);
  for (const indexes of groups.values()) {
    const first = queries[indexes[0]];
    const tracer = new Tracer(options.schema, first.subject);
    const checker = new Checker({
      schema: options.schema,
      reader: options.reader,
      subject: first.subject,
      caveats: new CaveatEvaluator(options.schema, first.context, true),
      context: first.context,
      maxDepth: options.maxDepth,
      tracer,
    });
    const answers = new Map<number, Membership>();
    for (const i of indexes) {
      const q = queries[i];
      try {
        await tracer.step(ROOT, q.resource.type, q.resource.id, q.permission, MEMBER, async () => {
          const m = await checker.check(q.resource, q.permission);
          answers.set(i, m);
          return { m };
        });
      } catch {
        // The trace shows how far the evaluation got; the call's deadline or cancellation ends it.
        options.reader.signal?.throwIfAborted();
      }
    }
    const build = new Build(options.schema, first.subject, first.context);
    const roots = build.nodes(tracer.frames(), bulk && indexes.length > 1);
    for (const i of indexes) {
      const { resource, permission } = queries[i];
      let root = roots.find((n) => n.ids.includes(resource.id));
      if (!root) {
        // No sub-problem recorded (the check is of the subject itself): the check alone.
        const m = answers.get(i);
        if (!m) continue;
        const kind = options.schema.definitions.get(resource.type)?.relations.get(permission)?.kind ?? 'permission';
        root = {
          type: resource.type,
          relation: permission,
          kind,
          ids: [resource.id],
          results: [m],
          requireAll: false,
          ms: 0,
          children: [],
        };
      }
      traces[i] = build.trace(bulk ? wrapper(root, resource.id, options.schema, queries[i].context) : root);
    }
  }
  return traces;
}

/**
 * A bulk item's trace: a node of its own resource over the batch it was evaluated in, as SpiceDB's
 * CheckBulkPermissions wraps each item's part of a batched dispatch. Its result is the item's
 * answer, caveats evaluated (so it has no caveat evaluation of its own).
 */
function wrapper(batch: Node, id: string, schema: CompiledSchema, context: Record<string, unknown> | undefined): Node {
  let m = batch.results[batch.ids.indexOf(id)];
  if (m?.kind === 'conditional' && m.expr) {
    const evaluated = caveatTrace(schema, m.expr, context);
    if (evaluated?.result === 'TRUE') m = MEMBER;
    else if (evaluated?.result === 'FALSE') m = NOT_MEMBER;
    else m = conditional(evaluated?.missingContext ?? []);
  }
  return { ...batch, ids: [id], results: [m], requireAll: false, ms: 0, children: [batch] };
}

/** One sub-problem as evaluated: a relation or permission on one object. */
interface Frame {
  site: object;
  type: string;
  id: string;
  relation: string;
  kind: 'relation' | 'permission';
  /** Reached through a caveated relationship. */
  caveatedVia: boolean;
  /** Reached through an alias, which SpiceDB dispatches as its target. */
  aliased: boolean;
  /** Undefined: its evaluation failed. */
  m: Membership | undefined;
  ms: number;
  children: Frame[];
}

/** Records sub-problems as the Checker evaluates them, one at a time, depth first. */
class Tracer implements CheckTracer {
  private readonly root: Frame = {
    site: ROOT,
    type: '',
    id: '',
    relation: '',
    kind: 'permission',
    caveatedVia: false,
    aliased: false,
    m: undefined,
    ms: 0,
    children: [],
  };
  private current = this.root;
  /** The step an alias was reached by, for the sub-problem it stands for. */
  private alias: { site: object; caveatedVia: boolean } | undefined;

  constructor(
    private readonly schema: CompiledSchema,
    private readonly subject: SubjectRef,
  ) {}

  frames(): Frame[] {
    return this.root.children;
  }

  async step<T extends { m: Membership }>(
    site: object,
    type: string,
    id: string,
    relation: string,
    via: Membership,
    run: () => Promise<T>,
  ): Promise<T> {
    const alias = this.alias;
    this.alias = undefined;
    const s = this.subject;
    // No dispatch, so no node: the subject itself (a member), a relation its type lacks (an arrow's target's).
    if (type === s.type && id === s.id && relation === s.relation) return run();
    const definition = this.schema.definitions.get(type)?.relations.get(relation);
    if (!definition) return run();
    const caveatedVia = (alias?.caveatedVia ?? false) || via.kind === 'conditional';
    if (definition.kind === 'permission' && definition.rewrite.kind === 'computed') {
      this.alias = { site: alias?.site ?? site, caveatedVia };
      try {
        return await run();
      } finally {
        this.alias = undefined;
      }
    }
    const frame: Frame = {
      site: alias?.site ?? site,
      type,
      id,
      relation,
      kind: definition.kind,
      caveatedVia,
      aliased: alias !== undefined,
      m: undefined,
      ms: 0,
      children: [],
    };
    const parent = this.current;
    parent.children.push(frame);
    this.current = frame;
    const started = performance.now();
    try {
      const e = await run();
      frame.m = e.m;
      return e;
    } finally {
      frame.ms = performance.now() - started;
      this.current = parent;
    }
  }
}

/** Frames of one batch merged: a node of the trace, before it is put in the API's terms. */
interface Node {
  type: string;
  relation: string;
  kind: 'relation' | 'permission';
  ids: string[];
  /** Each id's membership (undefined: its evaluation failed). */
  results: (Membership | undefined)[];
  /** Dispatched requiring every id's answer (REQUIRE_ALL_RESULTS): differing answers are UNSPECIFIED. */
  requireAll: boolean;
  ms: number;
  children: Node[];
}

/** Turns frames into the trace. */
class Build {
  private readonly siteIds = new Map<object, number>();
  private readonly strict: WeakSet<object>;
  /** Nodes already put in the library's terms: a batch several bulk items share is one trace, ids and all. */
  private readonly traced = new Map<Node, CheckTraceNode>();

  constructor(
    private readonly schema: CompiledSchema,
    private readonly subject: SubjectRef,
    private readonly context: Record<string, unknown> | undefined,
  ) {
    this.strict = strictSites(schema);
  }

  /**
   * Sibling frames of the same step and relation merged into batches, recursively. `requireAll`:
   * the parent was dispatched requiring every answer, for several ids.
   */
  nodes(frames: readonly Frame[], requireAll: boolean): Node[] {
    const batches = new Map<string, Frame[]>();
    for (const f of frames) {
      const key = `${this.siteId(f.site)}\u0000${f.type}#${f.relation}`;
      const batch = batches.get(key);
      if (batch) batch.push(f);
      else batches.set(key, [f]);
    }
    const nodes: Node[] = [];
    for (const batch of batches.values()) {
      const { site, type, relation, kind } = batch[0];
      const ids: string[] = [];
      const results: (Membership | undefined)[] = [];
      const at = new Map<string, number>();
      let ms = 0;
      for (const f of batch) {
        ms += f.ms;
        const i = at.get(f.id);
        if (i === undefined) {
          at.set(f.id, ids.length);
          ids.push(f.id);
          results.push(f.m);
        } else results[i] ??= f.m;
      }
      const required =
        requireAll ||
        this.strict.has(site) ||
        batch.some((f) => f.aliased) ||
        (site === SUBJECT_SETS && batch.some((f) => f.caveatedVia));
      const children = this.nodes(
        batch.flatMap((f) => f.children),
        required && ids.length > 1,
      );
      nodes.push({ type, relation, kind, ids, results, requireAll: required, ms, children });
    }
    return nodes;
  }

  /** A node in the library's terms, as SpiceDB's ConvertCheckDispatchDebugInformation puts its trace. */
  trace(n: Node): CheckTraceNode {
    const done = this.traced.get(n);
    if (done) return done;
    let permissionship: Permissionship = 'NO_PERMISSION';
    const conditionals: Extract<Membership, { kind: 'conditional' }>[] = [];
    for (const m of n.results) {
      if (m?.kind === 'member') {
        permissionship = 'HAS_PERMISSION';
        break;
      }
      if (m?.kind === 'conditional') {
        permissionship = 'CONDITIONAL_PERMISSION';
        conditionals.push(m);
      }
    }
    const kinds = new Set(n.results.map((m) => m?.kind ?? 'not-member'));
    const failed = n.results.every((m) => m === undefined);
    const result = failed || (n.ids.length > 1 && n.requireAll && kinds.size > 1) ? 'UNSPECIFIED' : permissionship;
    const expr = conditionals.length === 1 ? conditionals[0].expr : undefined;
    const caveat =
      permissionship === 'CONDITIONAL_PERMISSION' && expr ? caveatTrace(this.schema, expr, this.context) : undefined;
    const node: CheckTraceNode = {
      resourceType: n.type,
      resourceIds: n.ids,
      permission: n.relation,
      permissionType: n.kind,
      subject: this.subject,
      result,
      cached: false,
      subProblems: n.children.map((c) => this.trace(c)),
      durationMs: n.ms,
      traceId: globalThis.crypto.randomUUID(),
      source: SOURCE,
    };
    if (caveat) node.caveat = caveat;
    this.traced.set(n, node);
    return node;
  }

  private siteId(site: object): number {
    let id = this.siteIds.get(site);
    if (id === undefined) this.siteIds.set(site, (id = this.siteIds.size));
    return id;
  }
}

const strictSitesBySchema = new WeakMap<CompiledSchema, WeakSet<object>>();

/**
 * The computed usersets and arrows under an intersection or exclusion, and `.all()` arrows: SpiceDB
 * dispatches them requiring every object's answer.
 */
function strictSites(schema: CompiledSchema): WeakSet<object> {
  let sites = strictSitesBySchema.get(schema);
  if (!sites) {
    const found = (sites = new WeakSet<object>());
    const visit = (rw: Rewrite, strict: boolean): void => {
      switch (rw.kind) {
        case 'union':
          for (const c of rw.children) visit(c, strict);
          return;
        case 'intersection':
          for (const c of rw.children) visit(c, true);
          return;
        case 'exclusion':
          visit(rw.base, true);
          visit(rw.subtract, true);
          return;
        case 'tupleToUserset':
          // `.all()` needs every object's answer itself.
          if (strict || rw.mode === 'all') found.add(rw);
          return;
        default:
          if (strict) found.add(rw);
      }
    };
    for (const d of schema.definitions.values()) for (const r of d.relations.values()) visit(r.rewrite, false);
    strictSitesBySchema.set(schema, sites);
  }
  return sites;
}

/** One caveat of an expression, evaluated. */
interface Leaf {
  name: string;
  expression: string;
  /** Its declared parameters' values in the merged context. */
  values: Record<string, unknown>;
  result: Evaluated;
}

type Evaluated = { kind: 'true' } | { kind: 'false' } | { kind: 'missing'; missing: readonly string[] };

/**
 * A caveat expression evaluated under the request's context, each caveat with its relationship's
 * context merged over it (SpiceDB's CaveatEvalInfo). Undefined when a caveat fails to evaluate
 * (the check itself reports that error).
 */
export function caveatTrace(
  schema: CompiledSchema,
  expr: CaveatExpr,
  context: Record<string, unknown> | undefined,
): CaveatTrace | undefined {
  const leaves = new Map<CaveatExpr, Leaf>();
  try {
    collect(schema, expr, context, leaves);
  } catch {
    return undefined;
  }
  const result = evaluated(expr, leaves);
  const trace: CaveatTrace = {
    expression: '',
    result: result.kind === 'true' ? 'TRUE' : result.kind === 'false' ? 'FALSE' : 'MISSING_SOME_CONTEXT',
    context: {},
    caveatName: expr.op === 'caveat' ? expr.name : '',
  };
  if (result.kind === 'missing') trace.missingContext = [...result.missing];
  if (expr.op === 'caveat') {
    const leaf = leaves.get(expr)!;
    trace.expression = leaf.expression;
    trace.context = { ...leaf.values };
    return trace;
  }
  // A parameter name several caveats give values to is renamed `name__i` (i: the caveat's place among them).
  const users = new Map<string, Leaf[]>();
  for (const leaf of leaves.values()) {
    for (const p of Object.keys(leaf.values)) {
      const list = users.get(p);
      if (list) list.push(leaf);
      else users.set(p, [leaf]);
    }
  }
  const text = (e: CaveatExpr): string => {
    switch (e.op) {
      case 'caveat': {
        const leaf = leaves.get(e)!;
        const renames = new Map<string, string>();
        for (const [p, value] of Object.entries(leaf.values)) {
          const list = users.get(p)!;
          const name = list.length > 1 ? `${p}__${list.indexOf(leaf)}` : p;
          if (name !== p) renames.set(p, name);
          trace.context[name] = value;
        }
        return `(${renames.size ? renamed(leaf.expression, renames) : leaf.expression})`;
      }
      case 'not':
        return `(!${text(e.child)})`;
      default:
        return `(${e.children.map(text).join(e.op === 'and' ? ' && ' : ' || ')})`;
    }
  };
  // The outermost operation is not parenthesised.
  trace.expression =
    expr.op === 'not' ? `!${text(expr.child)}` : expr.children.map(text).join(expr.op === 'and' ? ' && ' : ' || ');
  return trace;
}

function collect(
  schema: CompiledSchema,
  e: CaveatExpr,
  context: Record<string, unknown> | undefined,
  leaves: Map<CaveatExpr, Leaf>,
): void {
  if (e.op === 'not') return collect(schema, e.child, context, leaves);
  if (e.op !== 'caveat') {
    for (const c of e.children) collect(schema, c, context, leaves);
    return;
  }
  const def = schema.caveats.get(e.name);
  if (!def) throw new Error(`no caveat ${e.name}`);
  const merged = mergeContext(e.context as Record<string, unknown> | undefined, context);
  const values: Record<string, unknown> = {};
  for (const p of def.parameters.keys()) if (Object.hasOwn(merged, p) && merged[p] !== undefined) values[p] = merged[p];
  leaves.set(e, {
    name: e.name,
    expression: expressionText(def.expression),
    values,
    result: evaluateCaveat(compileCaveat(def), merged),
  });
}

/** Kleene's logic over the caveats' verdicts; missing parameters are gathered without repeats. */
function evaluated(e: CaveatExpr, leaves: Map<CaveatExpr, Leaf>): Evaluated {
  switch (e.op) {
    case 'caveat':
      return leaves.get(e)!.result;
    case 'not': {
      const r = evaluated(e.child, leaves);
      return r.kind === 'true' ? { kind: 'false' } : r.kind === 'false' ? { kind: 'true' } : r;
    }
    default: {
      const [a, b] = e.children.map((c) => evaluated(c, leaves));
      const decisive = e.op === 'and' ? 'false' : 'true';
      if (a.kind === decisive || b.kind === decisive) return { kind: decisive };
      if (a.kind === 'missing' || b.kind === 'missing') {
        const missing = new Set([
          ...(a.kind === 'missing' ? a.missing : []),
          ...(b.kind === 'missing' ? b.missing : []),
        ]);
        return { kind: 'missing', missing: [...missing] };
      }
      return a;
    }
  }
}

const expressionTexts = new Map<string, string>();

/** A caveat's expression as cel-go prints it (SpiceDB's ExprString): its source, reformatted. */
function expressionText(source: string): string {
  let text = expressionTexts.get(source);
  if (text === undefined) {
    try {
      text = unparse(parse(source));
    } catch {
      text = source;
    }
    if (expressionTexts.size > 1000) expressionTexts.clear();
    expressionTexts.set(source, text);
  }
  return text;
}

/** `expression` with the identifiers `renames` names renamed. */
function renamed(expression: string, renames: ReadonlyMap<string, string>): string {
  const parsed = parse(expression);
  const seen = new Set<object>();
  const visit = (node: unknown): void => {
    if (typeof node !== 'object' || node === null || seen.has(node) || node instanceof Uint8Array) return;
    seen.add(node);
    const kind = (node as { exprKind?: { case?: string; value?: { name?: string } } }).exprKind;
    if (kind?.case === 'identExpr' && kind.value?.name !== undefined) {
      const name = renames.get(kind.value.name);
      if (name) kind.value.name = name;
    }
    for (const v of Object.values(node)) visit(v);
  };
  visit(parsed);
  return unparse(parsed);
}
