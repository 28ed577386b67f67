/**
 * The `printer` output module: prints every message in C netconsd's printer.so format
 * (its modules/printer.c), so tools that parse netconsd's output keep working.
 *
 *   extended: `%40s: %s S%06seq T%014ts F%d/L%d [CONT START] [CONT] [OOS] [SEQ RESET] text`
 *             text in the kernel's escaped form, as libncrx hands it out; two flags C's printer
 *             does not have may appear before it: `[INCOMPLETE] ` (fragments missing at the
 *             timeout) and `[LOST n] ` (n sequence numbers skipped just before)
 *   legacy:   `%40s: text` (the kernel's line already ends in `\n`, so a blank line follows, as in C)
 *
 * Use it like netconsd's: `netconsd dist/src/modules/printer.js`. The built-in `stdout` sink uses
 * the same formatter.
 */
import { writeSync } from 'node:fs'
import type { NetconsRecord } from '../types.js'
import { escapedText, kernelEscape } from '../sinks/module/escape.js'

/**
 * One line, as a latin1 string (one char per byte: write it with `Buffer.from(line, 'latin1')`), so
 * a legacy datagram's bytes come out exactly as sent, invalid UTF-8 included, as C's printf does.
 */
export function formatPrinterLine (rec: NetconsRecord): string {
  const addr = rec.src.padStart(40)
  if (rec.format === 'legacy') return `${addr}: ${rec.kind === 'log' ? rec.raw.toString('latin1') : escaped(rec.text)}\n`
  let flags = ''
  if (rec.contStart) flags += '[CONT START] '
  if (rec.cont) flags += '[CONT] '
  if (rec.oos) flags += '[OOS] '
  if (rec.seqReset) flags += '[SEQ RESET] '
  if (rec.incomplete) flags += '[INCOMPLETE] '
  if (rec.lostBefore > 0) flags += `[LOST ${rec.lostBefore}] `
  const seq = String(rec.seq ?? 0).padStart(6, '0')
  const ts = String(rec.tsUsec ?? 0).padStart(14, '0')
  // The text as netconsd prints it: still in the kernel's `\xNN`-escaped form (an embedded newline
  // stays `\x0a` on one line, UTF-8 stays escaped byte by byte).
  const text = rec.kind === 'log' ? escapedText(rec) : escaped(rec.text)
  return `${addr}: ${rec.release ?? ''} S${seq} T${ts} F${rec.facility}/L${rec.level ?? 0} ${flags}${text}\n`
}

/** Text that did not come from the wire (incidents, events) in the same escaped form. */
function escaped (text: string): string {
  return kernelEscape(Buffer.from(text, 'utf8')).toString('latin1')
}

/**
 * Buffers lines and writes them to a file descriptor in one `write(2)` per event-loop turn, so
 * lines from different worker threads never interleave inside a line.
 */
export class LineWriter {
  readonly #fd: number
  readonly #encoding: BufferEncoding
  #buf = ''
  #scheduled = false

  /** `encoding`: `latin1` for printer lines (bytes as strings), `utf8` for JSON. */
  constructor (fd: number, encoding: BufferEncoding = 'utf8') {
    this.#fd = fd
    this.#encoding = encoding
  }

  push (line: string): void {
    this.#buf += line
    if (this.#buf.length > 65536) this.flush()
    else if (!this.#scheduled) {
      this.#scheduled = true
      setImmediate(() => { this.#scheduled = false; this.flush() })
    }
  }

  flush (): void {
    if (this.#buf === '') return
    const data = Buffer.from(this.#buf, this.#encoding)
    this.#buf = ''
    let off = 0
    while (off < data.length) {
      try {
        off += writeSync(this.#fd, data, off)
      } catch (err) {
        // stdout may be a non-blocking pipe shared with the main thread: wait for room.
        if ((err as NodeJS.ErrnoException).code !== 'EAGAIN') throw err
        Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 1)
      }
    }
  }
}

let out: LineWriter | undefined

/** Asks ncrx to keep each record's wire body, so the text prints exactly as it came. */
export const wantsWireBody = true

export function init (): void {
  out = new LineWriter(1, 'latin1')
}

export function handler (_thread: number, _src: string, buf: NetconsRecord | null, msg: NetconsRecord | null): void {
  out ??= new LineWriter(1, 'latin1')
  const rec = msg ?? buf
  if (rec !== null) out.push(formatPrinterLine(rec))
}

export function exit (): void {
  out?.flush()
}
