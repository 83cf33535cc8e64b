/**
 * Composable schemas, as `zed schema compile` (formerly `zed preview schema compile`) builds them:
 * a root file and, under `use import`, the files it imports with `import "path/file.zed"`, merged into
 * one schema. `use partial` blocks (`partial name { … }`) and their `...name` references work across
 * the files; the compiled result expands them, so it can go to WriteSchema, which refuses imports
 * (`import statements are not allowed in this context`, as SpiceDB says).
 *
 * SpiceDB's rules (pkg/schemadsl/compiler/importer.go, translator.go):
 * - a path is relative to the folder of the file that imports it, must not contain `..` and must
 *   not be absolute, so no import leaves the root file's folder (nor may a symbolic link lead out);
 * - a file imported twice (a diamond) is read once; a file that imports itself, directly or through
 *   others, is an error (`circular import detected`);
 * - every file's contents come before the contents of the file that imports it, in import order
 *   (depth first), so a definition's place in the output does not depend on where `import` stands;
 * - a name declared twice, in one file or in two, is an error; partials are shared by all files.
 *
 * Each file is parsed with its own `use` flags (a file that declares a partial says `use partial`);
 * the compiled schema takes the union (`use expiration` in any file enables it).
 *
 * Every error names the file, line and column it is about; paths inside messages (an import cycle,
 * a missing file, a first declaration) are given from the root file's folder, as imports name them.
 * Internally the files' lines are numbered apart (the root from 1, each further file after the
 * previous one's last line), so the compiler's single-text positions map back to files.
 */
import { readFileSync, realpathSync } from 'node:fs';
import { basename, dirname, isAbsolute, join, resolve, sep } from 'node:path';
import { SchemaError, schemaTooDeep } from '../errors/index.js';
import type * as AST from './ast.js';
import { compileAST } from './compiler.js';
import type { CompiledSchema, SourcePosition } from './ir.js';
import { parseSchema } from './parser.js';
import { printSchema } from './printer.js';

/** A place in one of the composed files (1-based). */
export interface SchemaFileLocation {
  path: string;
  line: number;
  column: number;
}

/** A problem with a composed schema, at the file, line and column it is about. */
export class SchemaCompositionError extends Error {
  constructor(
    /** The problem, without its place. */
    readonly detail: string,
    readonly location: SchemaFileLocation,
  ) {
    super(`${location.path}:${location.line}:${location.column}: ${detail}`);
    this.name = 'SchemaCompositionError';
  }
}

/** How composition reads files; paths are absolute. */
export interface ComposeIO {
  readFile(path: string): string;
  /** Resolves symbolic links, to keep imports inside the root folder; without it, no such check. */
  realpath?(path: string): string;
}

export const nodeComposeIO: ComposeIO = {
  readFile: (path) => readFileSync(path, 'utf8'),
  realpath: (path) => realpathSync(path),
};

export interface ComposedSchema {
  /** The root file and every file it imports, as read (paths joined onto the root's path as given). */
  files: string[];
  /** The merged syntax tree: imported files' items first. Positions are read through `locate`. */
  ast: AST.SchemaAST;
  /** Where a position of `ast` (or of an error compiling it) is. */
  locate(line: number, column: number): SchemaFileLocation;
  /** The same, with the path from the root file's folder (`sub/user.zed`), as messages give it. */
  locateFromRoot(line: number, column: number): SchemaFileLocation;
}

interface FileSpan {
  path: string;
  /** The path from the root file's folder, as imports name it; messages use it. */
  name: string;
  firstLine: number;
  lines: number;
}

const lineCount = (text: string) => text.split(/\r\n|\r|\n/).length;

/** SpiceDB's check of an import path (validateFilepath): no `..` anywhere, nothing absolute. */
function pathProblem(path: string): string | undefined {
  if (path.includes('..')) {
    return `path ${path} contains '..'; paths must stay within their directory and this is likely an error`;
  }
  if (isAbsolute(path) || /^[a-zA-Z]:[\\/]/.test(path) || path.startsWith('\\')) {
    return `import path ${path} does not stay within its folder`;
  }
  return undefined;
}

function readProblem(error: unknown): string {
  const code = (error as NodeJS.ErrnoException).code;
  if (code === 'ENOENT') return 'no such file or directory';
  if (code === 'EISDIR') return 'is a directory';
  return (error as Error).message;
}

/**
 * Reads the root schema file and, following its imports, every file it needs, into one syntax tree.
 * Throws SchemaCompositionError for a file that cannot be read, an import path that leaves the root
 * folder, an import cycle or a syntax error in any file. `rootText` spares reading the root again.
 */
export function composeSchema(rootPath: string, io: ComposeIO = nodeComposeIO, rootText?: string): ComposedSchema {
  const spans: FileSpan[] = [];
  let nextLine = 1;
  const spanOf = (line: number) =>
    spans.find((s) => line >= s.firstLine && line < s.firstLine + s.lines) ?? spans[spans.length - 1];
  const locate = (line: number, column: number): SchemaFileLocation => {
    const span = spanOf(line);
    return { path: span.path, line: line - span.firstLine + 1, column };
  };
  const locateFromRoot = (line: number, column: number): SchemaFileLocation => {
    const span = spanOf(line);
    return { path: span.name, line: line - span.firstLine + 1, column };
  };
  const fail = (detail: string, at: SourcePosition): never => {
    throw new SchemaCompositionError(detail, locate(at.line, at.column));
  };

  const parse = (path: string, name: string, text: string): AST.SchemaAST => {
    const span = { path, name, firstLine: nextLine, lines: lineCount(text) };
    spans.push(span);
    nextLine += span.lines;
    try {
      return parseSchema(text, { imports: true, firstLine: span.firstLine });
    } catch (error) {
      if (error instanceof SchemaError) return fail(bare(error), error);
      throw error;
    }
  };

  const merged: AST.SchemaAST = { uses: [], definitions: [], caveats: [], partials: [], order: [] };
  const add = (ast: AST.SchemaAST) => {
    merged.uses.push(...ast.uses);
    merged.definitions.push(...ast.definitions);
    merged.caveats.push(...ast.caveats);
    merged.partials.push(...ast.partials);
    merged.order.push(...ast.order);
  };

  const rootAbsolute = resolve(rootPath);
  let rootFolder: string | undefined;
  const insideRoot = (absolute: string): boolean => {
    if (!io.realpath) return true;
    rootFolder ??= io.realpath(dirname(rootAbsolute));
    const real = io.realpath(absolute);
    return real.startsWith(rootFolder.endsWith(sep) ? rootFolder : rootFolder + sep);
  };

  const visited = new Set<string>([rootAbsolute]);
  /** Depth first: a file's imports (and theirs) join before the file itself, each file once. */
  const visit = (
    absolute: string,
    path: string,
    name: string,
    ast: AST.SchemaAST,
    branch: string[],
    shown: string[],
  ) => {
    for (const imported of ast.imports ?? []) {
      const problem = pathProblem(imported.path);
      if (problem) fail(problem, imported.position);
      const target = resolve(dirname(absolute), imported.path);
      const targetPath = join(dirname(path), imported.path);
      const targetName = join(dirname(name), imported.path);
      const cycle = branch.indexOf(target);
      if (cycle >= 0) {
        fail(
          `circular import detected: ${targetName} has been visited on this branch (${[...shown.slice(cycle), targetName].join(' -> ')})`,
          imported.position,
        );
      }
      if (visited.has(target)) continue;
      visited.add(target);
      let text: string;
      try {
        text = io.readFile(target);
      } catch (error) {
        return fail(
          `failed to read import in schema file ${JSON.stringify(targetName)}: ${readProblem(error)}`,
          imported.position,
        );
      }
      if (!insideRoot(target)) {
        fail(
          `import path ${imported.path} does not stay within its folder: it leads outside ${dirname(rootPath) || '.'}`,
          imported.position,
        );
      }
      visit(
        target,
        targetPath,
        targetName,
        parse(targetPath, targetName, text),
        [...branch, target],
        [...shown, targetName],
      );
    }
    add(ast);
  };

  let text = rootText;
  if (text === undefined) {
    try {
      text = io.readFile(rootAbsolute);
    } catch (error) {
      throw new SchemaCompositionError(`failed to read schema file: ${readProblem(error)}`, {
        path: rootPath,
        line: 1,
        column: 1,
      });
    }
  }
  const rootName = basename(rootPath);
  visit(rootAbsolute, rootPath, rootName, parse(rootPath, rootName, text), [rootAbsolute], [rootName]);
  return { files: spans.map((s) => s.path), ast: merged, locate, locateFromRoot };
}

/**
 * Compiles a composed schema, as WriteSchema would compile its text. Throws SchemaCompositionError
 * at the file, line and column of the first error; a name declared twice also says where it was
 * declared first.
 */
export function compileComposed(composed: ComposedSchema): CompiledSchema {
  try {
    return compileAST(composed.ast);
  } catch (error) {
    if (error instanceof SchemaError) {
      let detail = bare(error);
      const first = detail.startsWith('found name reused') ? firstDeclaration(composed, error) : undefined;
      if (first) detail += ` (first declared at ${first.path}:${first.line}:${first.column})`;
      throw new SchemaCompositionError(detail, composed.locate(error.line, error.column));
    }
    if (error instanceof RangeError) throw schemaTooDeep(error.message);
    throw error;
  }
}

/** Composes, compiles and prints: the single schema `pemba schema compile` writes. */
export function compileSchemaFile(
  rootPath: string,
  io: ComposeIO = nodeComposeIO,
  rootText?: string,
): { composed: ComposedSchema; compiled: CompiledSchema; text: string } {
  const composed = composeSchema(rootPath, io, rootText);
  const compiled = compileComposed(composed);
  return { composed, compiled, text: printSchema(compiled) };
}

/** A SchemaError's message without the ` (line L, column C)` SchemaError appends. */
function bare(error: SchemaError): string {
  return error.message.replace(/ \(line \d+, column \d+\)$/, '');
}

/** For a repeated name: where its first declaration is (the error is at a later one). */
function firstDeclaration(composed: ComposedSchema, error: SchemaError): SchemaFileLocation | undefined {
  const name = error.source;
  const first = composed.ast.order.find((item) => item.kind !== 'partial' && item.name === name);
  if (!first || (first.namePosition.line === error.line && first.namePosition.column === error.column)) {
    return undefined;
  }
  return composed.locateFromRoot(first.namePosition.line, first.namePosition.column);
}
