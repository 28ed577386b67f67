/**
 * The log records ncrx delivers: one class for extended and legacy records, so every record of
 * the hot path has the same shape, and `raw` is materialised only when something reads it.
 *
 * `raw` is "the bytes `text` was decoded from" (src/types.ts). For most extended records (kernel
 * text with no `\xNN` escape, hence plain ASCII) those bytes are exactly `Buffer.from(text)`, so
 * the record keeps no copy and builds `raw` on first access. When that would not give the same
 * bytes back (the text was unescaped, or decoding replaced invalid UTF-8 with U+FFFD) the bytes
 * are copied when the record is made and `raw` returns them.
 *
 * `raw` is an accessor on the prototype: `{ ...rec }` and `JSON.stringify(rec)` do not include it
 * (read `rec.raw` explicitly, as the disk buffer's codec does); assigning `rec.raw = buf` works.
 */
import type { HostInfo, NetconsRecord, RecordFormat } from '../types.js'

/**
 * The attributes of a record no rule has set any on: one shared, frozen empty object. The router
 * replaces it with a record's own object at the first `set` (records are read-only for sinks and
 * modules, so nothing else writes to it).
 */
export const NO_ATTRIBUTES: Record<string, string> = Object.freeze({})

export class LogRecord implements NetconsRecord {
  readonly kind = 'log' as const
  attributes: Record<string, string> = NO_ATTRIBUTES
  /** The reassembled wire body (escaped text, `\n`, dictionary), kept only when `HostTable.keepWire` is on. */
  wire: Buffer | null = null
  #raw: Buffer | null

  constructor (
    public format: RecordFormat,
    public src: string,
    public srcPort: number,
    public host: HostInfo,
    public thread: number,
    public seq: number | null,
    public facility: number,
    public level: number | null,
    public tsUsec: number | null,
    public text: string,
    /** The bytes of `text`, or null when they are `Buffer.from(text)` (built on first access). */
    raw: Buffer | null,
    public dict: Array<[string, string]>,
    public release: string | null,
    public contStart: boolean,
    public cont: boolean,
    public oos: boolean,
    public seqReset: boolean,
    public incomplete: boolean,
    public lostBefore: number,
    public receivedAt: number
  ) {
    this.#raw = raw
  }

  get raw (): Buffer {
    return this.#raw ??= Buffer.from(this.text, 'utf8')
  }

  set raw (b: Buffer) {
    this.#raw = b
  }
}
