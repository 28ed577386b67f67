/**
 * NetconsRecord[] → OTLP ExportLogsServiceRequest protobuf, written straight from the records.
 *
 * The official serializer (`@opentelemetry/otlp-transformer`) needs a `ReadableLogRecord` and a
 * fresh attributes object per record, then walks them twice (size, then bytes). Here the usual
 * record (a kernel line, no router `set`, distinct dictionary keys) is written field by field
 * with no object per record; the rare ones (incidents, host events, router attributes, repeated
 * dictionary keys) go through `recordAttributes`, the same mapping the reference uses. The
 * Resource and InstrumentationScope messages are encoded once per host and reused.
 * test/sinks/otlp/encode-protobuf.test.ts decodes both encodings and checks they agree.
 *
 * Field numbers: opentelemetry/proto/logs/v1/logs.proto, common/v1/common.proto,
 * resource/v1/resource.proto (vendored in test/fixtures/otlp).
 */
import type { Resource } from '@opentelemetry/resources'
import type { NetconsRecord } from '../../types.js'
import { FACILITY_NAMES, SEVERITY_NUMBER, SEVERITY_TEXT, recordAttributes, type MapContext } from './map-record.js'
import { ProtobufWriter } from './protobuf-writer.js'

const MIN_INT64 = -(2 ** 63)
const MAX_INT64 = 2 ** 63

/** AnyValue body, as the reference's `writeAnyValue` (ints in int64 range as int_value, else double). */
function anyValue (w: ProtobufWriter, value: unknown): void {
  switch (typeof value) {
    case 'string': w.string(1, value); return
    case 'boolean': w.tag(2, 0); w.varint(value ? 1 : 0); return
    case 'number':
      if (Number.isInteger(value) && value >= MIN_INT64 && value < MAX_INT64) { w.tag(3, 0); w.int64(value) } else { w.tag(4, 1); w.double(value) }
      return
    case 'object': break
    default: return
  }
  if (value instanceof Uint8Array) { w.bytes(7, value); return }
  if (Array.isArray(value)) {
    w.tag(5, 2)
    const arr = w.begin()
    for (const item of value) {
      w.tag(1, 2)
      const s = w.begin()
      anyValue(w, item)
      w.end(s)
    }
    w.end(arr)
    return
  }
  if (value === null) return
  w.tag(6, 2)
  const list = w.begin()
  const obj = value as Record<string, unknown>
  for (const k in obj) {
    if (!Object.prototype.hasOwnProperty.call(obj, k)) continue
    w.tag(1, 2)
    const kv = w.begin()
    keyValueBody(w, k, obj[k])
    w.end(kv)
  }
  w.end(list)
}

function keyValueBody (w: ProtobufWriter, key: string, value: unknown): void {
  w.string(1, key)
  w.tag(2, 2)
  const s = w.begin()
  anyValue(w, value)
  w.end(s)
}

function attribute (w: ProtobufWriter, field: number, key: string, value: unknown): void {
  w.tag(field, 2)
  const s = w.begin()
  keyValueBody(w, key, value)
  w.end(s)
}

/** The three scalar shapes of the fast path, without going through `anyValue`'s type switch. */
function strAttr (w: ProtobufWriter, key: string, value: string): void {
  w.tag(6, 2)
  const s = w.begin()
  w.string(1, key)
  w.tag(2, 2)
  const v = w.begin()
  w.string(1, value)
  w.end(v)
  w.end(s)
}

function intAttr (w: ProtobufWriter, key: string, value: number): void {
  if (!Number.isInteger(value)) { attribute(w, 6, key, value); return }
  w.tag(6, 2)
  const s = w.begin()
  w.string(1, key)
  w.tag(2, 2)
  const v = w.begin()
  w.tag(3, 0)
  w.int64(value)
  w.end(v)
  w.end(s)
}

function attributes (w: ProtobufWriter, field: number, attrs: Readonly<Record<string, unknown>>): void {
  for (const key in attrs) {
    if (!Object.prototype.hasOwnProperty.call(attrs, key)) continue
    attribute(w, field, key, attrs[key])
  }
}

/** True when the record's attributes can be written without building the object (see the file comment). */
function fastPath (rec: NetconsRecord): boolean {
  if (rec.kind !== 'log') return false
  for (const _ in rec.attributes) return false
  const d = rec.dict
  for (let i = 1; i < d.length; i++) {
    const k = d[i]![0]
    for (let j = 0; j < i; j++) if (d[j]![0] === k) return false
  }
  return true
}

/** Bytes written by `f` on a scratch writer: constant parts encoded once at load. */
function encoded (f: (w: ProtobufWriter) => void): Uint8Array {
  const w = new ProtobufWriter()
  f(w)
  return w.finish()
}

// Whole attributes whose value comes from a small set, pre-encoded: facility (0..23, with its
// name), severity 0..7, the record format, and the LogRecord's severity fields.
const FACILITY_ATTRS = FACILITY_NAMES.map((name, f) => encoded((w) => { intAttr(w, 'syslog.facility', f); strAttr(w, 'syslog.facility.name', name) }))
const SEVERITY_ATTRS = SEVERITY_NUMBER.map((_, l) => encoded((w) => { intAttr(w, 'syslog.severity', l) }))
const SEVERITY_FIELDS = SEVERITY_NUMBER.map((sn, l) => encoded((w) => { w.tag(2, 0); w.varint(sn); w.string(3, SEVERITY_TEXT[l]!) }))
const FORMAT_ATTRS = new Map<string, Uint8Array>((['extended', 'legacy'] as const).map((f) => [f, encoded((w) => { strAttr(w, 'netconsole.format', f) })]))

/**
 * `KeyValue.key` (field 1) and the tag of `KeyValue.value` (field 2) of a constant key, for
 * `constIntAttr`: [0x0a, keyLen, key..., 0x12].
 */
function keyPrefix (key: string): Uint8Array {
  const k = Buffer.from(key, 'utf8')
  if (k.length > 100) throw new Error(`attribute key too long for keyPrefix: ${key}`)
  return Uint8Array.from([0x0a, k.length, ...k, 0x12])
}
const SEQ_KEY = keyPrefix('netconsole.seq')
const TS_KEY = keyPrefix('netconsole.ts_usec')
/** `netconsole.dict.` as the start of a KeyValue key. */
const DICT_PREFIX = Buffer.from('netconsole.dict.', 'latin1')

/** Varint byte count of a non-negative safe integer. */
function varintLength (v: number): number {
  let n = 1
  if (v > 0xfffffff) { v = (v - v % 0x10000000) / 0x10000000; n = 5 }
  while (v > 0x7f) { v >>>= 7; n++ }
  return n
}

/** The same bytes as `intAttr(w, key, v)` for a constant key (pre-encoded) and 0 <= v <= 2^53. */
function constIntAttr (w: ProtobufWriter, prefix: Uint8Array, key: string, v: number): void {
  if (!(Number.isInteger(v) && v >= 0 && v <= Number.MAX_SAFE_INTEGER)) { intAttr(w, key, v); return }
  const anyLen = 1 + varintLength(v)
  w.ensure(2)
  w.buf[w.pos++] = 0x32 // LogRecord.attributes (6), length-delimited
  w.buf[w.pos++] = prefix.length + 1 + anyLen // < 128: keys are short, the value at most 10 bytes
  w.raw(prefix)
  w.ensure(2)
  w.buf[w.pos++] = anyLen
  w.buf[w.pos++] = 0x18 // AnyValue.int_value (3), varint
  w.varint(v)
}

/** `strAttr(w, 'netconsole.dict.' + key, value)` without building the key string. */
function dictAttr (w: ProtobufWriter, key: string, value: string): void {
  w.tag(6, 2)
  const s = w.begin()
  w.tag(1, 2)
  const k = w.begin()
  w.raw(DICT_PREFIX)
  w.utf8(key)
  w.end(k)
  w.tag(2, 2)
  const v = w.begin()
  w.string(1, value)
  w.end(v)
  w.end(s)
}

/** The same attributes, in the same order, as `recordAttributes` for a fast-path record. */
function lineAttributes (w: ProtobufWriter, rec: NetconsRecord): void {
  const fac = FACILITY_ATTRS[rec.facility]
  if (fac !== undefined) w.raw(fac)
  else { intAttr(w, 'syslog.facility', rec.facility); strAttr(w, 'syslog.facility.name', String(rec.facility)) }
  if (rec.level !== null) {
    const sev = SEVERITY_ATTRS[rec.level]
    if (sev !== undefined) w.raw(sev)
    else intAttr(w, 'syslog.severity', rec.level)
  }
  const fmt = FORMAT_ATTRS.get(rec.format)
  if (fmt !== undefined) w.raw(fmt)
  else strAttr(w, 'netconsole.format', rec.format)
  if (rec.seq !== null) constIntAttr(w, SEQ_KEY, 'netconsole.seq', rec.seq)
  if (rec.tsUsec !== null) constIntAttr(w, TS_KEY, 'netconsole.ts_usec', rec.tsUsec)
  if (rec.contStart) attribute(w, 6, 'netconsole.cont_start', true)
  if (rec.cont) attribute(w, 6, 'netconsole.cont', true)
  if (rec.oos) attribute(w, 6, 'netconsole.oos', true)
  if (rec.seqReset) attribute(w, 6, 'netconsole.seq_reset', true)
  if (rec.incomplete) attribute(w, 6, 'netconsole.incomplete', true)
  if (rec.lostBefore > 0) intAttr(w, 'netconsole.lost_before', rec.lostBefore)
  const d = rec.dict
  for (let i = 0; i < d.length; i++) dictAttr(w, d[i]![0], d[i]![1])
}

/**
 * fixed64 nanoseconds of [seconds, nanos], bit for bit the reference's `writeHrTimeAsFixed64`
 * (seconds split in 16-bit halves so every product stays exact below 2^53).
 */
function hrTimeFixed64 (w: ProtobufWriter, seconds: number, nanos: number): void {
  const lowerNs = (seconds & 0xffff) * 1_000_000_000
  const upperNs = ((seconds / 0x10000) >>> 0) * 1_000_000_000
  const low = (lowerNs >>> 0) + (((upperNs & 0xffff) * 0x10000) >>> 0) + nanos
  const high = Math.floor(lowerNs / 0x100000000) + ((upperNs / 0x10000) >>> 0) + Math.floor(low / 0x100000000)
  w.fixed64(low >>> 0, high >>> 0)
}

/** Microseconds as the reference's hrTime ([sec, (us - sec*1e6) * 1000]). */
function usFixed64 (w: ProtobufWriter, us: number): void {
  const sec = Math.floor(us / 1_000_000)
  hrTimeFixed64(w, sec, (us - sec * 1_000_000) * 1000)
}

/** Encoded Resource (field 1 of ResourceLogs, with its tag) per Resource object; bounded by the ResourceCache. */
const resourceBytes = new WeakMap<Resource, Uint8Array>()

export class ProtobufLogsEncoder {
  readonly #w = new ProtobufWriter()
  readonly #ctx: MapContext
  readonly #scope: Uint8Array
  #wall = new Float64Array(1024)

  constructor (ctx: MapContext) {
    this.#ctx = ctx
    const w = new ProtobufWriter()
    // InstrumentationScope (field 1 of ScopeLogs): name, version; no attributes.
    w.tag(1, 2)
    const s = w.begin()
    w.string(1, ctx.scope.name)
    if (ctx.scope.version !== undefined && ctx.scope.version !== '') w.string(2, ctx.scope.version)
    w.end(s)
    this.#scope = w.finish()
  }

  #resource (resource: Resource): Uint8Array {
    let b = resourceBytes.get(resource)
    if (b !== undefined) return b
    const w = new ProtobufWriter()
    w.tag(1, 2)
    const s = w.begin()
    attributes(w, 1, resource.attributes)
    w.tag(2, 0)
    w.varint(0)
    w.end(s)
    b = w.finish()
    resourceBytes.set(resource, b)
    return b
  }

  /** Encodes a batch (a buffer of its own). Feeds the boot clock in record order, as `toLogRecord` does. */
  encode (batch: readonly NetconsRecord[]): Uint8Array {
    return this.encodeView(batch).length === 0 ? new Uint8Array(0) : this.#w.finish()
  }

  /**
   * `encode` without the copy: a view of the encoder's buffer, valid until its next call. The
   * sink's runner sends one batch at a time and waits for the answer (a timed-out request is
   * destroyed before the batch is encoded again), so the request body can be this view.
   */
  encodeView (batch: readonly NetconsRecord[]): Uint8Array {
    if (batch.length === 0) return new Uint8Array(0)
    if (this.#wall.length < batch.length) this.#wall = new Float64Array(batch.length * 2)
    const wall = this.#wall
    const groups = new Map<Resource, number[]>()
    const { bootClock, resources } = this.#ctx
    for (let i = 0; i < batch.length; i++) {
      const rec = batch[i]!
      const us = bootClock.observe(rec.src, rec.tsUsec, rec.receivedAt, rec.seqReset, rec.oos)
      wall[i] = us === null ? NaN : us
      const res = resources.get(rec)
      const g = groups.get(res)
      if (g === undefined) groups.set(res, [i])
      else g.push(i)
    }
    const w = this.#w
    w.reset()
    for (const [res, idx] of groups) {
      w.tag(1, 2)
      const rl = w.begin()
      w.raw(this.#resource(res))
      w.tag(2, 2)
      const sl = w.begin()
      w.raw(this.#scope)
      for (const i of idx) {
        w.tag(2, 2)
        const lr = w.begin2()
        this.#record(w, batch[i]!, wall[i]!)
        w.end2(lr)
      }
      w.end(sl)
      w.end(rl)
    }
    return w.view()
  }

  #record (w: ProtobufWriter, rec: NetconsRecord, wallUs: number): void {
    // time_unix_nano: 0 ("unset") when the kernel time is unknown.
    w.tag(1, 1)
    if (Number.isNaN(wallUs)) w.fixed64(0, 0)
    else usFixed64(w, wallUs)
    const level = rec.level
    const sev = level !== null && level >= 0 && level <= 7 ? SEVERITY_FIELDS[level] : undefined
    if (sev !== undefined) w.raw(sev)
    w.tag(5, 2)
    const body = w.begin()
    w.string(1, rec.text)
    w.end(body)
    if (fastPath(rec)) lineAttributes(w, rec)
    else attributes(w, 6, recordAttributes(rec))
    w.tag(7, 0)
    w.varint(0)
    w.tag(11, 1)
    usFixed64(w, Math.round(rec.receivedAt * 1000))
    if (rec.kind === 'incident') w.string(12, 'netconsd.incident')
    else if (rec.kind === 'event') w.string(12, 'netconsd.host_event')
  }
}
