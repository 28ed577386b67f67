/**
 * The encoder as it was before the per-host fast path (commit bf74dff), kept as the reference
 * for fast.test.ts: the new one must produce the same bytes.
 *
 * Record → bytes on the wire: the chosen message format plus the transport's framing.
 *
 * - UDP (RFC 5426 §3.1): one message per datagram, no framing.
 * - TCP/TLS octet counting (RFC 6587 §3.4.1, mandatory for TLS by RFC 5425 §4.3):
 *   `MSG-LEN SP SYSLOG-MSG`, MSG-LEN counting the octets of SYSLOG-MSG only. Newlines inside a
 *   message are safe.
 * - TCP LF framing (RFC 6587 §3.4.2, "non-transparent"): message + LF; a newline inside a
 *   message would split it, so it is only allowed with `multiline: "escape"`.
 */
import type { NetconsRecord } from '../../../src/types.js'
import type { ResolvedSyslogOptions } from '../../../src/sinks/syslog/options.js'
import { formatRfc3164 } from '../../../src/sinks/syslog/rfc3164.js'
import { formatRfc5424, type Encoded } from '../../../src/sinks/syslog/rfc5424.js'

const LF = Buffer.from('\n')

export class ReferenceSyslogEncoder {
  /** Messages whose MSG was cut to fit `maxMessageBytes`. */
  truncated = 0
  /** Structured-data elements left out to fit `maxMessageBytes`. */
  sdElementsDropped = 0
  readonly #opts: ResolvedSyslogOptions
  // A retried batch hands the same record objects again: encode (and count truncation) once.
  readonly #cache = new WeakMap<NetconsRecord, Buffer>()

  constructor (opts: ResolvedSyslogOptions) {
    this.#opts = opts
  }

  /** The SYSLOG-MSG alone (what a UDP datagram carries). */
  message (rec: NetconsRecord): Buffer {
    const cached = this.#cache.get(rec)
    if (cached !== undefined) return cached
    const e: Encoded = this.#opts.format === 'rfc3164' ? formatRfc3164(rec, this.#opts) : formatRfc5424(rec, this.#opts)
    if (e.truncated) this.truncated++
    this.sdElementsDropped += e.sdElementsDropped
    this.#cache.set(rec, e.bytes)
    return e.bytes
  }

  /** One framed message for a stream transport. */
  frame (rec: NetconsRecord): Buffer {
    const msg = this.message(rec)
    if (this.#opts.framing === 'lf') return Buffer.concat([msg, LF])
    if (this.#opts.framing === 'octet-counting') return Buffer.concat([Buffer.from(`${msg.length} `), msg])
    return msg
  }

  /** A whole batch as one buffer, so it goes out in one write. */
  frameBatch (batch: readonly NetconsRecord[]): Buffer {
    return Buffer.concat(batch.map((r) => this.frame(r)))
  }
}
