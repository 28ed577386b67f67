import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import fc from 'fast-check'
import { ByteBuffer, utf8Write, writeDigits } from '../../src/sinks/byte-buffer.js'

describe('byte-buffer helpers', () => {
  it('writeDigits writes String(n).padStart(width, "0") for every number, with the end returned', () => {
    const buf = Buffer.alloc(64)
    const edges = [0, 9, 10, 99, 100, 999, 1000, 9999, 1e4, 99999, 1e5, 999999, 1e6, 1e7 - 1, 1e8, 1e9 - 1, 1e9,
      2 ** 31 - 1, 2 ** 31, 1e10 + 7, 99999999999, 2 ** 53 - 1, -1, 1.5, NaN, Infinity, 2 ** 60]
    const n = fc.oneof(fc.constantFrom(...edges), fc.nat(), fc.integer({ min: 0, max: Number.MAX_SAFE_INTEGER }), fc.double())
    fc.assert(fc.property(n, fc.integer({ min: 0, max: 20 }), fc.integer({ min: 0, max: 8 }), (v, width, at) => {
      buf.fill(0x78)
      const want = String(v).padStart(width, '0')
      const end = writeDigits(buf, at, v, width)
      assert.equal(buf.toString('latin1', at, end), want)
      assert.equal(end, at + want.length)
      assert.equal(buf[end], 0x78, 'nothing written past the end')
    }), { numRuns: 3000 })
  })

  it('utf8Write and ByteBuffer.utf8 write the UTF-8 of any string', () => {
    fc.assert(fc.property(fc.string({ unit: 'binary', maxLength: 200 }), (s) => {
      const buf = Buffer.alloc(s.length * 3 + 8)
      const n = utf8Write(buf, s, 3)
      assert.ok(buf.subarray(3, 3 + n).equals(Buffer.from(s, 'utf8')))
      const w = new ByteBuffer()
      w.utf8('a')
      w.utf8(s)
      assert.ok(w.buf.subarray(0, w.pos).equals(Buffer.from('a' + s, 'utf8')))
    }))
  })
})
