/**
 * Decodes OTLP/HTTP log request bodies with the official message definitions
 * (test/fixtures/otlp/*.proto, loaded with protobufjs) into one plain shape for both encodings,
 * so tests check every field the same way for protobuf and JSON.
 */
import { join, basename } from 'node:path'
import protobuf from 'protobufjs'
import { fixturesDir } from '../../helpers/paths.js'

const root = new protobuf.Root()
root.resolvePath = (_origin: string, target: string) => join(fixturesDir, 'otlp', basename(target))
root.loadSync('logs_service.proto', { keepCase: false })
export const ExportLogsServiceRequest = root.lookupType('opentelemetry.proto.collector.logs.v1.ExportLogsServiceRequest')
const ExportLogsServiceResponse = root.lookupType('opentelemetry.proto.collector.logs.v1.ExportLogsServiceResponse')

export type Value = string | number | boolean | Value[] | { [k: string]: Value } | Buffer | null

export interface DecodedLog {
  timeUnixNano: bigint
  observedTimeUnixNano: bigint
  severityNumber: number
  severityText: string
  body: Value
  attributes: Record<string, Value>
  eventName: string
  droppedAttributesCount: number
}

export interface DecodedResourceLogs {
  resource: Record<string, Value>
  scopes: Array<{ name: string, version: string, logs: DecodedLog[] }>
}

interface PlainAnyValue {
  stringValue?: string
  boolValue?: boolean
  intValue?: string | number
  doubleValue?: number
  arrayValue?: { values?: PlainAnyValue[] }
  kvlistValue?: { values?: PlainKV[] }
  bytesValue?: string
}
interface PlainKV { key: string, value?: PlainAnyValue }

function anyValue (v: PlainAnyValue | undefined): Value {
  if (v === undefined) return null
  if (v.stringValue !== undefined) return v.stringValue
  if (v.boolValue !== undefined) return v.boolValue
  if (v.intValue !== undefined) return Number(v.intValue)
  if (v.doubleValue !== undefined) return v.doubleValue
  if (v.arrayValue !== undefined) return (v.arrayValue.values ?? []).map(anyValue)
  if (v.kvlistValue !== undefined) return kvs(v.kvlistValue.values)
  if (v.bytesValue !== undefined) return Buffer.from(v.bytesValue, 'base64')
  return null
}

function kvs (list: PlainKV[] | undefined): Record<string, Value> {
  const out: Record<string, Value> = {}
  for (const kv of list ?? []) out[kv.key] = anyValue(kv.value)
  return out
}

interface PlainRequest {
  resourceLogs?: Array<{
    resource?: { attributes?: PlainKV[] }
    scopeLogs?: Array<{
      scope?: { name?: string, version?: string }
      logRecords?: Array<{
        timeUnixNano?: string | number
        observedTimeUnixNano?: string | number
        severityNumber?: number
        severityText?: string
        body?: PlainAnyValue
        attributes?: PlainKV[]
        eventName?: string
        droppedAttributesCount?: number
      }>
    }>
  }>
}

function fromPlain (req: PlainRequest): DecodedResourceLogs[] {
  return (req.resourceLogs ?? []).map((rl) => ({
    resource: kvs(rl.resource?.attributes),
    scopes: (rl.scopeLogs ?? []).map((sl) => ({
      name: sl.scope?.name ?? '',
      version: sl.scope?.version ?? '',
      logs: (sl.logRecords ?? []).map((lr) => ({
        timeUnixNano: BigInt(lr.timeUnixNano ?? 0),
        observedTimeUnixNano: BigInt(lr.observedTimeUnixNano ?? 0),
        severityNumber: lr.severityNumber ?? 0,
        severityText: lr.severityText ?? '',
        body: anyValue(lr.body),
        attributes: kvs(lr.attributes),
        eventName: lr.eventName ?? '',
        droppedAttributesCount: lr.droppedAttributesCount ?? 0
      }))
    }))
  }))
}

/** Protobuf body → plain shape (int64/fixed64 as decimal strings, enums as numbers). */
export function decodeProtobuf (body: Uint8Array): DecodedResourceLogs[] {
  const msg = ExportLogsServiceRequest.decode(body)
  const plain = ExportLogsServiceRequest.toObject(msg, { longs: String, enums: Number, bytes: String, defaults: false }) as PlainRequest
  return fromPlain(plain)
}

/** Throws when `obj` has a key the message type does not define (recursively), or a wrong-typed 64-bit value. */
function checkAgainst (obj: unknown, type: protobuf.Type, path: string): void {
  if (typeof obj !== 'object' || obj === null || Array.isArray(obj)) throw new Error(`${path}: expected an object`)
  for (const [k, v] of Object.entries(obj)) {
    const field = type.fields[k]
    if (field === undefined) throw new Error(`${path}.${k}: not a field of ${type.name}`)
    field.resolve()
    const values = field.repeated ? (v as unknown[]) : [v]
    if (!Array.isArray(values)) throw new Error(`${path}.${k}: expected an array`)
    for (const [i, item] of values.entries()) {
      const p = field.repeated ? `${path}.${k}[${i}]` : `${path}.${k}`
      if (field.resolvedType instanceof protobuf.Type) checkAgainst(item, field.resolvedType, p)
      else if (['int64', 'uint64', 'fixed64', 'sfixed64', 'sint64'].includes(field.type)) {
        if (!(typeof item === 'string' ? /^-?\d+$/.test(item) : Number.isInteger(item))) throw new Error(`${p}: 64-bit integer expected, got ${JSON.stringify(item)}`)
      }
    }
  }
}

/**
 * OTLP/JSON body (OTLP spec "JSON Protobuf Encoding": lowerCamelCase names, enums as numbers,
 * 64-bit integers as decimal strings or numbers) → plain shape, after checking every key against
 * the proto definitions.
 */
export function decodeJson (body: Uint8Array): DecodedResourceLogs[] {
  const json = JSON.parse(Buffer.from(body).toString('utf8')) as PlainRequest
  checkAgainst(json, ExportLogsServiceRequest, 'request')
  return fromPlain(json)
}

/** Flattens every log of a request with its resource. */
export function allLogs (rls: DecodedResourceLogs[]): Array<DecodedLog & { resource: Record<string, Value>, scope: string }> {
  return rls.flatMap((rl) => rl.scopes.flatMap((s) => s.logs.map((l) => ({ ...l, resource: rl.resource, scope: s.name }))))
}

export function encodeResponse (rejected: number, message: string): Uint8Array {
  return ExportLogsServiceResponse.encode(ExportLogsServiceResponse.fromObject({ partialSuccess: { rejectedLogRecords: rejected, errorMessage: message } })).finish()
}
