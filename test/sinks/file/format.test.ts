import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import fc from 'fast-check'
import { formatJsonLine, formatTextLine } from '../../../src/sinks/file/format.js'
import { makeTestRecord } from '../conformance.js'

describe('file line formats', () => {
  it('text: time, host, release, S/T/F/L, flags, text', () => {
    const rec = makeTestRecord({ seq: 42, tsUsec: 5_000_123, level: 6, release: '6.12.0', seqReset: true, text: 'hello\n' })
    assert.equal(formatTextLine(rec), '2023-11-14T22:13:20.000Z web-1 6.12.0 S000042 T00000005000123 F0/L6 [SEQ RESET] hello\n')
    const all = makeTestRecord({ seq: 1, tsUsec: 1, contStart: true, cont: true, oos: true, incomplete: true, lostBefore: 3, text: 'x' })
    assert.equal(formatTextLine(all), '2023-11-14T22:13:20.000Z web-1 S000001 T00000000000001 F0/L6 [CONT START] [CONT] [OOS] [INCOMPLETE] [LOST 3] x\n')
  })

  it('text: legacy records carry only the text', () => {
    const rec = makeTestRecord({ format: 'legacy', seq: null, level: null, tsUsec: null, text: '[   1.5] legacy line\n' })
    assert.equal(formatTextLine(rec), '2023-11-14T22:13:20.000Z web-1 [   1.5] legacy line\n')
  })

  it('text: multi-line incidents indent continuation lines; control characters become \\xNN', () => {
    const rec = makeTestRecord({
      kind: 'incident',
      seq: 9,
      tsUsec: 9,
      level: 0,
      text: 'BUG: oops\nCall Trace:\n foo+0x1\x1b[0m\n',
      incident: { type: 'oops', title: 'BUG: oops', signature: 's', function: 'foo', frames: [] }
    })
    assert.equal(formatTextLine(rec),
      '2023-11-14T22:13:20.000Z web-1 S000009 T00000000000009 F0/L0 [INCIDENT oops] BUG: oops\n    Call Trace:\n     foo+0x1\\x1b[0m\n')
  })

  it('json: one parseable object per line', () => {
    const rec = makeTestRecord({ text: 'a\nb "c"', dict: [['K', 'v']] })
    const line = formatJsonLine(rec)
    assert.equal(line.indexOf('\n'), line.length - 1)
    const o = JSON.parse(line)
    assert.equal(o.text, 'a\nb "c"')
    assert.equal(o.host, 'web-1')
    assert.deepEqual(o.dict, [['K', 'v']])
  })

  it('property: any text gives exactly one line per record (json), and text lines start with the stamp', () => {
    fc.assert(fc.property(fc.string({ unit: 'binary', maxLength: 200 }), (text) => {
      const rec = makeTestRecord({ text })
      const j = formatJsonLine(rec)
      assert.equal(j.split('\n').length, 2)
      assert.equal(JSON.parse(j).text, text)
      const t = formatTextLine(rec)
      assert.ok(t.endsWith('\n'))
      // Every physical line after the first is an indented continuation.
      for (const l of t.slice(0, -1).split('\n').slice(1)) assert.ok(l.startsWith('    '))
      assert.ok(!/[\x00-\x08\x0b-\x1f\x7f]/.test(t))
    }), { numRuns: 300 })
  })
})
