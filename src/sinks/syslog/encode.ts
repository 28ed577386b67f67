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
 * Records that fit `maxMessageBytes` are written by `FastFormatter` (host parts cached) straight
 * into the batch's buffer; the rest go through the reference formatters (`formatRfc5424` /
 * `formatRfc3164`), which cut and count.
 */
import type { NetconsRecord } from '../../types.js'
import { ByteWriter, FastFormatter } from './fast.js'
import { decimalDigits, writeDigits } from '../byte-buffer.js'
import type { ResolvedSyslogOptions } from './options.js'
import { formatRfc3164 } from './rfc3164.js'
import { formatRfc5424, type Encoded } from './rfc5424.js'

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
  // Reused across batches: the output is written here, then copied out whole (frameBatchView: not copied).
  readonly #w = new ByteWriter()
  /** Octet counting: MSG-LEN digits plus the space of the last message framed. */
  #room = 4

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
    const w = this.#w
    w.pos = 0
    return this.#fast.formatInto(rec, w) < 0 ? this.#reference(rec) : w.copy()
  }

  /**
   * A batch of unframed messages (UDP datagrams) in one buffer, back to back, with their lengths:
   * what one sendmmsg(2) sends.
   */
  messageBatch (batch: readonly NetconsRecord[]): { buf: Buffer, lens: Uint32Array } {
    const lens = new Uint32Array(batch.length)
    const w = this.#w
    w.pos = 0
    for (let i = 0; i < batch.length; i++) {
      const rec = batch[i]!
      let n = this.#fast.formatInto(rec, w)
      if (n < 0) {
        const b = this.#reference(rec)
        w.raw(b)
        n = b.length
      }
      lens[i] = n
    }
    return { buf: w.copy(), lens }
  }

  /** One framed message for a stream transport. */
  frame (rec: NetconsRecord): Buffer {
    return this.frameBatch([rec])
  }

  /**
   * A whole batch as one buffer, so it goes out in one write (a copy: see frameBatchView).
   */
  frameBatch (batch: readonly NetconsRecord[]): Buffer {
    this.frameBatchView(batch)
    return this.#w.copy()
  }

  /**
   * frameBatch without the copy: a view of the encoder's own buffer, valid until the next call on
   * this encoder (the stream transport writes one batch at a time and waits for it). With octet
   * counting each message is written after room for the previous message's MSG-LEN (a stream's
   * messages are mostly the same order of size), and moved only when its own MSG-LEN is longer
   * or shorter.
   */
  frameBatchView (batch: readonly NetconsRecord[]): Buffer {
    const counted = this.#opts.framing === 'octet-counting'
    const lf = this.#opts.framing === 'lf'
    const w = this.#w
    w.pos = 0
    for (let i = 0; i < batch.length; i++) {
      const rec = batch[i]!
      const start = w.pos
      const room = counted ? this.#room : 0
      w.ensure(room)
      w.pos += room
      let n = this.#fast.formatInto(rec, w)
      if (n < 0) {
        const b = this.#reference(rec)
        w.raw(b)
        n = b.length
      }
      if (counted) {
        const head = decimalDigits(n) + 1
        if (head !== room) {
          if (head > room) w.ensure(head - room)
          w.buf.copyWithin(start + head, start + room, start + room + n)
          this.#room = head
        }
        writeDigits(w.buf, start, n, 0)
        w.buf[start + head - 1] = 0x20
        w.pos = start + head + n
      } else if (lf) {
        w.ascii('\n')
      }
    }
    return w.buf.subarray(0, w.pos)
  }
}
