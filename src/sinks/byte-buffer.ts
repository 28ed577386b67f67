/**
 * The growable output buffer the batch encoders write into (OTLP protobuf, syslog): one Buffer
 * reused across batches, grown by doubling, with the two writes every encoder needs at per-record
 * rates: a few pre-encoded bytes, and a string as UTF-8 with short ASCII copied by a loop (cheaper
 * than a call into the UTF-8 encoder per field).
 */
const INITIAL_BYTES = 64 * 1024

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
    // A few pre-encoded bytes: a loop beats TypedArray.set's call overhead.
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
    this.pos += this.buf.write(s, this.pos, 'utf8')
  }
}
