/**
 * The growable output buffer the batch encoders write into (OTLP protobuf, syslog): one Buffer
 * reused across batches, grown by doubling, with the two writes every encoder needs at per-record
 * rates: a few pre-encoded bytes, and a string as UTF-8 with short ASCII copied by a loop (cheaper
 * than a call into the UTF-8 encoder per field).
 */
const INITIAL_BYTES = 64 * 1024

type Utf8Write = (this: Buffer, s: string, offset: number) => number
const nativeUtf8Write: Utf8Write | undefined = (Buffer.prototype as unknown as { utf8Write?: Utf8Write }).utf8Write

/** `s` as UTF-8 at `off` (room ensured), returning the bytes written: Buffer's own encoder without `write()`'s argument handling. */
export function utf8Write (buf: Buffer, s: string, off: number): number {
  return nativeUtf8Write !== undefined ? nativeUtf8Write.call(buf, s, off) : buf.write(s, off, 'utf8')
}

/** "00".."99" as ASCII pairs: two digits per division. */
const PAIRS = new Uint8Array(200)
for (let i = 0; i < 100; i++) { PAIRS[2 * i] = 0x30 + ((i / 10) | 0); PAIRS[2 * i + 1] = 0x30 + (i % 10) }

/** Decimal digits of 0 ≤ n < 2^31. */
export function decimalDigits (n: number): number {
  return n < 10 ? 1 : n < 100 ? 2 : n < 1000 ? 3 : n < 1e4 ? 4 : n < 1e5 ? 5 : n < 1e6 ? 6 : n < 1e7 ? 7 : n < 1e8 ? 8 : n < 1e9 ? 9 : 10
}

/** 0 ≤ n < 2^31 as decimal digits at `off`, zero-padded to `width`; returns the end. */
function writeInt31 (buf: Buffer, off: number, n: number, width: number): number {
  const digits = decimalDigits(n)
  for (let i = digits; i < width; i++) buf[off++] = 0x30
  let end = off + digits
  let x = n
  while (x >= 100) {
    const q = (x / 100) | 0
    const r = (x - q * 100) << 1
    buf[--end] = PAIRS[r + 1]!
    buf[--end] = PAIRS[r]!
    x = q
  }
  if (x >= 10) { buf[end - 1] = PAIRS[(x << 1) + 1]!; buf[end - 2] = PAIRS[x << 1]! } else buf[end - 1] = 0x30 + x
  return off + digits
}

/**
 * `String(n).padStart(width, '0')` as ASCII bytes at `off` (room for max(width, 24) bytes
 * ensured); returns the end. Integers without a string, also above 2^31 (a kernel timestamp in µs
 * after 36 minutes of uptime): two halves, each in integer arithmetic.
 */
export function writeDigits (buf: Buffer, off: number, n: number, width: number): number {
  if (!(Number.isSafeInteger(n) && n >= 0)) {
    const t = String(n).padStart(width, '0')
    for (let i = 0; i < t.length; i++) buf[off + i] = t.charCodeAt(i)
    return off + t.length
  }
  if (n <= 0x7fffffff) return writeInt31(buf, off, n, width)
  const hi = Math.floor(n / 1e8)
  return writeInt31(buf, writeInt31(buf, off, hi, width - 8), n - hi * 1e8, 8)
}

/** Copies pre-encoded bytes into `d` at `p` (room ensured); returns the end. A few bytes: a loop beats TypedArray.set's call overhead. */
export function putBytes (d: Buffer, p: number, b: Uint8Array): number {
  const n = b.length
  if (n <= 32) { for (let i = 0; i < n; i++) d[p + i] = b[i]! } else d.set(b, p)
  return p + n
}

export class ByteBuffer {
  buf: Buffer = Buffer.allocUnsafe(INITIAL_BYTES)
  pos = 0

  reset (): void { this.pos = 0 }

  ensure (n: number): void {
    if (this.pos + n <= this.buf.length) return
    let size = this.buf.length * 2
    while (size < this.pos + n) size *= 2
    const next = Buffer.allocUnsafe(size)
    this.buf.copy(next, 0, 0, this.pos)
    this.buf = next
  }

  /** Bytes as they are (pre-encoded parts). */
  raw (b: Uint8Array): void {
    const n = b.length
    this.ensure(n)
    const d = this.buf
    const p = this.pos
    // putBytes, written out: as a call from here (OTLP's many small pieces) it measured ~10% slower.
    if (n <= 32) for (let i = 0; i < n; i++) d[p + i] = b[i]!
    else d.set(b, p)
    this.pos = p + n
  }

  /**
   * Copies `s` to `at` if it is ASCII and returns true; false (bytes past `at` are scratch) when
   * it is not. The caller has ensured room for `s.length` bytes at `at`.
   */
  protected asciiAt (s: string, at: number): boolean {
    const d = this.buf
    for (let i = 0; i < s.length; i++) {
      const c = s.charCodeAt(i)
      if (c > 0x7f) return false
      d[at + i] = c
    }
    return true
  }

  /** `s` as UTF-8 at `pos`. */
  utf8 (s: string): void {
    const n = s.length
    if (n <= 48) {
      this.ensure(n)
      if (this.asciiAt(s, this.pos)) { this.pos += n; return }
    }
    this.ensure(n * 3)
    this.pos += utf8Write(this.buf, s, this.pos)
  }
}
