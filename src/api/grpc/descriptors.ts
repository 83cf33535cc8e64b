/**
 * google.protobuf.FileDescriptorProto for server reflection, synthesised from the protobuf-ts
 * reflection info of the services' message types (authzed-node ships no .proto files). One file per
 * proto package; nested messages and enums are nested as in the originals; map fields get their
 * `XxxEntry` messages. Validation and HTTP options are not reproduced: clients only need the shapes.
 */
import type { EnumInfo, FieldInfo, IMessageType } from '@protobuf-ts/runtime';
import { MessageType, ScalarType } from '@protobuf-ts/runtime';
import type { ServiceDescriptor } from '../method.js';

interface FieldProto {
  name: string;
  number: number;
  label: number;
  type: number;
  typeName: string;
  jsonName: string;
  oneofIndex?: number;
  proto3Optional: boolean;
}
interface EnumProto {
  name: string;
  value: { name: string; number: number }[];
}
interface MessageProto {
  name: string;
  field: FieldProto[];
  nestedType: MessageProto[];
  enumType: EnumProto[];
  oneofDecl: { name: string }[];
  options?: { mapEntry: boolean };
}
interface MethodProto {
  name: string;
  inputType: string;
  outputType: string;
  clientStreaming: boolean;
  serverStreaming: boolean;
}
interface FileProto {
  name: string;
  package: string;
  dependency: string[];
  messageType: MessageProto[];
  enumType: EnumProto[];
  service: { name: string; method: MethodProto[] }[];
  syntax: string;
}

const S = ScalarType;
const EnumValueProtoT = new MessageType<EnumProto['value'][number]>('google.protobuf.EnumValueDescriptorProto', [
  { no: 1, name: 'name', kind: 'scalar', T: S.STRING },
  { no: 2, name: 'number', kind: 'scalar', T: S.INT32 },
]);
const EnumProtoT = new MessageType<EnumProto>('google.protobuf.EnumDescriptorProto', [
  { no: 1, name: 'name', kind: 'scalar', T: S.STRING },
  { no: 2, name: 'value', kind: 'message', repeat: 2, T: () => EnumValueProtoT },
]);
const FieldProtoT = new MessageType<FieldProto>('google.protobuf.FieldDescriptorProto', [
  { no: 1, name: 'name', kind: 'scalar', T: S.STRING },
  { no: 3, name: 'number', kind: 'scalar', T: S.INT32 },
  { no: 4, name: 'label', kind: 'scalar', T: S.INT32 },
  { no: 5, name: 'type', kind: 'scalar', T: S.INT32 },
  { no: 6, name: 'type_name', kind: 'scalar', T: S.STRING },
  { no: 9, name: 'oneof_index', kind: 'scalar', T: S.INT32, opt: true },
  { no: 10, name: 'json_name', kind: 'scalar', T: S.STRING },
  { no: 17, name: 'proto3_optional', kind: 'scalar', T: S.BOOL },
]);
const MessageOptionsT = new MessageType<{ mapEntry: boolean }>('google.protobuf.MessageOptions', [
  { no: 7, name: 'map_entry', kind: 'scalar', T: S.BOOL },
]);
const OneofProtoT = new MessageType<{ name: string }>('google.protobuf.OneofDescriptorProto', [
  { no: 1, name: 'name', kind: 'scalar', T: S.STRING },
]);
const MessageProtoT: MessageType<MessageProto> = new MessageType<MessageProto>('google.protobuf.DescriptorProto', [
  { no: 1, name: 'name', kind: 'scalar', T: S.STRING },
  { no: 2, name: 'field', kind: 'message', repeat: 2, T: () => FieldProtoT },
  { no: 3, name: 'nested_type', kind: 'message', repeat: 2, T: () => MessageProtoT },
  { no: 4, name: 'enum_type', kind: 'message', repeat: 2, T: () => EnumProtoT },
  { no: 7, name: 'options', kind: 'message', T: () => MessageOptionsT },
  { no: 8, name: 'oneof_decl', kind: 'message', repeat: 2, T: () => OneofProtoT },
]);
const MethodProtoT = new MessageType<MethodProto>('google.protobuf.MethodDescriptorProto', [
  { no: 1, name: 'name', kind: 'scalar', T: S.STRING },
  { no: 2, name: 'input_type', kind: 'scalar', T: S.STRING },
  { no: 3, name: 'output_type', kind: 'scalar', T: S.STRING },
  { no: 5, name: 'client_streaming', kind: 'scalar', T: S.BOOL },
  { no: 6, name: 'server_streaming', kind: 'scalar', T: S.BOOL },
]);
const ServiceProtoT = new MessageType<FileProto['service'][number]>('google.protobuf.ServiceDescriptorProto', [
  { no: 1, name: 'name', kind: 'scalar', T: S.STRING },
  { no: 2, name: 'method', kind: 'message', repeat: 2, T: () => MethodProtoT },
]);
const FileProtoT = new MessageType<FileProto>('google.protobuf.FileDescriptorProto', [
  { no: 1, name: 'name', kind: 'scalar', T: S.STRING },
  { no: 2, name: 'package', kind: 'scalar', T: S.STRING },
  { no: 3, name: 'dependency', kind: 'scalar', repeat: 2, T: S.STRING },
  { no: 4, name: 'message_type', kind: 'message', repeat: 2, T: () => MessageProtoT },
  { no: 5, name: 'enum_type', kind: 'message', repeat: 2, T: () => EnumProtoT },
  { no: 6, name: 'service', kind: 'message', repeat: 2, T: () => ServiceProtoT },
  { no: 12, name: 'syntax', kind: 'scalar', T: S.STRING },
]);

const LABEL_OPTIONAL = 1;
const LABEL_REPEATED = 3;
const TYPE_MESSAGE = 11;
const TYPE_ENUM = 14;

/** `authzed.api.v1.RelationshipUpdate.Operation` → package `authzed.api.v1`, path [RelationshipUpdate, Operation]. */
function splitName(typeName: string): { pkg: string; path: string[] } {
  const parts = typeName.split('.');
  const first = parts.findIndex((p) => /^[A-Z]/.test(p));
  return { pkg: parts.slice(0, first).join('.'), path: parts.slice(first) };
}

const fileNameOf = (pkg: string) => `${pkg.replace(/\./g, '/')}/pemba_reflection.proto`;

class FileBuilder {
  readonly file: FileProto;
  private readonly messages = new Map<string, MessageProto>();

  constructor(readonly pkg: string) {
    this.file = {
      name: fileNameOf(pkg),
      package: pkg,
      dependency: [],
      messageType: [],
      enumType: [],
      service: [],
      syntax: 'proto3',
    };
  }

  /** The (possibly still empty) message at `path`, creating parents as needed. */
  message(path: string[]): MessageProto {
    const key = path.join('.');
    let m = this.messages.get(key);
    if (!m) {
      m = { name: path[path.length - 1], field: [], nestedType: [], enumType: [], oneofDecl: [] };
      this.messages.set(key, m);
      (path.length === 1 ? this.file.messageType : this.message(path.slice(0, -1)).nestedType).push(m);
    }
    return m;
  }

  enumIn(path: string[], proto: EnumProto): void {
    (path.length === 1 ? this.file.enumType : this.message(path.slice(0, -1)).enumType).push(proto);
  }

  depend(pkg: string): void {
    const name = fileNameOf(pkg);
    if (pkg !== this.pkg && !this.file.dependency.includes(name)) this.file.dependency.push(name);
  }
}

/** FileDescriptorProtos (binary) describing the services and every type they reach. */
export function fileDescriptors(services: ServiceDescriptor[]): Buffer[] {
  const files = new Map<string, FileBuilder>();
  const fileFor = (pkg: string) => {
    let f = files.get(pkg);
    if (!f) files.set(pkg, (f = new FileBuilder(pkg)));
    return f;
  };
  const doneMessages = new Set<string>();
  const doneEnums = new Set<string>();

  const addEnum = (info: EnumInfo) => {
    const [typeName, object, prefix = ''] = info;
    if (doneEnums.has(typeName)) return;
    doneEnums.add(typeName);
    const { pkg, path } = splitName(typeName);
    const value = Object.entries(object)
      .filter(([k, v]) => typeof v === 'number' && Number.isNaN(Number(k)))
      .map(([k, v]) => ({ name: prefix + k, number: v as number }));
    fileFor(pkg).enumIn(path, { name: path[path.length - 1], value });
  };

  const addMessage = (type: IMessageType<object>) => {
    if (doneMessages.has(type.typeName)) return;
    doneMessages.add(type.typeName);
    const { pkg, path } = splitName(type.typeName);
    const file = fileFor(pkg);
    const proto = file.message(path);
    const oneofs: string[] = [];
    for (const f of type.fields) {
      const field = fieldProto(f, type.typeName, proto, oneofs, (ref) => {
        const refPkg = splitName(ref.typeName ?? ref[0]).pkg;
        file.depend(refPkg);
        if ('fields' in ref) addMessage(ref);
        else addEnum(ref);
      });
      proto.field.push(field);
    }
    // proto3 `optional` fields live in synthetic oneofs, which must come after the real ones.
    proto.oneofDecl = oneofs.map((name) => ({ name }));
    for (const f of proto.field) {
      if (f.proto3Optional) {
        f.oneofIndex = proto.oneofDecl.length;
        proto.oneofDecl.push({ name: `_${f.name}` });
      }
    }
  };

  for (const service of services) {
    const { pkg, path } = splitName(service.typeName);
    const file = fileFor(pkg);
    const method = service.methods.map((m) => {
      for (const t of [m.I, m.O]) {
        file.depend(splitName(t.typeName).pkg);
        addMessage(t);
      }
      return {
        name: m.name,
        inputType: `.${m.I.typeName}`,
        outputType: `.${m.O.typeName}`,
        clientStreaming: !!m.clientStreaming,
        serverStreaming: !!m.serverStreaming,
      };
    });
    file.file.service.push({ name: path.join('.'), method });
  }
  return [...files.values()].map((f) => Buffer.from(FileProtoT.toBinary(f.file)));
}

type TypeRef = IMessageType<object> | (EnumInfo & { typeName?: undefined });

function fieldProto(
  f: FieldInfo,
  owner: string,
  proto: MessageProto,
  oneofs: string[],
  reference: (ref: TypeRef) => void,
): FieldProto {
  const out: FieldProto = {
    name: f.name,
    number: f.no,
    label: f.repeat ? LABEL_REPEATED : LABEL_OPTIONAL,
    type: 0,
    typeName: '',
    jsonName: f.jsonName,
    proto3Optional: false,
  };
  if (f.oneof) {
    if (!oneofs.includes(f.oneof)) oneofs.push(f.oneof);
    out.oneofIndex = oneofs.indexOf(f.oneof);
  }
  switch (f.kind) {
    case 'scalar':
      out.type = f.T;
      out.proto3Optional = !!f.opt && !f.oneof && !f.repeat;
      break;
    case 'enum':
      out.type = TYPE_ENUM;
      out.typeName = `.${f.T()[0]}`;
      out.proto3Optional = !!f.opt && !f.oneof && !f.repeat;
      reference(f.T() as TypeRef);
      break;
    case 'message':
      out.type = TYPE_MESSAGE;
      out.typeName = `.${f.T().typeName}`;
      reference(f.T() as IMessageType<object>);
      break;
    case 'map': {
      const entryName = `${f.name.replace(/(^|_)([a-z])/g, (_, __, ch: string) => ch.toUpperCase())}Entry`;
      const entry: MessageProto = {
        name: entryName,
        field: [],
        nestedType: [],
        enumType: [],
        oneofDecl: [],
        options: { mapEntry: true },
      };
      entry.field.push({
        name: 'key',
        number: 1,
        label: LABEL_OPTIONAL,
        type: f.K,
        typeName: '',
        jsonName: 'key',
        proto3Optional: false,
      });
      const value: FieldProto = {
        name: 'value',
        number: 2,
        label: LABEL_OPTIONAL,
        type: 0,
        typeName: '',
        jsonName: 'value',
        proto3Optional: false,
      };
      if (f.V.kind === 'scalar') value.type = f.V.T;
      else if (f.V.kind === 'enum') {
        value.type = TYPE_ENUM;
        value.typeName = `.${f.V.T()[0]}`;
        reference(f.V.T() as TypeRef);
      } else {
        value.type = TYPE_MESSAGE;
        value.typeName = `.${f.V.T().typeName}`;
        reference(f.V.T() as IMessageType<object>);
      }
      entry.field.push(value);
      proto.nestedType.push(entry);
      out.label = LABEL_REPEATED;
      out.type = TYPE_MESSAGE;
      out.typeName = `.${owner}.${entryName}`;
      break;
    }
  }
  return out;
}
