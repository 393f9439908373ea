/**
 * google.protobuf.Struct and Value ⇄ JSON, for the Envoy messages that carry
 * them (ext_authz: the MCP filter's metadata in a CheckRequest, the dynamic
 * metadata of a CheckResponse).
 */

/**
 * google.protobuf.Value / Struct as @grpc/proto-loader decodes them. Their
 * fields are camelCase whatever `keepCase` says: protobufjs defines the
 * well-known types itself (its common.js) instead of reading struct.proto.
 */
export interface ProtoValue {
  readonly kind?: string;
  readonly nullValue?: unknown;
  readonly numberValue?: number;
  readonly stringValue?: string;
  readonly boolValue?: boolean;
  readonly structValue?: ProtoStruct;
  readonly listValue?: { readonly values?: readonly ProtoValue[] };
}
export interface ProtoStruct {
  readonly fields?: Readonly<Record<string, ProtoValue>>;
}

/** google.protobuf.Value → JSON value. */
export function fromProtoValue(v: ProtoValue | undefined): unknown {
  if (v === undefined || v === null) return null;
  switch (v.kind ?? kindOf(v)) {
    case 'numberValue':
      return v.numberValue;
    case 'stringValue':
      return v.stringValue;
    case 'boolValue':
      return v.boolValue;
    case 'structValue':
      return fromProtoStruct(v.structValue);
    case 'listValue':
      return (v.listValue?.values ?? []).map(fromProtoValue);
    default:
      return null;
  }
}

function kindOf(v: ProtoValue): string | undefined {
  for (const k of ['numberValue', 'stringValue', 'boolValue', 'structValue', 'listValue'] as const) {
    if (v[k] !== undefined && v[k] !== null) return k;
  }
  return undefined;
}

/** google.protobuf.Struct → JSON object. */
export function fromProtoStruct(s: ProtoStruct | undefined): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(s?.fields ?? {})) out[k] = fromProtoValue(v);
  return out;
}

/** JSON value → google.protobuf.Value (for the CheckResponse's dynamic metadata). */
export function toProtoValue(v: unknown): ProtoValue {
  if (v === null || v === undefined) return { nullValue: 'NULL_VALUE' };
  if (typeof v === 'number') return { numberValue: v };
  if (typeof v === 'string') return { stringValue: v };
  if (typeof v === 'boolean') return { boolValue: v };
  if (Array.isArray(v)) return { listValue: { values: v.map(toProtoValue) } };
  return { structValue: toProtoStruct(v as Record<string, unknown>) };
}

export function toProtoStruct(o: Record<string, unknown>): ProtoStruct {
  const fields: Record<string, ProtoValue> = {};
  for (const [k, v] of Object.entries(o)) fields[k] = toProtoValue(v);
  return { fields };
}
