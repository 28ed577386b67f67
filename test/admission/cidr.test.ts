import { test } from 'node:test'
import assert from 'node:assert/strict'
import fc from 'fast-check'
import { CidrSet, SourceFilter, parseCidr } from '../../src/admission/cidr.js'
import { parseAddress } from '../../src/ingest/batch.js'

function bytes (addr: string): Uint8Array {
  const b = new Uint8Array(16)
  assert.ok(parseAddress(addr, b, 0), addr)
  return b
}

function has (set: CidrSet, addr: string): boolean {
  return set.hasBytes(bytes(addr), 0)
}

test('parseCidr: IPv4 prefixes live in ::ffff:0:0/96, host bits are masked off', () => {
  assert.deepEqual(parseCidr('10.1.2.3/8')?.prefix, 104)
  assert.deepEqual([...(parseCidr('10.1.2.3/8')?.bytes ?? [])].slice(12), [10, 0, 0, 0])
  assert.equal(parseCidr('::ffff:10.0.0.0/104')?.prefix, 104)
  assert.equal(parseCidr('2001:db8::/32')?.prefix, 32)
  assert.equal(parseCidr('192.0.2.7')?.prefix, 128)
  for (const bad of ['10.0.0.0/33', '10.0.0.0/', '2001:db8::/129', 'example.com', '10.0.0.256', '10.0.0.0/8/8', '']) {
    assert.equal(parseCidr(bad), null, bad)
  }
})

test('IPv4, v4-mapped and IPv6 forms of the same network agree', () => {
  const a = new CidrSet(['10.0.0.0/8'])
  const b = new CidrSet(['::ffff:10.0.0.0/104'])
  for (const s of [a, b]) {
    assert.equal(has(s, '10.200.3.4'), true)
    assert.equal(has(s, '::ffff:10.200.3.4'), true)
    assert.equal(has(s, '11.0.0.1'), false)
    assert.equal(has(s, '::a00:1'), false, 'an IPv4-compatible (not mapped) address is IPv6')
  }
  const v6 = new CidrSet(['2001:db8:abcd::/48', '::1'])
  assert.equal(has(v6, '2001:db8:abcd:12::1'), true)
  assert.equal(has(v6, '2001:db8:abce::1'), false)
  assert.equal(has(v6, '::1'), true)
  assert.equal(has(v6, '::2'), false)
  assert.equal(has(new CidrSet(['0.0.0.0/0']), '203.0.113.9'), true)
  assert.equal(has(new CidrSet(['0.0.0.0/0']), '2001:db8::1'), false)
  assert.equal(has(new CidrSet(['::/0']), '203.0.113.9'), true)
  assert.equal(has(new CidrSet([]), '203.0.113.9'), false)
})

test('every invalid entry is reported at once, with the config field', () => {
  assert.throws(() => new CidrSet(['10.0.0.0/8', 'nope', '1.2.3.4/40'], 'admission.allow'), (err: any) => {
    assert.equal(err.code, 'NETCONSD_ERR_ADMISSION_CIDR')
    assert.deepEqual(err.entries, ['nope', '1.2.3.4/40'])
    assert.equal(err.field, 'admission.allow')
    return true
  })
})

/** Reference: compare the first `prefix` bits with BigInt arithmetic. */
function refContains (net: Uint8Array, prefix: number, addr: Uint8Array): boolean {
  const big = (b: Uint8Array): bigint => b.reduce((acc, x) => (acc << 8n) | BigInt(x), 0n)
  const shift = BigInt(128 - prefix)
  return (big(net) >> shift) === (big(addr) >> shift)
}

test('property: membership equals a bit-prefix comparison, for IPv4 and IPv6', () => {
  const v4 = fc.tuple(fc.integer({ min: 0, max: 0xffffffff }), fc.integer({ min: 0, max: 32 }))
    .map(([n, p]) => `${n >>> 24}.${(n >>> 16) & 255}.${(n >>> 8) & 255}.${n & 255}/${p}`)
  const v6 = fc.tuple(fc.array(fc.integer({ min: 0, max: 0xffff }), { minLength: 8, maxLength: 8 }), fc.integer({ min: 0, max: 128 }))
    .map(([w, p]) => `${w.map((x) => x.toString(16)).join(':')}/${p}`)
  const addr = fc.oneof(
    fc.integer({ min: 0, max: 0xffffffff }).map((n) => `::ffff:${n >>> 24}.${(n >>> 16) & 255}.${(n >>> 8) & 255}.${n & 255}`),
    fc.array(fc.integer({ min: 0, max: 0xffff }), { minLength: 8, maxLength: 8 }).map((w) => w.map((x) => x.toString(16)).join(':'))
  )
  fc.assert(fc.property(fc.array(fc.oneof(v4, v6), { minLength: 1, maxLength: 6 }), fc.array(addr, { minLength: 1, maxLength: 10 }), (cidrs, addrs) => {
    const set = new CidrSet(cidrs)
    const parsed = cidrs.map((c) => parseCidr(c)!)
    for (const a of addrs) {
      const b = bytes(a)
      const expected = parsed.some((c) => refContains(c.bytes, c.prefix, b))
      assert.equal(set.hasBytes(b, 0), expected, `${a} in ${cidrs.join(' ')}`)
    }
  }), { numRuns: 300 })
})

test('property: an address inside a random IPv4 network is found, with a derived address just outside not', () => {
  fc.assert(fc.property(fc.integer({ min: 0, max: 0xffffffff }), fc.integer({ min: 1, max: 32 }), (n, p) => {
    const ip = `${n >>> 24}.${(n >>> 16) & 255}.${(n >>> 8) & 255}.${n & 255}`
    const set = new CidrSet([`${ip}/${p}`])
    assert.equal(set.hasBytes(bytes(ip), 0), true)
    const flipped = (n ^ (1 << (32 - p))) >>> 0 // flip the last prefix bit
    const out = `${flipped >>> 24}.${(flipped >>> 16) & 255}.${(flipped >>> 8) & 255}.${flipped & 255}`
    assert.equal(set.hasBytes(bytes(out), 0), false)
  }))
})

test('SourceFilter: deny wins over allow, an empty allow list allows all, rejections are counted by reason', () => {
  const f = new SourceFilter({ allow: ['10.0.0.0/8', '2001:db8::/32'], deny: ['10.66.0.0/16'] })
  assert.equal(f.check('10.1.1.1'), 'allow')
  assert.equal(f.check('::ffff:10.1.1.1'), 'allow')
  assert.equal(f.check('10.66.3.3'), 'denied')
  assert.equal(f.check('192.168.1.1'), 'not_allowed')
  assert.equal(f.check('2001:db8::9'), 'allow')
  assert.equal(f.check('not an address'), 'not_allowed')
  assert.equal(f.allowDatagram('10.66.3.3'), false)
  assert.equal(f.allowDatagram('192.168.1.1'), false)
  assert.equal(f.allowDatagram('10.1.1.1'), true)
  assert.equal(f.allowDatagramBytes(bytes('10.66.0.1'), 0), false)
  assert.equal(f.denied, 2)
  assert.equal(f.notAllowed, 1)

  const open = new SourceFilter({ deny: ['192.0.2.0/24'] })
  assert.equal(open.check('198.51.100.1'), 'allow')
  assert.equal(open.check('192.0.2.1'), 'denied')
  assert.equal(new SourceFilter().passThrough, true)
})

test('SourceFilter: the verdict cache stays bounded under a spoofed-source flood', () => {
  const f = new SourceFilter({ allow: ['10.0.0.0/8'], cacheEntries: 1000 })
  for (let i = 0; i < 200_000; i++) {
    f.allowDatagram(`::ffff:${(i >>> 16) & 255}.${(i >>> 8) & 255}.${i & 255}.${(i * 7) & 255}`)
    assert.ok(f.cacheSize <= 1000)
  }
  assert.equal(f.cacheSize, 1000)
  assert.ok(f.notAllowed > 190_000)
})
