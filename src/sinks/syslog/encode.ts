/**
 * Record → bytes on the wire: the chosen message format plus the transport's framing.
 *
 * - UDP (RFC 5426 §3.1): one message per datagram, no framing.
 * - TCP/TLS octet counting (RFC 6587 §3.4.1, mandatory for TLS by RFC 5425 §4.3):
 *   `MSG-LEN SP SYSLOG-MSG`, MSG-LEN counting the octets of SYSLOG-MSG only. Newlines inside a
 *   message are safe.
 * - TCP LF framing (RFC 6587 §3.4.2, "non-transparent"): message + LF; a newline inside a
 *   message would split it, so it is only allowed with `multiline: "escape"`.
 *
 * Records that fit `maxMessageBytes` are formatted by `FastFormatter` (host parts cached) into
 * one string each and written straight into the batch's buffer; the rest go through the
 * reference formatters (`formatRfc5424` / `formatRfc3164`), which cut and count.
 */
import type { NetconsRecord } from '../../types.js'
import { FastFormatter } from './fast.js'
import type { ResolvedSyslogOptions } from './options.js'
import { formatRfc3164 } from './rfc3164.js'
import { formatRfc5424, type Encoded } from './rfc5424.js'

const LF = Buffer.from('\n')

export class SyslogEncoder {
  /** Messages whose MSG was cut to fit `maxMessageBytes`. */
  truncated = 0
  /** Structured-data elements left out to fit `maxMessageBytes`. */
  sdElementsDropped = 0
  readonly #opts: ResolvedSyslogOptions
  readonly #fast: FastFormatter
  // A retried batch hands the same record objects again: cut (and count the cut) once. Only
  // records that needed cutting are kept; the fast path is deterministic, so it needs no cache.
  readonly #cut = new WeakMap<NetconsRecord, Buffer>()
  // Reused across batches: the first pass's strings (or reference buffers) and lengths.
  #parts: Array<string | Buffer> = []
  #lens: number[] = []

  constructor (opts: ResolvedSyslogOptions) {
    this.#opts = opts
    this.#fast = new FastFormatter(opts)
  }

  #reference (rec: NetconsRecord): Buffer {
    const cached = this.#cut.get(rec)
    if (cached !== undefined) return cached
    const e: Encoded = this.#opts.format === 'rfc3164' ? formatRfc3164(rec, this.#opts) : formatRfc5424(rec, this.#opts)
    if (e.truncated) this.truncated++
    this.sdElementsDropped += e.sdElementsDropped
    if (e.truncated || e.sdElementsDropped > 0) this.#cut.set(rec, e.bytes)
    return e.bytes
  }

  /** The SYSLOG-MSG alone (what a UDP datagram carries). */
  message (rec: NetconsRecord): Buffer {
    const f = this.#fast.format(rec)
    if (f === null) return this.#reference(rec)
    if (f.bomAt < 0) return Buffer.from(f.s)
    const b = Buffer.allocUnsafe(f.bytes)
    const n = b.write(f.s.slice(0, f.bomAt))
    b[n] = 0xef; b[n + 1] = 0xbb; b[n + 2] = 0xbf
    b.write(f.s.slice(f.bomAt), n + 3)
    return b
  }

  /**
   * A batch of unframed messages (UDP datagrams) in one buffer, back to back, with their lengths:
   * what one sendmmsg(2) sends.
   */
  messageBatch (batch: readonly NetconsRecord[]): { buf: Buffer, lens: Uint32Array } {
    const lens = new Uint32Array(batch.length)
    const parts = this.#parts
    let total = 0
    for (let i = 0; i < batch.length; i++) {
      const rec = batch[i]!
      const f = this.#fast.format(rec)
      if (f === null || f.bomAt >= 0) {
        const b = f === null ? this.#reference(rec) : this.message(rec)
        parts[i] = b
        lens[i] = b.length
      } else {
        parts[i] = f.s
        lens[i] = f.bytes
      }
      total += lens[i]!
    }
    const buf = Buffer.allocUnsafe(total)
    let off = 0
    for (let i = 0; i < batch.length; i++) {
      const p = parts[i]!
      off += typeof p === 'string' ? buf.write(p, off) : p.copy(buf, off)
    }
    parts.length = 0
    return { buf, lens }
  }

  /** One framed message for a stream transport. */
  frame (rec: NetconsRecord): Buffer {
    return this.frameBatch([rec])
  }

  /** A whole batch as one buffer, so it goes out in one write: one allocation per batch. */
  frameBatch (batch: readonly NetconsRecord[]): Buffer {
    const framing = this.#opts.framing
    const parts = this.#parts
    const lens = this.#lens
    let total = 0
    for (let i = 0; i < batch.length; i++) {
      const rec = batch[i]!
      const f = this.#fast.format(rec)
      let len: number
      if (f === null || f.bomAt >= 0) {
        const b = f === null ? this.#reference(rec) : this.message(rec)
        parts[i] = b
        len = b.length
      } else {
        parts[i] = f.s
        len = f.bytes
      }
      lens[i] = len
      total += len + (framing === 'lf' ? 1 : framing === 'octet-counting' ? String(len).length + 1 : 0)
    }
    const out = Buffer.allocUnsafe(total)
    let off = 0
    for (let i = 0; i < batch.length; i++) {
      const p = parts[i]!
      const len = lens[i]!
      if (framing === 'octet-counting') off += out.write(len + ' ', off, 'latin1')
      if (typeof p === 'string') off += out.write(p, off)
      else off += p.copy(out, off)
      if (framing === 'lf') out[off++] = LF[0]!
    }
    // Let the records' strings go; the arrays keep their capacity for the next batch.
    parts.length = 0
    return out
  }
}
