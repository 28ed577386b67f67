import { test } from 'node:test'
import assert from 'node:assert/strict'
import fc from 'fast-check'
import { decodeExtendedBody, legacyTsUsec, parseDict, unescapeBytes } from '../../src/ncrx/decode.js'

const b = (s: string): Buffer => Buffer.from(s, 'latin1')
/** What a record's `raw` is for a decoded body: the kept bytes, or the text re-encoded. */
const rawOf = (d: { text: string, raw: Buffer | null }): Buffer => d.raw ?? Buffer.from(d.text, 'utf8')

/** The kernel's escaping (printk.c msg_add_ext_text): bytes < 0x20, >= 0x7f and `\` as \xNN. */
function kernelEscape (raw: Uint8Array): Buffer {
  let s = ''
  for (const c of raw) s += (c < 0x20 || c >= 0x7f || c === 0x5c) ? `\\x${c.toString(16).padStart(2, '0')}` : String.fromCharCode(c)
  return b(s)
}

test('unescape: \\xNN to bytes, text is UTF-8 with U+FFFD for invalid bytes', () => {
  const body = b('tab\\x09here and back\\x5cslash and caf\\xc3\\xa9\n')
  const d = decodeExtendedBody(body, 0, body.length)
  assert.equal(d.text, 'tab\there and back\\slash and café')
  assert.deepEqual(d.raw, Buffer.from('tab\there and back\\slash and café'))
  const inv = decodeExtendedBody(b('x \\xff\\xfe y'), 0, 12)
  assert.deepEqual([...rawOf(inv)], [0x78, 0x20, 0xff, 0xfe, 0x20, 0x79])
  assert.equal(inv.text, 'x \ufffd\ufffd y')
})

test('unescape: incomplete escapes stay literal (6.12 cuts records mid-escape at 2048 bytes)', () => {
  assert.deepEqual(unescapeBytes(b('caf\\xc3\\'), 0, 8), Buffer.concat([b('caf'), Buffer.from([0xc3]), b('\\')]))
  assert.deepEqual(unescapeBytes(b('a\\x'), 0, 3), b('a\\x'))
  assert.deepEqual(unescapeBytes(b('a\\xc'), 0, 4), b('a\\xc'))
  assert.deepEqual(unescapeBytes(b('a\\xzz\\y'), 0, 7), b('a\\xzz\\y'))
  assert.deepEqual(unescapeBytes(b('\\xC3\\xA9'), 0, 8), Buffer.from([0xc3, 0xa9]), 'uppercase hex accepted')
  const d = decodeExtendedBody(b('end \\xc3\\\n'), 0, 10)
  assert.deepEqual(d.raw, Buffer.concat([b('end '), Buffer.from([0xc3]), b('\\')]))
  assert.deepEqual(d.dict, [])
})

test('text/dictionary split at the first newline; dict pairs in wire order, keys may repeat', () => {
  const body = b('e1000e: Link is Up\n SUBSYSTEM=pci\n DEVICE=+pci:0000:00:19.0\n')
  const d = decodeExtendedBody(body, 0, body.length)
  assert.equal(d.text, 'e1000e: Link is Up')
  assert.deepEqual(d.dict, [['SUBSYSTEM', 'pci'], ['DEVICE', '+pci:0000:00:19.0']])
  assert.deepEqual(decodeExtendedBody(b('no newline'), 0, 10).dict, [])
  assert.equal(decodeExtendedBody(b('no newline'), 0, 10).text, 'no newline')
  assert.equal(decodeExtendedBody(b(''), 0, 0).text, '')
})

test('dictionary values are unescaped; userdata/sysdata after them are taken verbatim', () => {
  const body = b('msg\n SUBSYSTEM=net\n DEVICE=n2\\x5cx\n foo=a\\x41b\n cpu=3\n cpu=4\n novalue\n')
  const d = decodeExtendedBody(body, 0, body.length)
  assert.deepEqual(d.dict, [['SUBSYSTEM', 'net'], ['DEVICE', 'n2\\x'], ['foo', 'a\\x41b'], ['cpu', '3'], ['cpu', '4'], ['novalue', '']])
  assert.deepEqual(parseDict(b(' release=6.15.0\n msgid=1\n'), 0, 25), [['release', '6.15.0'], ['msgid', '1']])
})

test('legacy timestamp prefix', () => {
  assert.equal(legacyTsUsec(b('[    5.123456] text\n')), 5123456)
  assert.equal(legacyTsUsec(b('[12345.000001] x')), 12345000001)
  assert.equal(legacyTsUsec(b('[    5.12] short fraction')), 5120000)
  assert.equal(legacyTsUsec(b('klmno\n')), null)
  assert.equal(legacyTsUsec(b('[T123] x')), null)
  assert.equal(legacyTsUsec(b('[    5.123456 no bracket')), null)
  assert.equal(legacyTsUsec(b('[')), null)
})

test('property: unescape(kernelEscape(x)) === x for any bytes', () => {
  fc.assert(fc.property(fc.uint8Array({ maxLength: 300 }), (raw) => {
    const esc = kernelEscape(raw)
    assert.deepEqual(unescapeBytes(esc, 0, esc.length), Buffer.from(raw))
  }))
})

test('property: decode never throws on arbitrary bytes', () => {
  fc.assert(fc.property(fc.uint8Array({ maxLength: 400 }), (u) => {
    const buf = Buffer.from(u)
    const d = decodeExtendedBody(buf, 0, buf.length)
    assert.ok(rawOf(d).length <= buf.length)
    assert.equal(typeof d.text, 'string')
    legacyTsUsec(buf)
  }))
})

test('plain text keeps no copy: raw is left to be re-encoded, and re-encoding gives the bytes back', () => {
  const d = decodeExtendedBody(b('usb 1-1: new device\n'), 0, 20)
  assert.equal(d.raw, null)
  assert.equal(d.text, 'usb 1-1: new device')
  // Unescaped UTF-8 from a userspace sender decodes cleanly: still no copy needed.
  const utf = Buffer.from('café ok', 'utf8')
  const du = decodeExtendedBody(utf, 0, utf.length)
  assert.equal(du.raw, null)
  assert.deepEqual(rawOf(du), utf)
  // Invalid UTF-8 sent unescaped: the replaced bytes are kept.
  const bad = Buffer.from([0x61, 0xff, 0x62])
  assert.deepEqual(decodeExtendedBody(bad, 0, 3).raw, bad)
})

test('decode reads only [start, end) of a larger buffer (a batch of packed datagrams)', () => {
  // Around the body: a backslash escape and a newline that must not be seen.
  const whole = b('\\x41\nBEFORE;plain body\x41 here| SUBSYSTEM=x AFTER\\x42\n tail=1\n')
  const start = whole.indexOf(';') + 1
  const end = whole.indexOf('|')
  const d = decodeExtendedBody(whole, start, end)
  assert.equal(d.text, 'plain bodyA here')
  assert.deepEqual(d.dict, [])
  const s2 = whole.indexOf('plain')
  const e2 = whole.indexOf(' AFTER')
  const d2 = decodeExtendedBody(whole, s2, e2)
  assert.equal(d2.text, 'plain bodyA here| SUBSYSTEM=x')
})

test('property: text and raw agree; raw is the bytes text was decoded from', () => {
  fc.assert(fc.property(fc.uint8Array({ maxLength: 300 }), fc.uint8Array({ maxLength: 20 }), fc.uint8Array({ maxLength: 20 }), (body, pre, post) => {
    const esc = kernelEscape(body)
    const whole = Buffer.concat([Buffer.from(pre), esc, Buffer.from(post)])
    const d = decodeExtendedBody(whole, pre.length, pre.length + esc.length)
    assert.deepEqual(rawOf(d), Buffer.from(body))
    assert.equal(d.text, Buffer.from(body).toString('utf8'))
  }))
})
