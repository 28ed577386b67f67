/**
 * A batch of received datagrams, the unit handed from a receive path to a worker.
 *
 * Both receive paths produce it: the native recvmmsg addon (one batch per recvmmsg call, inside
 * the worker) and the JS fallback (dgram on the main thread, one transferred batch per worker per
 * event-loop turn). Payloads are packed back to back in `data`; per-packet metadata lives in typed
 * arrays so a batch costs a handful of allocations however many datagrams it holds.
 */
export interface PacketBatch {
  /** Number of datagrams. */
  count: number
  /** Payload bytes, packed. */
  data: Uint8Array
  /** Start of datagram i in `data`. */
  offsets: Uint32Array
  /** Length of datagram i. */
  lengths: Uint32Array
  /** Sender address of datagram i: 16 bytes each, IPv6 (IPv4 as ::ffff:a.b.c.d). */
  addrs: Uint8Array
  /** Sender UDP port of datagram i. */
  ports: Uint16Array
  /** Wall-clock receive time of the batch, ms since the epoch (one stamp per batch, as netconsd). */
  rxMs: number
}

/** Formats 16 address bytes as the string Node's dgram would report (`::ffff:1.2.3.4`, `::1`). */
export function formatAddress (b: Uint8Array, off: number): string {
  // v4-mapped: ::ffff:a.b.c.d
  let v4 = true
  for (let i = 0; i < 10; i++) if (b[off + i] !== 0) { v4 = false; break }
  if (v4 && b[off + 10] === 0xff && b[off + 11] === 0xff) {
    return `::ffff:${b[off + 12]!}.${b[off + 13]!}.${b[off + 14]!}.${b[off + 15]!}`
  }
  const words: number[] = []
  for (let i = 0; i < 16; i += 2) words.push((b[off + i]! << 8) | b[off + i + 1]!)
  // RFC 5952: compress the longest run (>= 2) of zero words.
  let bestStart = -1; let bestLen = 0
  for (let i = 0; i < 8;) {
    if (words[i] !== 0) { i++; continue }
    let j = i
    while (j < 8 && words[j] === 0) j++
    if (j - i > bestLen && j - i >= 2) { bestStart = i; bestLen = j - i }
    i = j
  }
  const hex = words.map((w) => w.toString(16))
  if (bestStart < 0) return hex.join(':')
  const head = hex.slice(0, bestStart).join(':')
  const tail = hex.slice(bestStart + bestLen).join(':')
  return `${head}::${tail}`
}

/** Parses an address string (IPv4, IPv6, or v4-mapped) into 16 bytes at `out[off]`. Returns false if it is not an address. */
export function parseAddress (s: string, out: Uint8Array, off: number): boolean {
  out.fill(0, off, off + 16)
  const v4 = /^(?:::ffff:)?(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/i.exec(s)
  if (v4 !== null) {
    out[off + 10] = 0xff; out[off + 11] = 0xff
    for (let i = 0; i < 4; i++) {
      const n = Number(v4[i + 1])
      if (n > 255) return false
      out[off + 12 + i] = n
    }
    return true
  }
  let addr = s
  const pct = addr.indexOf('%')
  if (pct >= 0) addr = addr.slice(0, pct)
  if (!/^[0-9a-f:.]+$/i.test(addr)) return false
  const dbl = addr.split('::')
  if (dbl.length > 2) return false
  const parseWords = (part: string): number[] | null => {
    if (part === '') return []
    const out: number[] = []
    for (const w of part.split(':')) {
      if (w.includes('.')) {
        const m = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(w)
        if (m === null) return null
        const q = m.slice(1).map(Number)
        if (q.some((x) => x > 255)) return null
        out.push((q[0]! << 8) | q[1]!, (q[2]! << 8) | q[3]!)
      } else {
        if (!/^[0-9a-f]{1,4}$/i.test(w)) return null
        out.push(parseInt(w, 16))
      }
    }
    return out
  }
  const head = parseWords(dbl[0]!)
  const tail = dbl.length === 2 ? parseWords(dbl[1]!) : []
  if (head === null || tail === null) return false
  if (dbl.length === 1 && head.length !== 8) return false
  if (dbl.length === 2 && head.length + tail.length > 7) return false
  const words = [...head, ...new Array<number>(8 - head.length - tail.length).fill(0), ...tail]
  for (let i = 0; i < 8; i++) { out[off + 2 * i] = words[i]! >> 8; out[off + 2 * i + 1] = words[i]! & 0xff }
  return true
}
