/**
 * The per-record hot path of the syslog encoder: the same bytes as `formatRfc5424` /
 * `formatRfc3164` (the reference, kept and property-tested against this in
 * test/sinks/syslog/fast.test.ts), written straight into the batch's buffer (`ByteWriter`), with
 * everything that depends only on the host and the sink encoded once:
 *
 *   per sink:  SD-ID prefixes (`[netconsd@PEN`), APP-NAME / TAG, the PRI bytes `<N>1 `
 *   per host:  ` HOSTNAME APP-NAME - ` (RFC 3164: ` HOSTNAME TAG: `), the core element's
 *              `src="…"` and the whole labels element
 *   per ms:    the RFC 3339 timestamp (RFC 3164: per second)
 *   per record: the numbers as digits, the rest of the SD, the text: no string, no Buffer
 *
 * A record that does not fit `maxMessageBytes` (SD elements to leave out, MSG to cut) goes through
 * the reference formatter: rare, and its rules stay in one place.
 */
import type { HostInfo, NetconsRecord } from '../../types.js'
import { ByteBuffer, putBytes, writeDigits } from '../byte-buffer.js'
import { displayAddress, escapeControls, headerField, prival, stripTrailingNewlines } from './fields.js'
import { escapeParamValue, hostnameOf, LIMITS, sdName, type Rfc5424Options } from './rfc5424.js'
import { tag, timestamp3164 } from './rfc3164.js'

/** Hosts a worker keeps header parts for; beyond it the oldest entry goes (Map keeps insertion order). */
const HOST_CACHE_MAX = 4096

/** The syslog encoder's output: the shared growable buffer plus ASCII words and digits. */
export class ByteWriter extends ByteBuffer {
  /** A string known to be ASCII (fixed words, digits). */
  ascii (s: string): void {
    const n = s.length
    this.ensure(n)
    const d = this.buf
    const p = this.pos
    for (let i = 0; i < n; i++) d[p + i] = s.charCodeAt(i)
    this.pos = p + n
  }

  /** A number as String(v) would write it; integers without a string. */
  num (v: number): void {
    this.ensure(24)
    this.pos = writeDigits(this.buf, this.pos, v, 0)
  }

  /** A copy of bytes [from, pos): the buffer is reused for the next batch while this one is in flight. */
  copy (from = 0): Buffer {
    const out = Buffer.allocUnsafe(this.pos - from)
    this.buf.copy(out, 0, from, this.pos)
    return out
  }
}

const utf8 = (s: string): Buffer => Buffer.from(s, 'utf8')
const BOM = Buffer.from([0xef, 0xbb, 0xbf])

/** Pre-encoded SD parameter openings and closings of the core element (each `"` closes the one before). */
const K_SEQ = utf8(' seq="')
const K_TS = utf8(' tsUsec="')
const K_LEVEL = utf8(' level="')
const K_FACILITY = utf8(' facility="')
const K_FORMAT_EXTENDED = utf8('" format="extended"')
const K_FORMAT_LEGACY = utf8('" format="legacy"')
const K_RELEASE = utf8(' release="')
/** Bytes the fixed part of a message can take beyond its pre-encoded pieces and strings (numbers, flags, quotes). */
const FIXED_BYTES = 256

interface HostParts {
  // The HostInfo fields the parts were built from: resolvers update a host's name in place.
  name: string
  address: string
  labels: Readonly<Record<string, string>>
  /** ` HOSTNAME APP-NAME - ` (5424) or ` HOSTNAME TAG: ` (3164). */
  mid: Buffer
  /** `[netconsd@PEN src="…"` */
  core: Buffer
  /** The labels element, or empty when there are none (or labels are off). */
  labelsEl: Buffer
  /** `mid`, the log MSGID `-`, a space and `core`: what every log record of the host has after its timestamp. */
  logHead: Buffer
}

export interface FastOptions extends Rfc5424Options {
  format: 'rfc5424' | 'rfc3164'
}

function params (prefix: string, entries: ReadonlyArray<readonly [string, string]>): string {
  if (entries.length === 0) return ''
  let s = prefix
  for (const [k, v] of entries) s += ' ' + sdName(k) + '="' + escapeParamValue(v) + '"'
  return s + ']'
}

/** ` name="value"` pairs and the closing `]` of an element whose SD-ID (with `[`) is written. */
function writeParams (w: ByteWriter, entries: ReadonlyArray<readonly [string, string]>): void {
  for (let i = 0; i < entries.length; i++) {
    const e = entries[i]!
    w.ascii(' ')
    w.utf8(sdName(e[0]))
    w.ascii('="')
    w.utf8(escapeParamValue(e[1]))
    w.ascii('"')
  }
  w.ascii(']')
}

const MSGID_LOG = utf8('-')
const SPACE = utf8(' ')

export class FastFormatter {
  readonly #o: FastOptions
  readonly #hosts = new Map<HostInfo, HostParts>()
  readonly #pri: Buffer[] = []
  readonly #app: string
  readonly #tag: string
  readonly #idIncident: Buffer
  readonly #idEvent: Buffer
  readonly #idAttrs: Buffer
  readonly #idDict: Buffer
  readonly #idCore: string
  readonly #idLabels: string
  readonly #msgIds = new Map<string, Buffer>()
  #tsMs = NaN
  #ts: Buffer = Buffer.alloc(0)
  #ts3164Sec = NaN
  #ts3164: Buffer = Buffer.alloc(0)
  #release: string | null = null
  #releaseEscaped = ''

  constructor (opts: FastOptions) {
    this.#o = opts
    for (let p = 0; p < 192; p++) this.#pri.push(utf8(`<${p}>` + (opts.format === 'rfc5424' ? '1 ' : '')))
    this.#app = headerField(opts.appName, LIMITS.appName)
    this.#tag = tag(opts.appName)
    const pen = String(opts.enterpriseId)
    this.#idCore = '[' + sdName(`netconsd@${pen}`)
    this.#idIncident = utf8('[' + sdName(`netconsdIncident@${pen}`))
    this.#idEvent = utf8('[' + sdName(`netconsdEvent@${pen}`))
    this.#idAttrs = utf8('[' + sdName(`netconsdAttrs@${pen}`))
    this.#idLabels = '[' + sdName(`netconsdLabels@${pen}`)
    this.#idDict = utf8('[' + sdName(`netconsdDict@${pen}`))
  }

  #host (h: HostInfo, rec: NetconsRecord): HostParts {
    const c = this.#hosts.get(h)
    if (c !== undefined && c.name === h.name && c.address === h.address && c.labels === h.labels) return c
    const host = headerField(hostnameOf(rec, this.#o.hostname), LIMITS.hostname)
    const mid = utf8(this.#o.format === 'rfc5424' ? ` ${host} ${this.#app} - ` : ` ${host} ${this.#tag}: `)
    const core = utf8(this.#idCore + ' src="' + escapeParamValue(displayAddress(h.address)) + '"')
    const p: HostParts = {
      name: h.name,
      address: h.address,
      labels: h.labels,
      mid,
      core,
      labelsEl: utf8(this.#o.includeLabels ? params(this.#idLabels, Object.entries(h.labels)) : ''),
      logHead: Buffer.concat([mid, MSGID_LOG, SPACE, core])
    }
    if (c === undefined && this.#hosts.size >= HOST_CACHE_MAX) this.#hosts.delete(this.#hosts.keys().next().value!)
    this.#hosts.set(h, p)
    return p
  }

  #timestamp (ms: number): Buffer | null {
    if (ms === this.#tsMs) return this.#ts
    if (!Number.isFinite(ms)) return null
    const d = new Date(ms)
    if (Number.isNaN(d.getTime())) return null
    this.#tsMs = ms
    this.#ts = utf8(d.toISOString())
    return this.#ts
  }

  #timestamp3164 (ms: number): Buffer | null {
    // Not a valid date: the reference uses the current time; let it.
    if (!Number.isFinite(ms) || Math.abs(ms) > 8.64e15) return null
    const sec = Math.floor(ms / 1000)
    if (sec !== this.#ts3164Sec) {
      this.#ts3164Sec = sec
      this.#ts3164 = utf8(timestamp3164(ms))
    }
    return this.#ts3164
  }

  /** The release as an SD-PARAM value; ncrx hands out one string per host, so the last one is kept. */
  #releaseValue (release: string): string {
    if (release !== this.#release) {
      this.#release = release
      this.#releaseEscaped = escapeParamValue(release)
    }
    return this.#releaseEscaped
  }

  #msgId (kind: string): Buffer {
    if (kind === 'log') return MSGID_LOG
    let b = this.#msgIds.get(kind)
    if (b === undefined) {
      b = utf8(headerField(kind, LIMITS.msgId))
      if (this.#msgIds.size < 64) this.#msgIds.set(kind, b)
    }
    return b
  }

  /**
   * Writes the whole SYSLOG-MSG at `w.pos` and returns its length in bytes, or -1 (with `w.pos`
   * where it was) when the record needs the reference formatter: it does not fit
   * `maxMessageBytes`, or an odd timestamp.
   */
  formatInto (rec: NetconsRecord, w: ByteWriter): number {
    const o = this.#o
    const start = w.pos
    const hp = this.#host(rec.host, rec)
    const pri = this.#pri[prival(o.facility ?? rec.facility, rec.level ?? o.legacySeverity)]!
    if (o.format === 'rfc3164') {
      const ts = this.#timestamp3164(rec.receivedAt)
      if (ts === null) return -1
      w.raw(pri)
      w.raw(ts)
      w.raw(hp.mid)
      w.utf8(escapeControls(stripTrailingNewlines(rec.text)))
      const n = w.pos - start
      if (n > o.maxMessageBytes) { w.pos = start; return -1 }
      return n
    }
    const ts = this.#timestamp(rec.receivedAt)
    if (ts === null) return -1
    const msgId = this.#msgId(rec.kind)
    // The header and the core element in one go: room for all of it first, then plain stores.
    const release = rec.release !== null ? this.#releaseValue(rec.release) : null
    w.ensure(FIXED_BYTES + pri.length + ts.length + hp.logHead.length + msgId.length)
    const d = w.buf
    let p = putBytes(d, w.pos, pri)
    p = putBytes(d, p, ts)
    if (msgId === MSGID_LOG) {
      p = putBytes(d, p, hp.logHead)
    } else {
      p = putBytes(d, p, hp.mid)
      p = putBytes(d, p, msgId)
      d[p++] = 0x20
      p = putBytes(d, p, hp.core)
    }
    if (rec.seq !== null) { p = writeDigits(d, putBytes(d, p, K_SEQ), rec.seq, 0); d[p++] = 0x22 }
    if (rec.tsUsec !== null) { p = writeDigits(d, putBytes(d, p, K_TS), rec.tsUsec, 0); d[p++] = 0x22 }
    if (rec.level !== null) { p = writeDigits(d, putBytes(d, p, K_LEVEL), rec.level, 0); d[p++] = 0x22 }
    p = writeDigits(d, putBytes(d, p, K_FACILITY), rec.facility, 0)
    if (rec.format === 'extended') p = putBytes(d, p, K_FORMAT_EXTENDED)
    else if (rec.format === 'legacy') p = putBytes(d, p, K_FORMAT_LEGACY)
    else { w.pos = p; w.ascii('" format="'); w.utf8(rec.format); w.ascii('"'); p = w.pos }
    w.pos = p
    if (release !== null) { w.raw(K_RELEASE); w.utf8(release); w.ascii('"') }
    if (rec.contStart) w.ascii(' contStart="1"')
    if (rec.cont) w.ascii(' cont="1"')
    if (rec.oos) w.ascii(' oos="1"')
    if (rec.seqReset) w.ascii(' seqReset="1"')
    if (rec.incomplete) w.ascii(' incomplete="1"')
    if (rec.lostBefore > 0) { w.ascii(' lostBefore="'); w.num(rec.lostBefore); w.ascii('"') }
    w.ascii(']')
    if (rec.incident !== undefined) {
      const i = rec.incident
      w.raw(this.#idIncident)
      w.ascii(' type="'); w.utf8(escapeParamValue(i.type)); w.ascii('" signature="'); w.utf8(escapeParamValue(i.signature)); w.ascii('"')
      if (i.function !== null) { w.ascii(' function="'); w.utf8(escapeParamValue(i.function)); w.ascii('"') }
      w.ascii(' title="'); w.utf8(escapeParamValue(i.title)); w.ascii('"]')
    }
    if (rec.event !== undefined) {
      w.raw(this.#idEvent)
      w.ascii(' type="'); w.utf8(escapeParamValue(rec.event.type)); w.ascii('"')
      for (const k in rec.event) {
        if (!Object.hasOwn(rec.event, k)) continue
        const v = rec.event[k]
        if (k === 'type' || v === null || v === undefined || typeof v === 'object') continue
        w.ascii(' '); w.utf8(sdName(k)); w.ascii('="'); w.utf8(escapeParamValue(String(v))); w.ascii('"')
      }
      w.ascii(']')
    }
    let hasAttrs = false
    for (const k in rec.attributes) { if (Object.hasOwn(rec.attributes, k)) { hasAttrs = true; break } }
    if (hasAttrs) { w.raw(this.#idAttrs); writeParams(w, Object.entries(rec.attributes)) }
    if (hp.labelsEl.length > 0) w.raw(hp.labelsEl)
    if (o.includeDict && rec.dict.length > 0) { w.raw(this.#idDict); writeParams(w, rec.dict) }
    let text = stripTrailingNewlines(rec.text)
    if (o.multiline === 'escape') text = escapeControls(text)
    if (text !== '') {
      w.ascii(' ')
      if (o.utf8Bom) w.raw(BOM)
      w.utf8(text)
    }
    const n = w.pos - start
    if (n > o.maxMessageBytes) { w.pos = start; return -1 }
    return n
  }
}
