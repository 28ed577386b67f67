import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import fc from 'fast-check'
import { displayAddress, escapeControls, headerField, prival, stripTrailingNewlines, utf8Prefix } from '../../../src/sinks/syslog/fields.js'

describe('syslog fields', () => {
  it('prival', () => {
    assert.equal(prival(0, 0), 0)
    assert.equal(prival(23, 7), 191)
    assert.equal(prival(24, 3), 11, 'out-of-range facility becomes user')
    assert.equal(prival(0, 9), 5, 'out-of-range severity becomes notice')
  })

  it('headerField: NILVALUE, PRINTUSASCII, length', () => {
    assert.equal(headerField('', 10), '-')
    assert.equal(headerField(null, 10), '-')
    assert.equal(headerField('a b\tc', 10), 'a_b_c')
    assert.equal(headerField('abcdef', 3), 'abc')
    assert.equal(headerField('日本', 10), '__')
  })

  it('displayAddress', () => {
    assert.equal(displayAddress('::ffff:192.0.2.1'), '192.0.2.1')
    assert.equal(displayAddress('2001:db8::1'), '2001:db8::1')
  })

  it('escapeControls and stripTrailingNewlines', () => {
    assert.equal(escapeControls('a\nb\tc\x7f'), 'a#012b\tc#177')
    assert.equal(stripTrailingNewlines('x\r\n\n'), 'x')
    assert.equal(stripTrailingNewlines('\n'), '')
  })

  it('property: utf8Prefix never splits a character and never exceeds max', () => {
    fc.assert(fc.property(fc.string({ unit: 'grapheme', maxLength: 60 }), fc.nat(250), (s, max) => {
      const buf = Buffer.from(s)
      const p = utf8Prefix(buf, max)
      assert.ok(p.length <= max || (p.length === buf.length && buf.length <= max))
      assert.ok(buf.subarray(0, p.length).equals(p))
      assert.doesNotThrow(() => new TextDecoder('utf-8', { fatal: true }).decode(p))
      // Maximal: one more character would not fit.
      if (p.length < buf.length) assert.ok(p.length > max - 4)
    }), { numRuns: 500 })
  })
})
