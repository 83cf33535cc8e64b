/**
 * Expand: the permission tree SpiceDB returns. Rewrites are expanded (computed usersets and arrows
 * are followed), while subject sets found in stored relationships are left as leaves for the caller
 * to expand further.
 *
 * A userset reached twice (a folder under many parents) is expanded once and shared in the tree, as
 * SpiceDB's dispatch cache shares it. Sharing does not shrink the answer, though: serialized, the
 * tree repeats the subtree wherever it appears, and on a hierarchy where every folder has many parents
 * that grows exponentially with depth. So the answer's size, counted as it will be sent (nodes plus
 * the subjects leaves list, a shared subtree at every place it appears), is bounded: past the bound
 * Expand fails with RESOURCE_EXHAUSTED after building at most that many entries.
 */
import { maxDepthExceeded, resourceExhausted } from '../errors/index.js';
import type { CompiledSchema, Rewrite, ArrowRewrite } from '../schema/ir.js';
import { ELLIPSIS } from '../schema/ir.js';
import type { ObjectRef, SubjectRef } from '../relationships/relationship.js';
import type { ExpandTree } from '../requests/requests.js';
import type { RequestReader } from './request-reader.js';

/** About what a client's default 4 MiB message limit can receive. */
export const DEFAULT_MAX_EXPAND_SIZE = 100_000;

/** A subtree, its size as sent, and how many dispatch levels below its root it reaches. */
interface Subtree {
  tree: ExpandTree;
  size: number;
  height: number;
}

type Tupleset = ArrowRewrite;

const OPERATORS: ReadonlySet<Rewrite['kind']> = new Set(['union', 'intersection', 'exclusion']);

export async function expand(
  schema: CompiledSchema,
  reader: RequestReader,
  resource: ObjectRef,
  relation: string,
  maxDepth: number,
  maxSize = DEFAULT_MAX_EXPAND_SIZE,
): Promise<ExpandTree> {
  return (
    await new Expander(schema, reader, maxDepth, maxSize, `${resource.type}:${resource.id}#${relation}`).userset(
      resource,
      relation,
      0,
    )
  ).tree;
}

class Expander {
  /** Usersets expanded in this request. */
  private readonly expanded = new Map<string, Subtree>();
  /** Size of the answer so far: it only grows, and ends as the root's size. */
  private size = 0;

  constructor(
    private readonly schema: CompiledSchema,
    private readonly reader: RequestReader,
    private readonly maxDepth: number,
    private readonly maxSize: number,
    private readonly root: string,
  ) {}

  async userset(object: ObjectRef, relation: string, depth: number): Promise<Subtree> {
    if (depth > this.maxDepth)
      throw maxDepthExceeded(`expand of ${object.type}:${object.id}#${relation}`, this.maxDepth);
    if (this.reader.due()) await this.reader.pause();
    const key = `${object.type}:${object.id}#${relation}`;
    const known = this.expanded.get(key);
    // Shared only where all of it fits under the depth limit, so the answer (or error) is as if expanded again.
    if (known && depth + known.height <= this.maxDepth) {
      this.grow(known.size);
      return known;
    }
    const definition = this.schema.definitions.get(object.type)?.relations.get(relation);
    let subtree = definition
      ? await this.rewrite(definition.rewrite, object, relation, depth)
      : this.leaf(object, relation, []);
    // SpiceDB compiles a permission of one operand (`= viewer`, `= parent->view`, `= nil`) to a union of it.
    if (definition?.kind === 'permission' && !OPERATORS.has(definition.rewrite.kind))
      subtree = this.intermediate('union', object, relation, [subtree], 0);
    this.expanded.set(key, subtree);
    return subtree;
  }

  private async rewrite(rw: Rewrite, object: ObjectRef, relation: string, depth: number): Promise<Subtree> {
    switch (rw.kind) {
      case 'nil':
        return this.leaf(object, relation, []);
      case 'self':
        // As SpiceDB's: a leaf of the expanded userset holding the object itself.
        return this.leaf(object, relation, [{ type: object.type, id: object.id, relation: ELLIPSIS }]);
      case 'this':
        return this.leaf(
          object,
          relation,
          (await this.reader.byResource(object.type, [object.id], relation)).map((r) => r.subject),
        );
      case 'computed': {
        const child = await this.userset(object, rw.relation, depth + 1);
        return { ...child, height: child.height + 1 };
      }
      case 'tupleToUserset':
        return this.arrow(rw, object, relation, depth);
      case 'union':
      case 'intersection': {
        const children: Subtree[] = [];
        for (const c of rw.children) children.push(await this.rewrite(c, object, relation, depth));
        return this.intermediate(rw.kind, object, relation, children, 0);
      }
      case 'exclusion': {
        const base = await this.rewrite(rw.base, object, relation, depth);
        const subtract = await this.rewrite(rw.subtract, object, relation, depth);
        return this.intermediate('exclusion', object, relation, [base, subtract], 0);
      }
    }
  }

  private async arrow(rw: Tupleset, object: ObjectRef, relation: string, depth: number): Promise<Subtree> {
    const rels = await this.reader.byResource(object.type, [object.id], rw.tupleset);
    const children: Subtree[] = [];
    // One child per relationship, as SpiceDB's: `d#banned@d3#banned` and `d#banned@d3#folder` both reach d3.
    for (const r of rels) {
      // SpiceDB answers for an object without the arrow's target relation with an empty leaf.
      if (!this.schema.definitions.get(r.subject.type)?.relations.has(rw.computed)) {
        children.push(this.leaf(object, relation, []));
        continue;
      }
      children.push(await this.userset({ type: r.subject.type, id: r.subject.id }, rw.computed, depth + 1));
    }
    return this.intermediate(rw.mode === 'all' ? 'intersection' : 'union', object, relation, children, 1);
  }

  private leaf(object: ObjectRef, relation: string, subjects: SubjectRef[]): Subtree {
    const size = 1 + subjects.length;
    this.grow(size);
    return { tree: { kind: 'leaf', subjects, expandedObject: object, expandedRelation: relation }, size, height: 0 };
  }

  /** `step`: 1 when the children are dispatches to other objects (an arrow's), 0 for a rewrite's operands. */
  private intermediate(
    operation: 'union' | 'intersection' | 'exclusion',
    object: ObjectRef,
    relation: string,
    children: Subtree[],
    step: number,
  ): Subtree {
    this.grow(1);
    let size = 1;
    let height = 0;
    for (const c of children) {
      size += c.size;
      height = Math.max(height, c.height + step);
    }
    const tree: ExpandTree = {
      kind: 'intermediate',
      operation,
      children: children.map((c) => c.tree),
      expandedObject: object,
      expandedRelation: relation,
    };
    return { tree, size, height };
  }

  private grow(size: number): void {
    this.size += size;
    if (this.size > this.maxSize) {
      throw resourceExhausted(
        `expand of ${this.root}: the permission tree has more than ${this.maxSize} nodes and subjects; expand a narrower relation, or list subjects with LookupSubjects`,
        undefined,
        { max_size: String(this.maxSize) },
      );
    }
  }
}
