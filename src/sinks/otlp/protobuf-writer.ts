/**
 * A minimal protobuf writer for the OTLP encoder: varints, fixed64, length-delimited fields, on
 * the shared growable buffer (../byte-buffer.ts).
 *
 * Lengths of sub-messages are not computed in a first pass (that would walk every record twice):
 * `begin()` reserves one byte for the length, which fits every message under 128 bytes (most
 * KeyValues); `end()` shifts the message right in the rare case its length needs more bytes.
 */
import { ByteBuffer } from '../byte-buffer.js'

export class ProtobufWriter extends ByteBuffer {
  /** Unsigned varint of a non-negative safe integer (integer arithmetic: no float division per byte). */
  varint (v: number): void {
    this.ensure(10)
    const b = this.buf
    let p = this.pos
    if (v > 0xfffffff) {
      // 2^28 and above (kernel timestamps in µs, wall-clock ns): the low 28 bits as four groups, then the rest.
      const lo = v % 0x10000000
      b[p++] = (lo & 0x7f) | 0x80
      b[p++] = ((lo >>> 7) & 0x7f) | 0x80
      b[p++] = ((lo >>> 14) & 0x7f) | 0x80
      b[p++] = ((lo >>> 21) & 0x7f) | 0x80
      v = (v - lo) / 0x10000000
    }
    while (v > 0x7f) {
      b[p++] = (v & 0x7f) | 0x80
      v >>>= 7
    }
    b[p++] = v
    this.pos = p
  }

  /** int64 varint (two's complement for negatives, 10 bytes), any integral number in int64 range. */
  int64 (v: number): void {
    if (v >= 0 && v <= Number.MAX_SAFE_INTEGER) { this.varint(v); return }
    let u = BigInt.asUintN(64, BigInt(v))
    this.ensure(10)
    while (u > 0x7fn) {
      this.buf[this.pos++] = Number(u & 0x7fn) | 0x80
      u >>= 7n
    }
    this.buf[this.pos++] = Number(u)
  }

  tag (field: number, wire: number): void {
    // Every field number we use is < 16: the tag is one byte.
    this.ensure(1)
    this.buf[this.pos++] = (field << 3) | wire
  }

  fixed64 (lo: number, hi: number): void {
    this.ensure(8)
    const d = this.buf
    const p = this.pos
    d[p] = lo; d[p + 1] = lo >>> 8; d[p + 2] = lo >>> 16; d[p + 3] = lo >>> 24
    d[p + 4] = hi; d[p + 5] = hi >>> 8; d[p + 6] = hi >>> 16; d[p + 7] = hi >>> 24
    this.pos = p + 8
  }

  double (v: number): void {
    this.ensure(8)
    this.buf.writeDoubleLE(v, this.pos)
    this.pos += 8
  }

  /** A string field: tag, length, UTF-8. */
  string (field: number, s: string): void {
    const n = s.length
    // Short ASCII (keys, kernel words, dictionary values): tag, one-byte length, the characters.
    if (n <= 64) {
      this.ensure(n + 2)
      if (this.asciiAt(s, this.pos + 2)) {
        this.buf[this.pos] = (field << 3) | 2
        this.buf[this.pos + 1] = n
        this.pos += 2 + n
        return
      }
    }
    this.tag(field, 2)
    const start = this.begin()
    this.utf8(s)
    this.end(start)
  }

  bytes (field: number, b: Uint8Array): void {
    this.tag(field, 2)
    this.varint(b.length)
    this.ensure(b.length)
    this.buf.set(b, this.pos)
    this.pos += b.length
  }

  /** Starts a length-delimited body (after its tag); returns the mark for `end`. */
  begin (): number {
    this.ensure(1)
    return this.pos++
  }

  end (start: number): void {
    const len = this.pos - start - 1
    if (len < 128) { this.buf[start] = len; return }
    let extra = 0
    for (let v = len; v > 0x7f; v = Math.floor(v / 128)) extra++
    this.ensure(extra)
    this.buf.copyWithin(start + 1 + extra, start + 1, this.pos)
    let p = start
    let v = len
    while (v > 0x7f) {
      this.buf[p++] = (v % 128) | 0x80
      v = Math.floor(v / 128)
    }
    this.buf[p] = v
    this.pos += extra
  }

  /**
   * `begin` for a message that is usually 128–16383 bytes (a LogRecord): two bytes reserved, so
   * the common case needs no shift; a shorter or longer one is moved into place by `end2`.
   */
  begin2 (): number {
    this.ensure(2)
    const start = this.pos
    this.pos += 2
    return start
  }

  end2 (start: number): void {
    const len = this.pos - start - 2
    const b = this.buf
    if (len >= 128 && len < 16384) {
      b[start] = (len & 0x7f) | 0x80
      b[start + 1] = len >>> 7
      return
    }
    // One length byte too many: take it out and write it as `begin` would have.
    b.copyWithin(start + 1, start + 2, this.pos)
    this.pos -= 1
    this.end(start)
  }

  /** A copy of what was written: the buffer is reused while the copy is in flight (and gzipped on the pool). */
  finish (): Uint8Array {
    const out = Buffer.allocUnsafeSlow(this.pos)
    this.buf.copy(out, 0, 0, this.pos)
    return out
  }

  /** What was written, without a copy: valid until the writer is reset and written again. */
  view (): Uint8Array {
    return this.buf.subarray(0, this.pos)
  }
}
