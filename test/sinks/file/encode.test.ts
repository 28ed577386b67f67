/**
 * The file sink's byte encoder writes exactly the reference formatter's bytes (format.ts) for
 * arbitrary records, at any offset of a reused buffer.
 */
import { test } from 'node:test'
import assert from 'node:assert/strict'
import fc from 'fast-check'
import { LineEncoder, maxLineBytes } from '../../../src/sinks/file/encode.js'
import { formatJsonLine, formatTextLine } from '../../../src/sinks/file/format.js'
import { rec } from '../../helpers/records.js'
import type { NetconsRecord } from '../../../src/types.js'

const text = fc.oneof(
  fc.string({ unit: 'grapheme', maxLength: 80 }),
  fc.string({ unit: 'binary', maxLength: 40 }),
  fc.constantFrom('', 'plain kernel line', 'tab\there', 'oops\nline two\n', 'cr\r\n', '\x1b[31mred', 'del\x7f', 'caf\u00e9 \ud83d\ude00', '\ud800 lone', 'ends\n\n\r')
)
const num = fc.oneof(fc.nat({ max: 2 ** 53 - 1 }), fc.constantFrom(0, 9, 10, 99999, 100000, 999999, 1e6, 12345678901234), fc.double())
const record: fc.Arbitrary<NetconsRecord> = fc.record({
  format: fc.constantFrom('extended' as const, 'legacy' as const),
  kind: fc.constantFrom('log' as const, 'log' as const, 'incident' as const, 'event' as const),
  text,
  name: fc.oneof(fc.constantFrom('', 'web-1', 'h\u00f6st'), fc.string({ maxLength: 12 })),
  address: fc.constantFrom('::ffff:10.0.0.1', '2001:db8::1'),
  release: fc.option(fc.oneof(fc.constantFrom('6.12.0-1-amd64'), fc.string({ maxLength: 10 }))),
  seq: fc.option(num), tsUsec: fc.option(num),
  facility: fc.integer({ min: 0, max: 127 }), level: fc.option(fc.integer({ min: 0, max: 7 })),
  flags: fc.array(fc.boolean(), { minLength: 5, maxLength: 5 }),
  lostBefore: fc.oneof(fc.constant(0), fc.nat({ max: 100000 })),
  receivedAt: fc.oneof(fc.integer({ min: 0, max: 4102444800000 }), fc.constantFrom(NaN, 1.5, -1, 8.64e15 + 1)),
  type: fc.constantFrom('oops', 'panic', 'new_host', 'w\u00e4rn'),
  dict: fc.array(fc.tuple(fc.string({ maxLength: 8 }), fc.string({ maxLength: 12 })), { maxLength: 3 }),
  labels: fc.oneof(fc.constant({}), fc.constant({ rack: 'r1' }))
}).map((r) => rec({
  dict: r.dict,
  format: r.format, kind: r.kind, text: r.text, host: { name: r.name, address: r.address, labels: r.labels }, src: r.address,
  release: r.release, seq: r.seq, tsUsec: r.tsUsec, facility: r.facility, level: r.level,
  contStart: r.flags[0]!, cont: r.flags[1]!, oos: r.flags[2]!, seqReset: r.flags[3]!, incomplete: r.flags[4]!,
  lostBefore: r.lostBefore, receivedAt: r.receivedAt,
  ...(r.kind === 'incident' ? { incident: { type: r.type, title: 't', signature: 's', function: null, frames: [] } } : {}),
  ...(r.kind === 'event' ? { event: { type: r.type } } : {})
}))

test('the byte encoder gives the reference formatter\'s bytes for arbitrary records, at any offset', () => {
  const enc = new LineEncoder('text')
  const buf = Buffer.alloc(64 * 1024)
  fc.assert(fc.property(fc.array(record, { minLength: 1, maxLength: 8 }), fc.nat({ max: 1000 }), (recs, at) => {
    let off = at
    const want: Buffer[] = []
    for (const r of recs) {
      const ref = Buffer.from(formatTextLine(r))
      want.push(ref)
      assert.ok(maxLineBytes(r) >= ref.length || enc.encode(r, buf, off) < 0, 'the bound covers the fast path')
      let end = enc.encode(r, buf, off)
      if (end < 0) end = off + buf.write(enc.lineString(r), off, 'utf8')
      assert.equal(buf.toString('latin1', off, end), ref.toString('latin1'))
      off = end
    }
    assert.deepEqual(buf.subarray(at, off), Buffer.concat(want))
  }), { numRuns: 2000 })
})

test('the JSON byte encoder gives formatJsonLine\'s bytes for arbitrary records', () => {
  const enc = new LineEncoder('json')
  const buf = Buffer.alloc(64 * 1024)
  let fast = 0
  fc.assert(fc.property(record, fc.nat({ max: 500 }), (r, at) => {
    let ref: string
    try { ref = formatJsonLine(r) } catch { return } // an invalid date: the reference throws, the sink counts encode_error
    const end = enc.encode(r, buf, at)
    if (end < 0) return
    fast++
    assert.ok(end - at <= maxLineBytes(r))
    assert.equal(buf.toString('utf8', at, end), ref)
  }), { numRuns: 3000 })
  assert.ok(fast > 100, `the fast path was taken (${fast})`)
})

test('plain kernel lines take the fast path; lines with control characters fall back to the reference', () => {
  const enc = new LineEncoder('text')
  const buf = Buffer.alloc(4096)
  assert.ok(enc.encode(rec({ text: 'usb 1-1: new high-speed USB device\n' }), buf, 0) > 0)
  assert.equal(enc.encode(rec({ text: 'line one\nline two' }), buf, 0), -1)
  assert.ok(new LineEncoder('json').encode(rec(), buf, 0) > 0)
  assert.equal(new LineEncoder('json').encode(rec({ text: 'say "hi"' }), buf, 0), -1)
})
