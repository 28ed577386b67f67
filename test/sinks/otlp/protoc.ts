/**
 * Decodes OTLP request bodies with `protoc --decode` (Debian's protobuf-compiler, installed by
 * `.ci/run`) and the vendored protos in test/fixtures/otlp: a decoder that shares no code with
 * protobufjs (otlp-decode.ts) or with our encoder. protoc prints text format; `parseTextFormat`
 * reads it back into a tree, `fromProtoc` into the same plain shape otlp-decode.ts gives, with
 * enum names kept (`SEVERITY_NUMBER_ERROR`) and unknown fields (printed by number) reported.
 */
import { spawnSync } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { fixturesDir } from '../../helpers/paths.js'
import type { DecodedLog, DecodedResourceLogs, Value } from './otlp-decode.js'

const protoDir = join(fixturesDir, 'otlp')
const REQUEST = 'opentelemetry.proto.collector.logs.v1.ExportLogsServiceRequest'

/** `protoc` on PATH that runs, or null (the caller skips). */
export function protocPath (): string | null {
  const r = spawnSync('protoc', ['--version'], { encoding: 'utf8' })
  return r.status === 0 ? 'protoc' : null
}

/** The text format protoc prints for `body` as an ExportLogsServiceRequest; throws when protoc cannot parse it. */
export function protocDecodeText (body: Uint8Array): string {
  const r = spawnSync('protoc', [`--decode=${REQUEST}`, '-I', protoDir, 'logs_service.proto'], { input: body, maxBuffer: 64 << 20 })
  if (r.status !== 0) throw new Error(`protoc --decode failed (${r.status}): ${r.stderr.toString()}`)
  return r.stdout.toString('utf8')
}

/** A text-format message: field name → values in order (a scalar as its token, a string unescaped). */
export interface TextMessage { [field: string]: TextValue[] }
export type TextValue = string | TextMessage

/** Undoes protoc's C escaping (`\303\274` octal bytes, `\n`, `\"`, `\\`, `\x..`) and decodes UTF-8. */
function unescapeString (s: string): string {
  const bytes: number[] = []
  for (let i = 0; i < s.length; i++) {
    const c = s[i]!
    if (c !== '\\') { bytes.push(...Buffer.from(c, 'utf8')); continue }
    const n = s[++i]!
    if (/[0-7]/.test(n)) {
      let oct = n
      while (oct.length < 3 && /[0-7]/.test(s[i + 1] ?? '')) oct += s[++i]
      bytes.push(parseInt(oct, 8))
    } else if (n === 'x') {
      let hex = ''
      while (hex.length < 2 && /[0-9a-fA-F]/.test(s[i + 1] ?? '')) hex += s[++i]
      bytes.push(parseInt(hex, 16))
    } else {
      const simple: Record<string, number> = { n: 10, r: 13, t: 9, '"': 34, "'": 39, '\\': 92, a: 7, b: 8, f: 12, v: 11, '?': 63 }
      if (simple[n] === undefined) throw new Error(`unknown escape \\${n}`)
      bytes.push(simple[n])
    }
  }
  return new TextDecoder('utf-8', { fatal: true }).decode(Uint8Array.from(bytes))
}

/** Parses protoc's text format output. */
export function parseTextFormat (text: string): TextMessage {
  const tokens = text.match(/"(?:[^"\\]|\\.)*"|[{}:]|[^\s{}:"]+/g) ?? []
  let pos = 0
  const message = (): TextMessage => {
    const out: TextMessage = {}
    while (pos < tokens.length && tokens[pos] !== '}') {
      const name = tokens[pos++]!
      let value: TextValue
      if (tokens[pos] === ':') {
        pos++
        const t = tokens[pos++]!
        value = t.startsWith('"') ? unescapeString(t.slice(1, -1)) : t
      } else if (tokens[pos] === '{') {
        pos++
        value = message()
        if (tokens[pos++] !== '}') throw new Error(`unclosed ${name} {`)
      } else throw new Error(`unexpected token after ${name}: ${String(tokens[pos])}`)
      ;(out[name] ??= []).push(value)
    }
    return out
  }
  const root = message()
  if (pos !== tokens.length) throw new Error(`trailing tokens at ${pos}`)
  return root
}

/** Field paths that protoc printed by number: fields the vendored protos do not define. */
export function unknownFields (m: TextMessage, path = ''): string[] {
  const out: string[] = []
  for (const [k, vs] of Object.entries(m)) {
    if (/^\d+$/.test(k)) out.push(`${path}${k}`)
    for (const v of vs) if (typeof v !== 'string') out.push(...unknownFields(v, `${path}${k}.`))
  }
  return out
}

/** SeverityNumber enum names → numbers, read from the vendored logs.proto. */
const SEVERITY = new Map([...readFileSync(join(protoDir, 'logs.proto'), 'utf8').matchAll(/(SEVERITY_NUMBER_\w+)\s*=\s*(\d+)/g)].map((m) => [m[1]!, Number(m[2])]))

const msg = (v: TextValue | undefined): TextMessage => (v === undefined || typeof v === 'string' ? {} : v)
const str = (v: TextValue | undefined): string => (typeof v === 'string' ? v : '')

function anyValue (v: TextMessage): Value {
  if (v.string_value !== undefined) return str(v.string_value[0])
  if (v.bool_value !== undefined) return str(v.bool_value[0]) === 'true'
  if (v.int_value !== undefined) return Number(str(v.int_value[0]))
  if (v.double_value !== undefined) return Number(str(v.double_value[0]))
  if (v.array_value !== undefined) return (msg(v.array_value[0]).values ?? []).map((x) => anyValue(msg(x)))
  if (v.kvlist_value !== undefined) return kvs(msg(v.kvlist_value[0]).values)
  if (v.bytes_value !== undefined) return Buffer.from(str(v.bytes_value[0]), 'latin1')
  return null
}

function kvs (list: TextValue[] | undefined): Record<string, Value> {
  const out: Record<string, Value> = {}
  for (const kv of list ?? []) out[str(msg(kv).key?.[0])] = anyValue(msg(msg(kv).value?.[0]))
  return out
}

/** The log record as protoc printed it, plus the severity enum's name. */
export type ProtocLog = DecodedLog & { severityName: string }
export interface ProtocResourceLogs extends Omit<DecodedResourceLogs, 'scopes'> {
  scopes: Array<{ name: string, version: string, logs: ProtocLog[] }>
}

/** protoc's text output → the plain shape of otlp-decode.ts (so both decoders can be compared). */
export function fromProtoc (root: TextMessage): ProtocResourceLogs[] {
  return (root.resource_logs ?? []).map((rlv) => {
    const rl = msg(rlv)
    return {
      resource: kvs(msg(rl.resource?.[0]).attributes),
      scopes: (rl.scope_logs ?? []).map((slv) => {
        const sl = msg(slv)
        const scope = msg(sl.scope?.[0])
        return {
          name: str(scope.name?.[0]),
          version: str(scope.version?.[0]),
          logs: (sl.log_records ?? []).map((lrv): ProtocLog => {
            const lr = msg(lrv)
            const severityName = str(lr.severity_number?.[0])
            const severityNumber = severityName === '' ? 0 : SEVERITY.get(severityName)
            if (severityNumber === undefined) throw new Error(`unknown severity ${severityName}`)
            return {
              timeUnixNano: BigInt(str(lr.time_unix_nano?.[0]) || '0'),
              observedTimeUnixNano: BigInt(str(lr.observed_time_unix_nano?.[0]) || '0'),
              severityNumber,
              severityName,
              severityText: str(lr.severity_text?.[0]),
              body: lr.body === undefined ? null : anyValue(msg(lr.body[0])),
              attributes: kvs(lr.attributes),
              eventName: str(lr.event_name?.[0]),
              droppedAttributesCount: Number(str(lr.dropped_attributes_count?.[0]) || '0')
            }
          })
        }
      })
    }
  })
}
