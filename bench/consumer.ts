/**
 * The per-message work every benchmark receiver does, so the rows differ only in how datagrams
 * arrive: parse the extended header (`<prio>,<seq>,<ts>,<flags>;text`) from the bytes, check each
 * host's sequence (order and gaps), and append one line per message to a file.
 * Counters go to a small JSON status file the bench reads (every 200 ms and at exit).
 *
 * Writers: `line()` (what an output module handed a parsed record does:
 * `<addr> <seq> <level> <ts> <text>`) and `raw()` (the receive-path rows: `<addr> <datagram>`, the
 * same work as rsyslog's `%rawmsg%\n` template plus the address) write bytes into a pooled buffer
 * with no per-message string. Lines are written once 256 KiB are buffered, or 20 ms after the
 * first one, by libuv's thread pool at their file position while the next buffer fills (as rsyslog's omfile
 * writes from its action thread); beyond MAX_INFLIGHT buffers in flight a write is done
 * synchronously (back-pressure).
 */
import { openSync, write, writeSync, writeFileSync, renameSync, closeSync } from 'node:fs'
import { formatAddress, type PacketBatch } from '../src/ingest/batch.js'

const OUT_BYTES = 1 << 20
const MAX_INFLIGHT = 8
const FLUSH_BYTES = 256 * 1024
const FLUSH_MS = 20

export interface ConsumerStatus { count: number, outOfOrder: number, gaps: number, hosts: number }

/** Writes the decimal digits of a non-negative integer below 2^31 at o[u]; returns the new end. */
function writeSmall (o: Buffer, u: number, v: number): number {
  let n = 1
  for (let t = v; t >= 10; t = (t / 10) | 0) n++
  for (let i = u + n - 1; i > u; i--) { const q = (v / 10) | 0; o[i] = 48 + v - q * 10; v = q }
  o[u] = 48 + v
  return u + n
}

/** Writes the decimal digits of a non-negative integer (up to 2^53) at o[u]; returns the new end. */
function writeUint (o: Buffer, u: number, v: number): number {
  if (v < 0x80000000) return writeSmall(o, u, v)
  const hi = Math.floor(v / 1e9)
  u = writeUint(o, u, hi)
  let lo = v - hi * 1e9
  for (let i = u + 8; i >= u; i--) { const q = (lo / 10) | 0; o[i] = 48 + lo - q * 10; lo = q }
  return u + 9
}

interface HostLine { last: number, addr: Buffer }

export class LineConsumer {
  readonly #fd: number
  readonly #statusPath: string
  readonly #v4Ids = new Map<number, number>()
  #scheduled = false
  count = 0
  outOfOrder = 0
  gaps = 0
  readonly #timer: NodeJS.Timeout

  constructor (outPath: string, statusPath: string) {
    // Positional writes: the file's order is the order of flushes, whichever write finishes first.
    this.#fd = openSync(outPath, 'w')
    this.#statusPath = statusPath
    this.#timer = setInterval(() => this.writeStatus(), 200)
    this.#timer.unref()
    this.writeStatus()
  }

  #out: Buffer = Buffer.allocUnsafe(OUT_BYTES)
  readonly #spare: Buffer[] = []
  #pos = 0
  #inflight = 0
  #drained: Array<() => void> = []
  #outUsed = 0
  readonly #lastById: number[] = []
  readonly #addrBytes: Buffer[] = []
  readonly #idByName = new Map<string, number>()

  readonly #hostLines = new Map<string, HostLine>()

  /**
   * One parsed message, as an output module gets it: `<addr> <seq> <level> <ts> <text>\n` written
   * straight into the pooled buffer (digits by hand, the text encoded in place), no per-line string.
   */
  line (addr: string, seq: number, level: number, ts: number, text: string): void {
    this.count++
    let h = this.#hostLines.get(addr)
    if (h === undefined) {
      h = { last: -1, addr: Buffer.from(addr + ' ') }
      this.#hostLines.set(addr, h)
    } else if (seq <= h.last) {
      this.outOfOrder++
    } else if (seq > h.last + 1) {
      this.gaps += seq - h.last - 1
    }
    h.last = seq
    const a = h.addr
    // Worst case: address, three numbers of ≤ 16 digits with spaces, 3 bytes per UTF-16 unit, newline.
    if (this.#outUsed + a.length + 54 + text.length * 3 > this.#out.length) this.flush()
    const o = this.#out
    let u = this.#outUsed
    o.set(a, u)
    u += a.length
    u = writeUint(o, u, seq); o[u++] = 0x20
    u = writeUint(o, u, level); o[u++] = 0x20
    u = writeUint(o, u, ts); o[u++] = 0x20
    u += (o as Buffer & { utf8Write: (s: string, at: number, max: number) => number }).utf8Write(text, u, o.length - u)
    o[u++] = 0x0a
    this.#outUsed = u
    this.#schedule()
  }

  /** A buffer of FLUSH_BYTES is written at once; less waits at most FLUSH_MS (one timer, not one write per event-loop turn). */
  #schedule (): void {
    if (this.#outUsed >= FLUSH_BYTES) { this.flush(); return }
    if (this.#scheduled) return
    this.#scheduled = true
    setTimeout(() => { this.#scheduled = false; this.flush() }, FLUSH_MS)
  }

  /** Host id for an address string (JS path: dgram hands us strings). */
  hostId (addr: string): number {
    let id = this.#idByName.get(addr)
    if (id === undefined) {
      id = this.#addrBytes.length
      this.#idByName.set(addr, id)
      this.#addrBytes.push(Buffer.from(addr + ' '))
      this.#lastById.push(-1)
    }
    return id
  }

  /** One datagram as bytes: seq check, then `<addr> <payload>\n` copied into the pooled buffer. */
  raw (data: Uint8Array, off: number, len: number, host: number): void {
    this.count++
    let i = off
    const end = off + len
    while (i < end && data[i] !== 0x2c) i++
    i++
    let seq = 0
    while (i < end && data[i] !== 0x2c) seq = seq * 10 + data[i++]! - 48
    const last = this.#lastById[host]!
    if (last >= 0) {
      if (seq <= last) this.outOfOrder++
      else if (seq > last + 1) this.gaps += seq - last - 1
    }
    this.#lastById[host] = seq
    const a = this.#addrBytes[host]!
    if (this.#outUsed + a.length + len + 1 > this.#out.length) this.flush()
    const o = this.#out
    let u = this.#outUsed
    u += a.copy(o, u)
    o.set(data.subarray(off, end), u)
    u += len
    if (len === 0 || data[end - 1] !== 0x0a) o[u++] = 0x0a
    this.#outUsed = u
    this.#schedule()
  }

  batch (b: PacketBatch): void {
    const ids = this.#v4Ids
    const a = b.addrs
    for (let k = 0; k < b.count; k++) {
      const o = k * 16
      let id: number | undefined
      // Hosts are few and IPv4 here: resolve each v4-mapped address once, keyed by its 4 bytes.
      if (a[o + 10] === 0xff && a[o + 11] === 0xff && a[o] === 0) {
        const key = ((a[o + 12]! << 24) | (a[o + 13]! << 16) | (a[o + 14]! << 8) | a[o + 15]!) >>> 0
        id = ids.get(key)
        if (id === undefined) { id = this.hostId(formatAddress(a, o)); ids.set(key, id) }
      } else {
        id = this.hostId(formatAddress(a, o))
      }
      this.raw(b.data, b.offsets[k]!, b.lengths[k]!, id)
    }
  }

  flush (): void {
    if (this.#outUsed === 0) return
    const buf = this.#out
    const len = this.#outUsed
    this.#out = this.#spare.pop() ?? Buffer.allocUnsafe(OUT_BYTES)
    this.#outUsed = 0
    this.#write(buf, len)
  }

  /** Writes buf[0, len) at the next file position: in the thread pool, or here when too many are in flight. */
  #write (buf: Buffer, len: number): void {
    const pos = this.#pos
    this.#pos += len
    if (this.#inflight >= MAX_INFLIGHT) {
      let off = 0
      while (off < len) off += writeSync(this.#fd, buf, off, len - off, pos + off)
      this.#spare.push(buf)
      return
    }
    this.#inflight++
    const done = (): void => {
      this.#spare.push(buf)
      if (--this.#inflight === 0) for (const f of this.#drained.splice(0)) f()
    }
    const step = (off: number): void => {
      write(this.#fd, buf, off, len - off, pos + off, (err, n) => {
        if (err !== null) { process.stderr.write(`bench consumer: write failed: ${err.message}\n`); done(); return }
        if (off + n < len) step(off + n)
        else done()
      })
    }
    step(0)
  }

  status (): ConsumerStatus {
    return { count: this.count, outOfOrder: this.outOfOrder, gaps: this.gaps, hosts: this.#lastById.length + this.#hostLines.size }
  }

  writeStatus (): void {
    const tmp = `${this.#statusPath}.tmp`
    writeFileSync(tmp, JSON.stringify(this.status()))
    renameSync(tmp, this.#statusPath)
  }

  /** Flushes, waits for the writes in flight, writes the final status and closes the file. */
  async close (): Promise<void> {
    clearInterval(this.#timer)
    this.flush()
    if (this.#inflight > 0) await new Promise<void>((resolve) => this.#drained.push(resolve))
    this.writeStatus()
    closeSync(this.#fd)
  }
}
