/**
 * Progress of a long offline command (replay, incidents) on stderr, only when stderr is a
 * terminal: one line rewritten in place at most 4 times a second, erased at the end, so pipes
 * and files never see it. Checks the clock every 4096 datagrams to stay off the per-datagram cost.
 */
import { statSync } from 'node:fs'
import { basename } from 'node:path'

export interface Progress {
  /** One more datagram read. */
  datagram (): void
  /** Erase the line. */
  done (): void
}

const NOOP: Progress = { datagram () {}, done () {} }

export function captureProgress (stream: { write: (s: string) => unknown, isTTY?: boolean }, file: string, intervalMs = 250): Progress {
  if (stream.isTTY !== true) return NOOP
  let size = 0
  try { size = statSync(file).size } catch { /* the reader reports it */ }
  const started = performance.now()
  let n = 0
  let shownAt = started
  let shown = false
  return {
    datagram () {
      if ((++n & 4095) !== 0) return
      const t = performance.now()
      if (t - shownAt < intervalMs) return
      shownAt = t
      shown = true
      const mib = size > 0 ? `, ${(size / 2 ** 20).toFixed(1)} MiB capture` : ''
      stream.write(`\r\x1b[K${basename(file)}: ${n.toLocaleString('en-US')} datagrams${mib}, ${((t - started) / 1000).toFixed(1)} s`)
    },
    done () {
      if (shown) stream.write('\r\x1b[K')
    }
  }
}
