/**
 * The file sink's line formats written straight into a byte buffer: no string, Buffer or object
 * per line on the hot path. The bytes are exactly those of `formatTextLine` / `formatJsonLine`
 * (format.ts, kept as the reference; a property test holds the two together).
 *
 * text: the head (time, host, release, S/T/F/L, flags) and the text are written as UTF-8, then
 * the line is scanned for the control bytes formatTextLine escapes (< 0x20 except TAB, 0x7f: in
 * UTF-8 those bytes stand only for themselves). A line that has one — rare: an oops continuation,
 * a stray escape — is formatted by the reference instead. The arrival time's ISO form is cached
 * per millisecond (a batch is mostly the same few milliseconds).
 */
import type { NetconsRecord } from '../../types.js'
import { formatJsonLine, formatTextLine, type LineFormat } from './format.js'
import { utf8Write, writeDigits } from '../byte-buffer.js'

/** Writes an ASCII string byte by byte (short constants and digits: cheaper than an encoder call). */
function ascii (buf: Buffer, s: string, off: number): number {
  for (let i = 0; i < s.length; i++) buf[off + i] = s.charCodeAt(i)
  return s.length
}

/** Upper bound of the bytes `encode` writes for `rec` on its fast path. */
export function maxLineBytes (rec: NetconsRecord): number {
  let n = 320 + 3 * (rec.text.length + rec.host.name.length + rec.host.address.length)
  if (rec.release !== null) n += 3 * rec.release.length
  const d = rec.dict
  for (let i = 0; i < d.length; i++) n += 8 + 3 * (d[i]![0].length + d[i]![1].length)
  if (rec.incident !== undefined) n += 3 * rec.incident.type.length
  if (rec.event !== undefined) n += 3 * rec.event.type.length
  return n
}

/** A host's name (or address) and the space after it as UTF-8, or null when the name holds a byte the text format escapes. */
type HostBytes = Uint8Array | null

export class LineEncoder {
  readonly #json: boolean
  #lastMs = NaN
  readonly #time = Buffer.alloc(64)
  #timeLen = 0
  /** Per host object (a reload makes new ones): its name's bytes, encoded once. */
  readonly #hostBytes = new WeakMap<object, HostBytes>()
  /** The last release string seen (ncrx hands out one string per host) and whether it is clean. */
  #release: string | null = null
  #releaseClean = false
  /** A 32-bit view of the buffer last written to (the word-wise control-byte scan). */
  #wordsOf: Buffer | null = null
  #words: Int32Array | null = null

  constructor (format: LineFormat) {
    this.#json = format === 'json'
  }

  /**
   * Writes the line of `rec` at `off` (room for `maxLineBytes(rec)` must be there) and returns the
   * end offset, or -1 when the line must be written from its string form (`lineString`).
   */
  encode (rec: NetconsRecord, buf: Buffer, off: number): number {
    if (this.#json) return this.#encodeJson(rec, buf, off)
    off = this.#writeTime(rec.receivedAt, buf, off)
    const host = this.#host(rec.host)
    if (host === null) return -1
    for (let i = 0; i < host.length; i++) buf[off + i] = host[i]!
    off += host.length
    if (rec.format === 'extended') {
      if (rec.release !== null) {
        if (rec.release !== this.#release) { this.#release = rec.release; this.#releaseClean = !CONTROL.test(rec.release) }
        if (!this.#releaseClean) return -1
        off += utf8Write(buf, rec.release, off)
        buf[off++] = 0x20
      }
      buf[off++] = 0x53 // S
      off = writeDigits(buf, off, rec.seq ?? 0, 6)
      buf[off++] = 0x20
      buf[off++] = 0x54 // T
      off = writeDigits(buf, off, rec.tsUsec ?? 0, 14)
      buf[off++] = 0x20
      buf[off++] = 0x46 // F
      off = writeDigits(buf, off, rec.facility, 0)
      buf[off++] = 0x2f
      buf[off++] = 0x4c // L
      off = writeDigits(buf, off, rec.level ?? 0, 0)
      buf[off++] = 0x20
    }
    if (rec.kind !== 'log') {
      if (rec.kind === 'incident' && rec.incident !== undefined) off = this.#tag(buf, off, '[INCIDENT ', rec.incident.type)
      if (rec.kind === 'event' && rec.event !== undefined) off = this.#tag(buf, off, '[EVENT ', rec.event.type)
    }
    if (rec.contStart) off += ascii(buf, '[CONT START] ', off)
    if (rec.cont) off += ascii(buf, '[CONT] ', off)
    if (rec.oos) off += ascii(buf, '[OOS] ', off)
    if (rec.seqReset) off += ascii(buf, '[SEQ RESET] ', off)
    if (rec.incomplete) off += ascii(buf, '[INCOMPLETE] ', off)
    if (rec.lostBefore > 0) {
      off += ascii(buf, '[LOST ', off)
      off = writeDigits(buf, off, rec.lostBefore, 0)
      buf[off++] = 0x5d
      buf[off++] = 0x20
    }
    const textStart = off
    off += utf8Write(buf, rec.text, off)
    // formatTextLine drops trailing newlines, then escapes what is left. Everything before the text
    // is known to be clean (time, digits, flags; host and release checked when cached).
    while (off > textStart && (buf[off - 1] === 0x0a || buf[off - 1] === 0x0d)) off--
    if (!this.#clean(buf, textStart, off)) return -1
    buf[off++] = 0x0a
    return off
  }

  #host (h: NetconsRecord['host']): HostBytes {
    let b = this.#hostBytes.get(h)
    if (b === undefined) {
      const name = h.name === '' ? h.address : h.name
      b = CONTROL.test(name) ? null : Buffer.from(name + ' ', 'utf8')
      this.#hostBytes.set(h, b)
    }
    return b
  }

  /**
   * No byte in buf[a, b) that the text format escapes (< 0x20 but TAB, 0x7f): four bytes at a time
   * (a word with such a byte, or a TAB, is looked at byte by byte). UTF-8 continuation and lead
   * bytes (≥ 0x80) never match.
   */
  #clean (buf: Buffer, a: number, b: number): boolean {
    let w = this.#words
    if (this.#wordsOf !== buf) {
      w = this.#words = (buf.byteOffset & 3) === 0 ? new Int32Array(buf.buffer, buf.byteOffset, buf.length >> 2) : null
      this.#wordsOf = buf
    }
    let i = a
    if (w !== null) {
      while (i < b && (i & 3) !== 0) { if (!cleanByte(buf[i]!)) return false; i++ }
      for (let k = i >> 2, end = b >> 2; k < end; k++) {
        const x = w[k]!
        const y = x ^ 0x7f7f7f7f
        if ((((x - 0x20202020) & ~x) | ((y - 0x01010101) & ~y)) & 0x80808080) {
          const j = k << 2
          if (!cleanByte(buf[j]!) || !cleanByte(buf[j + 1]!) || !cleanByte(buf[j + 2]!) || !cleanByte(buf[j + 3]!)) return false
        }
      }
      i = Math.max(i, b & ~3)
    }
    for (; i < b; i++) if (!cleanByte(buf[i]!)) return false
    return true
  }

  /**
   * `formatJsonLine` for a plain log record (no labels, attributes, incident or event), written
   * field by field: strings go out as UTF-8 between quotes and are checked afterwards for what
   * JSON.stringify would escape (`"`, `\`, control characters; a U+FFFD may have been a lone
   * surrogate): such a line, and every richer record, is left to the reference.
   */
  #encodeJson (rec: NetconsRecord, buf: Buffer, off: number): number {
    if (rec.kind !== 'log' || rec.incident !== undefined || rec.event !== undefined) return -1
    if (Object.keys(rec.host.labels).length > 0 || Object.keys(rec.attributes).length > 0) return -1
    if (Number.isNaN(rec.receivedAt) || Math.abs(rec.receivedAt) > 8.64e15) return -1
    off += ascii(buf, rec.format === 'extended' ? '{"kind":"log","format":"extended","host":' : '{"kind":"log","format":"legacy","host":', off)
    if ((off = jsonString(buf, off, rec.host.name)) < 0) return -1
    off += ascii(buf, ',"address":', off)
    if ((off = jsonString(buf, off, rec.host.address)) < 0) return -1
    off += ascii(buf, ',"receivedAt":"', off)
    off = this.#writeTime(rec.receivedAt, buf, off) - 1 // the cached form ends with a space
    off += ascii(buf, '","facility":', off)
    off = jsonNumber(buf, off, rec.facility)
    off += ascii(buf, ',"level":', off)
    off = jsonNumber(buf, off, rec.level)
    off += ascii(buf, ',"seq":', off)
    off = jsonNumber(buf, off, rec.seq)
    off += ascii(buf, ',"tsUsec":', off)
    off = jsonNumber(buf, off, rec.tsUsec)
    off += ascii(buf, ',"text":', off)
    if ((off = jsonString(buf, off, rec.text)) < 0) return -1
    if (rec.release !== null) {
      off += ascii(buf, ',"release":', off)
      if ((off = jsonString(buf, off, rec.release)) < 0) return -1
    }
    const d = rec.dict
    if (d.length > 0) {
      off += ascii(buf, ',"dict":[', off)
      for (let i = 0; i < d.length; i++) {
        if (i > 0) buf[off++] = 0x2c
        buf[off++] = 0x5b
        if ((off = jsonString(buf, off, d[i]![0])) < 0) return -1
        buf[off++] = 0x2c
        if ((off = jsonString(buf, off, d[i]![1])) < 0) return -1
        buf[off++] = 0x5d
      }
      buf[off++] = 0x5d
    }
    if (rec.contStart) off += ascii(buf, ',"contStart":true', off)
    if (rec.cont) off += ascii(buf, ',"cont":true', off)
    if (rec.oos) off += ascii(buf, ',"oos":true', off)
    if (rec.seqReset) off += ascii(buf, ',"seqReset":true', off)
    if (rec.incomplete) off += ascii(buf, ',"incomplete":true', off)
    if (rec.lostBefore > 0) { off += ascii(buf, ',"lostBefore":', off); off = jsonNumber(buf, off, rec.lostBefore) }
    buf[off++] = 0x7d
    buf[off++] = 0x0a
    return off
  }

  /** The reference line, for what `encode` leaves to it (JSON, lines with control characters). */
  lineString (rec: NetconsRecord): string {
    return this.#json ? formatJsonLine(rec) : formatTextLine(rec)
  }

  #tag (buf: Buffer, off: number, open: string, type: string): number {
    off += ascii(buf, open, off)
    off += utf8Write(buf, type, off)
    buf[off++] = 0x5d
    buf[off++] = 0x20
    return off
  }

  #writeTime (ms: number, buf: Buffer, off: number): number {
    if (ms !== this.#lastMs) {
      const d = new Date(ms)
      const iso = Number.isNaN(d.getTime()) ? '-' : d.toISOString()
      this.#timeLen = ascii(this.#time, iso + ' ', 0)
      this.#lastMs = ms
    }
    const t = this.#time
    for (let i = 0; i < this.#timeLen; i++) buf[off + i] = t[i]!
    return off + this.#timeLen
  }
}

/** What formatTextLine escapes (format.ts): C0 controls but TAB, and DEL. */
const CONTROL = /[\x00-\x08\x0a-\x1f\x7f]/

function cleanByte (c: number): boolean {
  return (c >= 0x20 || c === 0x09) && c !== 0x7f
}

/** A JSON string as JSON.stringify writes it, or -1 when it needs escapes (left to the reference). */
function jsonString (buf: Buffer, off: number, s: string): number {
  buf[off++] = 0x22
  const start = off
  off += utf8Write(buf, s, off)
  for (let i = start; i < off; i++) {
    const c = buf[i]!
    if (c < 0x20 || c === 0x22 || c === 0x5c) return -1
    if (c === 0xef && buf[i + 1] === 0xbf && buf[i + 2] === 0xbd) return -1
  }
  buf[off++] = 0x22
  return off
}

/** A number (or null) as JSON.stringify writes it. */
function jsonNumber (buf: Buffer, off: number, n: number | null): number {
  if (n === null || !Number.isFinite(n)) return off + ascii(buf, 'null', off)
  return writeDigits(buf, off, n, 0)
}
