/**
 * `pemba permission check|expand|lookup-resources|lookup-subjects`, in the shape of zed's commands:
 *
 *   pemba permission check document:1 view user:alice --caveat-context '{"ip":"10.0.0.1"}'
 *   pemba permission expand view document:1
 *   pemba permission lookup-resources document view user:alice
 *   pemba permission lookup-subjects document:1 view user
 */
import { v1 } from '@authzed/authzed-node';
import type { Command } from 'commander';
import { Option } from 'commander';
import { addClientOptions } from '../client-options.js';
import type { ClientOptions } from '../client-options.js';
import {
  addConsistencyOptions,
  addJsonOption,
  clientAction,
  clientCommand,
  consistencyFrom,
  consoleIO,
  jsonLine,
  objectText,
  pagedResponses,
  parseContext,
  parseObjectArg,
  parsePositiveInt,
  parseSubjectArg,
  parseSubjectType,
  prettyJson,
  subjectText,
  UsageError,
} from './common.js';
import type { ClientIO, ConsistencyOptions, JsonOption } from './common.js';

interface CaveatContextOption {
  caveatContext?: string;
}

const context = (options: CaveatContextOption) =>
  options.caveatContext === undefined ? undefined : parseContext(options.caveatContext, '--caveat-context');

/** A tree as zed prints it: the root, then `├── `/`└── ` branches. */
export interface TreeNode {
  label: string;
  children: TreeNode[];
}

export function renderTree(node: TreeNode): string[] {
  const lines = [node.label];
  node.children.forEach((child, i) => {
    const last = i === node.children.length - 1;
    const [first, ...rest] = renderTree(child);
    lines.push(`${last ? '└── ' : '├── '}${first}`);
    for (const line of rest) lines.push(`${last ? '    ' : '│   '}${line}`);
  });
  return lines;
}

export interface PermissionCheckOptions extends ClientOptions, JsonOption, ConsistencyOptions, CaveatContextOption {
  explain?: boolean;
  errorOnNoPermission?: boolean;
}

/** authzed.api.v1.CheckDebugTrace (authzed-node does not export its types). */
type CheckDebugTrace = NonNullable<NonNullable<v1.CheckPermissionResponse['debugTrace']>['check']>;
// CheckDebugTrace.Permissionship and .PermissionType, by number.
const TRACE_HAS_PERMISSION = 2;
const TRACE_RESULT = ['?', '⨉', '✓', '?'];
const TRACE_RELATION = 1;

export function traceTree(trace: CheckDebugTrace): TreeNode {
  const kind = trace.permissionType === TRACE_RELATION ? 'relation' : 'permission';
  let label = `${TRACE_RESULT[trace.result] ?? '?'} ${objectText(trace.resource)} ${trace.permission} (${kind})`;
  if (trace.resolution.oneofKind === 'wasCachedResult' && trace.resolution.wasCachedResult) label += ' (cached)';
  const caveat = trace.caveatEvaluationInfo;
  if (caveat?.caveatName) label += ` [caveat ${caveat.caveatName}]`;
  const children =
    trace.resolution.oneofKind === 'subProblems' ? trace.resolution.subProblems.traces.map(traceTree) : [];
  if (children.length === 0 && trace.result === TRACE_HAS_PERMISSION)
    children.push({ label: subjectText(trace.subject), children: [] });
  return { label, children };
}

/**
 * `pemba permission check`: prints `true`, `false` or `caveated` (the missing context on stderr).
 * Exit 0 whatever the answer, unless --error-on-no-permission (then 1 unless it is `true`).
 */
export const permissionCheck = clientCommand(
  (args: string[], options: PermissionCheckOptions) => {
    if (args.length !== 3)
      throw new UsageError(`expected <resource:id> <permission> <subject:id>, got ${args.length} arguments`);
    return v1.CheckPermissionRequest.create({
      resource: parseObjectArg(args[0]),
      permission: args[1],
      subject: parseSubjectArg(args[2]),
      context: context(options),
      consistency: consistencyFrom(options),
      withTracing: options.explain === true,
    });
  },
  async (client, request, options, io) => {
    const response = await client.promises.checkPermission(request);
    if (options.json) {
      io.out(prettyJson(v1.CheckPermissionResponse, response));
    } else {
      switch (response.permissionship) {
        case v1.CheckPermissionResponse_Permissionship.HAS_PERMISSION:
          io.out('true');
          break;
        case v1.CheckPermissionResponse_Permissionship.NO_PERMISSION:
          io.out('false');
          break;
        case v1.CheckPermissionResponse_Permissionship.CONDITIONAL_PERMISSION:
          io.out('caveated');
          io.err(
            `missing caveat context: ${response.partialCaveatInfo?.missingRequiredContext.join(', ') || '(unknown)'} (give it with --caveat-context)`,
          );
          break;
        default:
          throw new Error(`unknown permissionship ${response.permissionship}`);
      }
    }
    if (options.explain) {
      const trace = response.debugTrace?.check;
      if (trace) for (const line of renderTree(traceTree(trace))) io.out(line);
      else io.err('the server returned no debug trace for this check');
    }
    if (
      options.errorOnNoPermission &&
      response.permissionship !== v1.CheckPermissionResponse_Permissionship.HAS_PERMISSION
    )
      return 1;
  },
);

export type PermissionExpandOptions = ClientOptions & JsonOption & ConsistencyOptions;

const OPERATIONS: Record<v1.AlgebraicSubjectSet_Operation, string> = {
  [v1.AlgebraicSubjectSet_Operation.UNSPECIFIED]: 'unspecified',
  [v1.AlgebraicSubjectSet_Operation.UNION]: 'union',
  [v1.AlgebraicSubjectSet_Operation.INTERSECTION]: 'intersection',
  [v1.AlgebraicSubjectSet_Operation.EXCLUSION]: 'exclusion',
};

/** zed's expand tree: `document:1->view`, then `union`/`intersection`/`exclusion` and the subjects. */
function expandTree(node: v1.PermissionRelationshipTree): TreeNode[] {
  let children: TreeNode[];
  const t = node.treeType;
  if (t.oneofKind === 'intermediate') {
    children = [{ label: OPERATIONS[t.intermediate.operation], children: t.intermediate.children.flatMap(expandTree) }];
  } else if (t.oneofKind === 'leaf') {
    children = t.leaf.subjects.map((s) => ({
      label: `${objectText(s.object)}${s.optionalRelation ? `->${s.optionalRelation}` : ''}`,
      children: [],
    }));
  } else children = [];
  if (!node.expandedObject) return children;
  return [{ label: `${objectText(node.expandedObject)}->${node.expandedRelation}`, children }];
}

/** `pemba permission expand <permission> <resource:id>`: the permission's tree (ExpandPermissionTree). */
export const permissionExpand = clientCommand(
  (args: string[], options: PermissionExpandOptions) => {
    if (args.length !== 2) throw new UsageError(`expected <permission> <resource:id>, got ${args.length} arguments`);
    return v1.ExpandPermissionTreeRequest.create({
      permission: args[0],
      resource: parseObjectArg(args[1]),
      consistency: consistencyFrom(options),
    });
  },
  async (client, request, options, io) => {
    const response = await client.promises.expandPermissionTree(request);
    if (options.json) {
      io.out(prettyJson(v1.ExpandPermissionTreeResponse, response));
      return;
    }
    if (!response.treeRoot) return;
    for (const root of expandTree(response.treeRoot)) for (const line of renderTree(root)) io.out(line);
  },
);

function prettyLookup(id: string, permissionship: v1.LookupPermissionship, info?: v1.PartialCaveatInfo): string {
  return permissionship === v1.LookupPermissionship.CONDITIONAL_PERMISSION
    ? `${id} (caveated, missing context: ${info?.missingRequiredContext.join(', ') ?? ''})`
    : id;
}

export interface LookupResourcesOptions extends ClientOptions, JsonOption, ConsistencyOptions, CaveatContextOption {
  pageLimit?: string | number;
  cursor?: string;
}

/** `pemba permission lookup-resources <type> <permission> <subject:id>`: one resource id per line. */
export const permissionLookupResources = clientCommand(
  (args: string[], options: LookupResourcesOptions) => {
    if (args.length !== 3)
      throw new UsageError(`expected <resource_type> <permission> <subject:id>, got ${args.length} arguments`);
    return {
      request: v1.LookupResourcesRequest.create({
        resourceObjectType: args[0],
        permission: args[1],
        subject: parseSubjectArg(args[2]),
        context: context(options),
        consistency: consistencyFrom(options),
      }),
      pageLimit: parsePositiveInt(options.pageLimit ?? 0, '--page-limit', true),
    };
  },
  async (client, { request, pageLimit }, options, io) => {
    const responses = pagedResponses(
      pageLimit,
      { consistency: request.consistency, cursor: options.cursor ? { token: options.cursor } : undefined },
      (r: v1.LookupResourcesResponse) => r.lookedUpAt?.token,
      (consistency, cursor) =>
        client.lookupResources({ ...request, optionalLimit: pageLimit, optionalCursor: cursor, consistency }),
    );
    for await (const r of responses) {
      io.out(
        options.json
          ? jsonLine(v1.LookupResourcesResponse, r)
          : prettyLookup(r.resourceObjectId, r.permissionship, r.partialCaveatInfo),
      );
    }
  },
);

export type LookupSubjectsOptions = ClientOptions & JsonOption & ConsistencyOptions & CaveatContextOption;

/**
 * `pemba permission lookup-subjects <resource:id> <permission> <subject_type[#relation]>`: one
 * subject per line, `user:alice`; a wildcard lists the subjects it excludes, as zed prints them.
 */
export const permissionLookupSubjects = clientCommand(
  (args: string[], options: LookupSubjectsOptions) => {
    if (args.length !== 3)
      throw new UsageError(
        `expected <resource:id> <permission> <subject_type[#relation]>, got ${args.length} arguments`,
      );
    const subject = parseSubjectType(args[2]);
    return v1.LookupSubjectsRequest.create({
      resource: parseObjectArg(args[0]),
      permission: args[1],
      subjectObjectType: subject.type,
      optionalSubjectRelation: subject.relation,
      context: context(options),
      consistency: consistencyFrom(options),
    });
  },
  async (client, request, options, io) => {
    const call = client.lookupSubjects(request);
    for await (const r of call as AsyncIterable<v1.LookupSubjectsResponse>) {
      if (options.json) {
        io.out(jsonLine(v1.LookupSubjectsResponse, r));
        continue;
      }
      const s = r.subject!;
      const excluded =
        r.excludedSubjects.length === 0
          ? ''
          : ` - {\n${r.excludedSubjects.map((e) => `\t${prettyLookup(e.subjectObjectId, e.permissionship, e.partialCaveatInfo)}\n`).join('')}}`;
      io.out(
        `${request.subjectObjectType}:${prettyLookup(s.subjectObjectId, s.permissionship, s.partialCaveatInfo)}${excluded}`,
      );
    }
  },
);

export function registerPermission(program: Command, io: ClientIO = consoleIO): Command {
  const permission = program
    .command('permission')
    .description('ask a running server about permissions: check, expand, lookup-resources, lookup-subjects');

  const withCaveatContext = (command: Command) =>
    command.addOption(
      new Option(
        '--caveat-context <json>',
        'the caveat context to send along, in JSON form (e.g. \'{"ip":"10.0.0.1"}\')',
      ),
    );

  const check = permission
    .command('check')
    .argument('<resource>', 'resource:id (e.g. document:readme)')
    .argument('<permission>', 'the permission or relation (e.g. view)')
    .argument('<subject>', 'subject:id or subject:id#relation (e.g. user:alice)')
    .description('check whether a subject has a permission: prints true, false or caveated (CheckPermission)');
  withCaveatContext(check)
    .addOption(new Option('--explain', "print the server's trace of the check (when it sends one)"))
    .addOption(new Option('--error-on-no-permission', 'exit 1 unless the subject has the permission unconditionally'));
  addJsonOption(check, 'print the CheckPermissionResponse as JSON');
  addConsistencyOptions(check);
  addClientOptions(check).addHelpText(
    'after',
    `
Examples:
  pemba permission check document:readme view user:alice --insecure --token somerandomkeyhere
  pemba permission check document:readme view user:alice --caveat-context '{"ip":"10.0.0.1"}'
  pemba permission check document:readme view user:alice --consistency-at-least GgYKBDEyMzQ=`,
  );
  clientAction(check, permissionCheck, io);

  const expand = permission
    .command('expand')
    .argument('<permission>', 'the permission or relation (e.g. view)')
    .argument('<resource>', 'resource:id (e.g. document:readme)')
    .description('print the tree of subjects a permission is made of (ExpandPermissionTree)');
  addJsonOption(expand, 'print the ExpandPermissionTreeResponse as JSON');
  addConsistencyOptions(expand);
  clientAction(addClientOptions(expand), permissionExpand, io);

  const lookupResources = permission
    .command('lookup-resources')
    .argument('<type>', 'the resource type (e.g. document)')
    .argument('<permission>', 'the permission (e.g. view)')
    .argument('<subject>', 'subject:id or subject:id#relation (e.g. user:alice)')
    .description('list the resources of a type on which a subject has a permission (LookupResources)');
  withCaveatContext(lookupResources)
    .addOption(new Option('--page-limit <n>', 'resources per LookupResources call (0: one unpaged call)').default('0'))
    .addOption(new Option('--cursor <cursor>', 'resume after this cursor (from a --json result)'));
  addJsonOption(lookupResources, 'print each LookupResourcesResponse as one line of JSON');
  addConsistencyOptions(lookupResources);
  clientAction(addClientOptions(lookupResources), permissionLookupResources, io);

  const lookupSubjects = permission
    .command('lookup-subjects')
    .argument('<resource>', 'resource:id (e.g. document:readme)')
    .argument('<permission>', 'the permission (e.g. view)')
    .argument('<subject_type>', 'the subject type, optionally with a relation (e.g. user, group#member)')
    .description('list the subjects of a type that have a permission on a resource (LookupSubjects)');
  withCaveatContext(lookupSubjects);
  addJsonOption(lookupSubjects, 'print each LookupSubjectsResponse as one line of JSON');
  addConsistencyOptions(lookupSubjects);
  clientAction(addClientOptions(lookupSubjects), permissionLookupSubjects, io);
  return permission;
}
