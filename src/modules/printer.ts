/**
 * The `printer` output module: prints every message in C netconsd's printer.so format
 * (its modules/printer.c), so tools that parse netconsd's output keep working.
 *
 *   extended: `%40s: %s S%06seq T%014ts F%d/L%d [CONT START] [CONT] [OOS] [SEQ RESET] text`
 *   legacy:   `%40s: text` (the kernel's line already ends in `\n`, so a blank line follows, as in C)
 *
 * Use it like netconsd's: `netconsd dist/src/modules/printer.js`. The built-in `stdout` sink uses
 * the same formatter.
 */
import { writeSync } from 'node:fs'
import type { NetconsRecord } from '../types.js'

export function formatPrinterLine (rec: NetconsRecord): string {
  const addr = rec.src.padStart(40)
  if (rec.format === 'legacy') return `${addr}: ${rec.text}\n`
  let flags = ''
  if (rec.contStart) flags += '[CONT START] '
  if (rec.cont) flags += '[CONT] '
  if (rec.oos) flags += '[OOS] '
  if (rec.seqReset) flags += '[SEQ RESET] '
  if (rec.incomplete) flags += '[INCOMPLETE] '
  if (rec.lostBefore > 0) flags += `[LOST ${rec.lostBefore}] `
  const seq = String(rec.seq ?? 0).padStart(6, '0')
  const ts = String(rec.tsUsec ?? 0).padStart(14, '0')
  return `${addr}: ${rec.release ?? ''} S${seq} T${ts} F${rec.facility}/L${rec.level ?? 0} ${flags}${rec.text}\n`
}

/**
 * Buffers lines and writes them to a file descriptor in one `write(2)` per event-loop turn, so
 * lines from different worker threads never interleave inside a line.
 */
export class LineWriter {
  readonly #fd: number
  #buf = ''
  #scheduled = false

  constructor (fd: number) {
    this.#fd = fd
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
    const data = Buffer.from(this.#buf)
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

export function init (): void {
  out = new LineWriter(1)
}

export function handler (_thread: number, _src: string, buf: NetconsRecord | null, msg: NetconsRecord | null): void {
  out ??= new LineWriter(1)
  const rec = msg ?? buf
  if (rec !== null) out.push(formatPrinterLine(rec))
}

export function exit (): void {
  out?.flush()
}
