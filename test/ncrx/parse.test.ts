import { test } from 'node:test'
import assert from 'node:assert/strict'
import fc from 'fast-check'
import { Kind, MAX_HEADER_BYTES, ParsedHeader, parseDatagram, parseDatagramGeneral, parseOne } from '../../src/ncrx/parse.js'
import { captureNames, loadCapture } from './util.js'

const b = (s: string): Buffer => Buffer.from(s, 'latin1')

test('every real-kernel datagram: *-ext-* are extended, *-legacy-* legacy, none malformed', () => {
  const names = captureNames()
  assert.ok(names.length >= 16, 'all kernel captures present')
  const h = new ParsedHeader()
  for (const name of names) {
    const want = name.includes('-ext-') ? Kind.Extended : Kind.Legacy
    for (const d of loadCapture(name)) {
      const k = parseDatagram(d.payload, 65536, h)
      assert.equal(k, want, `${name} datagram ${d.i}: ${d.payload.subarray(0, 60).toString('latin1')}`)
    }
  }
})

test('extended header fields', () => {
  const { kind, header: h } = parseOne(b('6,1042,83756215,-;EXT4-fs (sda1): mounted\n'))
  assert.equal(kind, 'extended')
  assert.deepEqual([h.facility, h.level, h.seq, h.tsUsec, h.contStart, h.cont, h.fragTotal, h.releaseEnd], [0, 6, 1042, 83756215, false, false, -1, 0])
  assert.equal(h.bodyStart, '6,1042,83756215,-;'.length)
})

test('priority: facility*8+level, up to 2047 (kernel facility is a u8; the 6.1 capture has <1000>)', () => {
  assert.deepEqual(pick('12,1,1,-;x'), [1, 4])
  assert.deepEqual(pick('187,1,1,-;x'), [23, 3])
  assert.deepEqual(pick('1000,383,6387398,-;knc: priority 1000\n'), [125, 0])
  assert.deepEqual(pick('2047,1,1,-;x'), [255, 7])
  const r = parseOne(b('2048,1,1,-;x'))
  assert.equal(r.kind, 'malformed')
  assert.equal(r.header.reason, 'bad_priority')
  function pick (s: string): [number, number] {
    const { kind, header } = parseOne(b(s))
    assert.equal(kind, 'extended', s)
    return [header.facility, header.level]
  }
})

test('release prefix is detected inside the header only', () => {
  const p = b('6.12.95+deb12-cloud-amd64,6,363,5456382,-;netpoll: x\n')
  const { kind, header: h } = parseOne(p)
  assert.equal(kind, 'extended')
  assert.equal(p.toString('latin1', h.releaseStart, h.releaseEnd), '6.12.95+deb12-cloud-amd64')
  assert.equal(h.seq, 363)
  // a dot in the body does not make a release
  const q = parseOne(b('6,5,1,-;1.2,3\n'))
  assert.equal(q.kind, 'extended')
  assert.equal(q.header.releaseEnd, 0)
  // release with fragment
  const f = parseOne(b('6.15.0-rc1,6,1200,99887766,-,ncfrag=957/1562;abc'))
  assert.equal(f.kind, 'extended')
  assert.deepEqual([f.header.fragOff, f.header.fragTotal, f.header.seq], [957, 1562, 1200])
})

test('flags, caller=, unknown fields and missing trailing fields', () => {
  assert.equal(parseOne(b('14,103,5003,c;cont start')).header.contStart, true)
  assert.equal(parseOne(b('14,104,5004,+;cont\n')).header.cont, true)
  const x = parseOne(b('6,20,1,-,foo,bar=baz,caller=T1;unknown kv\n'))
  assert.equal(x.kind, 'extended')
  assert.equal(x.header.seq, 20)
  const short = parseOne(b('6,14;short header\n'))
  assert.equal(short.kind, 'extended')
  assert.equal(short.header.tsUsec, -1)
  const empty = parseOne(b('6,104,,;x'))
  assert.equal(empty.kind, 'extended')
  assert.equal(empty.header.tsUsec, -1)
  assert.equal(empty.header.contStart || empty.header.cont, false)
  assert.equal(parseOne(b('6,33,1,-;')).kind, 'extended', 'empty body')
})

test('legacy: anything that does not look like an extended header', () => {
  for (const s of [
    '[    5.123456] e1000e: eth0 NIC Link is Up\n',
    'klmno\n',
    'hello legacy\n',
    'no semicolon',
    '12;foo',
    ';empty header',
    'abc,def;x',
    '6,abc,1,-;x',
    '6 ,1,1,-;x',
    ' 14,16,1,x;x',
    '+6,1,1,-;x',
    '5.1;x',
    '\x00,1,1,-;x',
    'x'.repeat(MAX_HEADER_BYTES + 10) + ';'
  ]) {
    assert.equal(parseOne(b(s)).kind, 'legacy', JSON.stringify(s))
  }
})

test('malformed: looks like a header, but a field is invalid (each with its reason)', () => {
  const cases: Array<[string | Buffer, string, number?]> = [
    [Buffer.alloc(0), 'empty'],
    ['6,1a,1,-;x', 'bad_number'],
    ['6,08,1,-;x', 'bad_number'],
    ['0x1e,15,1,-;x', 'bad_number'],
    ['6,1,abc,-;x', 'bad_number'],
    ['6,99999999999999999999,1,-;x', 'bad_number'],
    ['6,9007199254740992,1,-;x', 'bad_number'],
    ['256000,1,1,-;x', 'bad_priority'],
    ['6,1,1,-,ncfrag=abc;x', 'bad_fragment'],
    ['6,1,1,-,ncfrag=1;x', 'bad_fragment'],
    ['6,1,1,-,ncfrag=0/0;x', 'bad_fragment'],
    ['6,1,1,-,ncfrag=-1/5;x', 'bad_fragment'],
    ['6,1,1,-,ncfrag=0/5,ncfrag=0/5;x', 'duplicate_key'],
    ['6,1,1,-,ncemg=1,ncemg=1;x', 'duplicate_key'],
    ['6,1,1,-,ncemg=z;x', 'bad_number'],
    ['6,1,1,-,ncfrag=0/5;', 'empty_fragment'],
    ['6,1,1,-,ncfrag=5/5;x', 'fragment_bounds'],
    ['6,1,1,-,ncfrag=3/5;xyz', 'fragment_bounds'],
    ['6,1,1,-,ncfrag=0/9000;x', 'fragment_too_large', 8192],
    ['6,1,1,-,ncfrag=0/65537;x', 'fragment_too_large']
  ]
  for (const [s, reason, max] of cases) {
    const r = parseOne(typeof s === 'string' ? b(s) : s, max ?? 65536)
    assert.equal(r.kind, 'malformed', String(s))
    assert.equal(r.header.reason, reason, String(s))
  }
})

test('numbers: 2^53-1 is the largest accepted seq/ts', () => {
  const r = parseOne(b('6,9007199254740991,9007199254740991,-;x'))
  assert.equal(r.kind, 'extended')
  assert.equal(r.header.seq, Number.MAX_SAFE_INTEGER)
  assert.equal(r.header.tsUsec, Number.MAX_SAFE_INTEGER)
  assert.equal(parseOne(b('6,0,0,-;x')).header.seq, 0)
})

test('parses a view at an offset inside a larger buffer (batch layout)', () => {
  const big = Buffer.concat([b('JUNK;JUNK'), b('6,7,8,-;hi\n'), b('MORE')])
  const view = big.subarray(9, 9 + 11)
  const r = parseOne(view)
  assert.equal(r.kind, 'extended')
  assert.equal(r.header.seq, 7)
  assert.equal(view.toString('latin1', r.header.bodyStart), 'hi\n')
})

test('property: never throws on arbitrary bytes; results are self-consistent', () => {
  const h = new ParsedHeader()
  const headerish = fc.array(fc.constantFrom(...'0123456789,;.-c+=/ncfragemx'.split('').map((c) => c.charCodeAt(0))), { maxLength: 60 })
  const bytes = fc.oneof(fc.uint8Array({ maxLength: 1200 }), headerish.map((a) => Uint8Array.from(a)))
  fc.assert(fc.property(bytes, (buf) => {
    const k = parseDatagram(buf, 8192, h)
    assert.ok(k === Kind.Legacy || k === Kind.Extended || k === Kind.Malformed)
    if (k === Kind.Extended) {
      assert.ok(h.bodyStart >= 1 && h.bodyStart <= buf.length)
      assert.equal(buf[h.bodyStart - 1], 0x3b)
      assert.ok(Number.isSafeInteger(h.seq) && h.seq >= 0)
      assert.ok(h.facility >= 0 && h.facility <= 255 && h.level >= 0 && h.level <= 7)
      if (h.fragTotal >= 0) {
        assert.ok(h.fragTotal <= 8192 && h.fragOff < h.fragTotal && h.fragOff + buf.length - h.bodyStart <= h.fragTotal)
        assert.ok(buf.length > h.bodyStart)
      }
    }
  }), { numRuns: 3000 })
})

test('property: generated kernel headers round-trip', () => {
  fc.assert(fc.property(
    fc.integer({ min: 0, max: 2047 }), fc.maxSafeNat(), fc.maxSafeNat(), fc.constantFrom('-', 'c', '+'),
    fc.option(fc.constantFrom('6.1.0-56-cloud-amd64', '6.12.95+deb12-cloud-amd64')), fc.option(fc.nat(99999)),
    fc.string({ maxLength: 50 }),
    (prio, seq, ts, flag, release, caller, text) => {
      const hdr = `${release !== null ? release + ',' : ''}${prio},${seq},${ts},${flag}${caller !== null ? `,caller=T${caller}` : ''}`
      const r = parseOne(Buffer.from(`${hdr};${text}\n`))
      assert.equal(r.kind, 'extended')
      assert.deepEqual([r.header.facility, r.header.level, r.header.seq, r.header.tsUsec], [prio >> 3, prio & 7, seq, ts])
      assert.equal(r.header.contStart, flag === 'c')
      assert.equal(r.header.cont, flag === '+')
      assert.equal(r.header.releaseEnd > 0, release !== null)
    }))
})

test('property: the fast path agrees with the general parser on every generated header, at any offset', () => {
  // Header-ish text: digits (leading zeros too), separators, flags, release dots, spaces, keys.
  const tok = fc.constantFrom('0', '1', '6', '9', '12', '007', '2047', '2048', '9007199254740991', '9007199254740992',
    '12345678901234567', ',', ',', ',', ';', '.', '-', 'c', '+', ' ', '=', '/', 'ncfrag=0/5', 'caller=T1', 'x', '\n', '\xff')
  const num = fc.constantFrom('0', '00', '01', '6', '30', '2047', '2048', '123456', '9007199254740991', '9007199254740992', '12345678901234567', '', '-1', '6.1')
  const flag = fc.constantFrom('-', 'c', '+', '', ',', ';', ' ', 'cc', '\x7f')
  const shaped = fc.tuple(num, num, num, flag, fc.constantFrom(';', ',x;', ',ncfrag=0/3;', '', ' ;', ';;')).map(([p, q, r, f, tail]) => `${p},${q},${r},${f}${tail}`)
  const text = fc.oneof(shaped, fc.array(tok, { maxLength: 14 }).map((a) => a.join('')))
  const fields = ['facility', 'level', 'seq', 'tsUsec', 'contStart', 'cont', 'releaseStart', 'releaseEnd', 'fragOff', 'fragTotal', 'emg', 'bodyStart'] as const
  fc.assert(fc.property(text, fc.string({ maxLength: 8 }), fc.nat(6), fc.nat(6), (t, body, pre, post) => {
    const d = Buffer.from(t + body, 'latin1')
    const whole = Buffer.concat([Buffer.alloc(pre, 0x36), d, Buffer.from(',;9'.repeat(post))])
    const a = new ParsedHeader()
    const b = new ParsedHeader()
    const ka = parseDatagram(whole, 65536, a, pre + d.length, pre)
    const kb = parseDatagramGeneral(whole, 65536, b, pre + d.length, pre)
    assert.equal(ka, kb, JSON.stringify(t + body))
    if (ka === Kind.Extended) for (const f of fields) assert.equal(a[f], b[f], `${f} of ${JSON.stringify(t + body)}`)
    if (ka === Kind.Malformed) assert.equal(a.reason, b.reason)
  }), { numRuns: 5000 })
  // The usual kernel header takes the fast path and gives what the general parser gives.
  for (const h of ['6,1,0,-;x\n', '0,0,0,c;', '2047,9007199254740991,9007199254740991,+;y']) {
    const a = new ParsedHeader()
    const b = new ParsedHeader()
    assert.equal(parseDatagram(Buffer.from(h), 65536, a), parseDatagramGeneral(Buffer.from(h), 65536, b))
    for (const f of fields) assert.equal(a[f], b[f], `${f} of ${h}`)
  }
})
