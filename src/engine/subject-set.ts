/**
 * Sets of subject ids that may include a wildcard: `concrete` ids, plus — when `wildcard` is set —
 * every id except those it excludes. The algebra LookupSubjects combines results with.
 */
export class SubjectSet {
  constructor(
    readonly concrete: Set<string> = new Set(),
    /** null: no wildcard; otherwise the ids the wildcard excludes. */
    readonly wildcard: Set<string> | null = null,
  ) {}

  static empty(): SubjectSet {
    return new SubjectSet();
  }

  has(id: string): boolean {
    return this.concrete.has(id) || (this.wildcard !== null && !this.wildcard.has(id));
  }

  isEmpty(): boolean {
    return this.concrete.size === 0 && this.wildcard === null;
  }

  union(other: SubjectSet): SubjectSet {
    const concrete = new Set([...this.concrete, ...other.concrete]);
    let wildcard: Set<string> | null = null;
    if (this.wildcard && other.wildcard) wildcard = intersect(this.wildcard, other.wildcard);
    else if (this.wildcard) wildcard = without(this.wildcard, other.concrete);
    else if (other.wildcard) wildcard = without(other.wildcard, this.concrete);
    return new SubjectSet(concrete, wildcard);
  }

  intersect(other: SubjectSet): SubjectSet {
    const concrete = new Set<string>();
    for (const id of this.concrete) if (other.has(id)) concrete.add(id);
    for (const id of other.concrete) if (this.has(id)) concrete.add(id);
    const wildcard = this.wildcard && other.wildcard ? new Set([...this.wildcard, ...other.wildcard]) : null;
    return new SubjectSet(concrete, wildcard);
  }

  subtract(other: SubjectSet): SubjectSet {
    const concrete = new Set<string>();
    for (const id of this.concrete) if (!other.has(id)) concrete.add(id);
    let wildcard: Set<string> | null = null;
    if (this.wildcard && !other.wildcard) {
      wildcard = new Set([...this.wildcard, ...other.concrete]);
    } else if (this.wildcard && other.wildcard) {
      // Everyone minus everyone leaves exactly those the right side excluded and the left did not.
      for (const id of other.wildcard) if (!this.wildcard.has(id) && !other.concrete.has(id)) concrete.add(id);
    }
    return new SubjectSet(concrete, wildcard);
  }
}

function intersect(a: Set<string>, b: Set<string>): Set<string> {
  const out = new Set<string>();
  for (const x of a) if (b.has(x)) out.add(x);
  return out;
}

function without(a: Set<string>, b: Set<string>): Set<string> {
  const out = new Set<string>();
  for (const x of a) if (!b.has(x)) out.add(x);
  return out;
}
