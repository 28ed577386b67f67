import { test } from 'node:test'
import assert from 'node:assert/strict'
import { addressHash, workerFor } from '../../src/ingest/hash.js'
import { parseAddress, formatAddress } from '../../src/ingest/batch.js'

// Vectors measured on C netconsd's listener (research spec §3).
const vectors: Array<[string, number, number, number]> = [
  ['::1', 0xd00138df, 1, 3],
  ['::ffff:127.0.0.1', 0xdf622219, 1, 1],
  ['::', 0xc165f99c, 0, 0],
  ['2401:db00:11:801e:face:0:31:0', 0x9482cbcf, 1, 3],
  ['::ffff:10.10.1.14', 0xccb4f61d, 1, 1]
]

test('worker hash matches C netconsd for its test vectors', () => {
  const b = new Uint8Array(16)
  for (const [addr, hash, mod2, mod4] of vectors) {
    assert.ok(parseAddress(addr, b, 0), addr)
    assert.equal(addressHash(b), hash, addr)
    assert.equal(workerFor(b, 0, 2), mod2, addr)
    assert.equal(workerFor(b, 0, 4), mod4, addr)
  }
})

test('addresses round-trip in the form dgram reports them', () => {
  const b = new Uint8Array(16)
  for (const s of ['::1', '::', '::ffff:127.0.0.1', '2401:db00:11:801e:face:0:31:0', 'fe80::1', '1:2:3:4:5:6:7:8', '::300:0:0:0']) {
    assert.ok(parseAddress(s, b, 0))
    assert.equal(formatAddress(b, 0), s)
  }
  assert.ok(parseAddress('10.1.2.3', b, 0))
  assert.equal(formatAddress(b, 0), '::ffff:10.1.2.3')
  assert.equal(parseAddress('not-an-address', b, 0), false)
  assert.equal(parseAddress('300.1.1.1', b, 0), false)
})
