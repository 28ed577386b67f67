/**
 * Scaled-down versions of the fragment attacks of issue 14: what a sender can make a worker hold
 * is bounded in bytes whatever headers claim, and a legitimate host beside the flood is unhurt.
 */
import { test } from 'node:test'
import assert from 'node:assert/strict'
import fc from 'fast-check'
import { harness, fragment } from './util.js'
import { PIECE_OVERHEAD, MSG_OVERHEAD, MIN_RING, WINDOW_SLOT_BYTES } from '../../src/ncrx/ncrx.js'

/** What a host's smallest reorder window is charged while it holds anything. */
const RING = MIN_RING * WINDOW_SLOT_BYTES

const b = (s: string): Buffer => Buffer.from(s, 'latin1')
const spoof = (i: number): string => `::ffff:127.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`

test('a first fragment claiming 64 KiB holds what arrived, not what the header claims', () => {
  const h = harness()
  h.send(b('6,0,1000,-,ncfrag=0/65536;x'), 0)
  assert.equal(h.recs.length, 0)
  assert.equal(h.table.counters.heldMessages, 1)
  assert.equal(h.table.counters.heldBytes, 1 + PIECE_OVERHEAD + MSG_OVERHEAD + RING)
  h.table.runTimers(10_000)
  assert.equal(h.recs.length, 1)
  assert.equal(h.recs[0]!.incomplete, true)
  assert.equal(h.recs[0]!.text, 'x')
  assert.equal(h.table.counters.heldBytes, 0)
})

test('fragment flood from many sources: held bytes stay under ncrx.maxHeldBytes, oldest evicted and counted', () => {
  const maxHeldBytes = 256 * 1024
  const h = harness({ maxHeldBytes })
  let peak = 0
  // 250 sources, each a stream of 60 kB records of which only the first 1000 bytes ever arrive.
  const chunk = 'z'.repeat(1000)
  for (let round = 0; round < 20; round++) {
    for (let s = 0; s < 250; s++) {
      h.send(b(`6,${round},1000,-,ncfrag=0/60000;${chunk}`), round, spoof(s))
      if (h.table.counters.heldBytes > peak) peak = h.table.counters.heldBytes
    }
  }
  assert.ok(peak <= maxHeldBytes, `peak held ${peak}`)
  assert.ok(h.table.counters.drops.held_bytes_global! > 0)
  assert.ok(h.drops.some((d) => d[0] === 'held_bytes_global'))
  // Every record went out once, as incomplete, never lost silently.
  h.table.flushAll(100)
  assert.equal(h.recs.length, 20 * 250)
  assert.ok(h.recs.every((r) => r.incomplete && r.text === chunk))
})

test('a legitimate host beside a fragment flood from 250 sources loses nothing', () => {
  const h = harness({ maxHeldBytes: 512 * 1024 })
  const legit = '::ffff:10.9.9.9'
  let seq = 0
  let t = 0
  for (let round = 0; round < 40; round++) {
    for (let s = 0; s < 250; s++) {
      h.send(b(`6,${round},1000,-,ncfrag=0/65536;${'q'.repeat(30)}`), t, spoof(s))
      // the legitimate host sends one whole record per 25 attack datagrams, some fragmented
      if (s % 25 === 0) {
        const body = b(`legit ${seq} ${'w'.repeat(1500)}`)
        if (seq % 3 === 0) {
          for (const f of fragment(`6,${seq},${seq}`, body, [700, 1200])) h.send(f, t, legit)
        } else {
          h.send(Buffer.concat([b(`6,${seq},${seq},-;`), body]), t, legit)
        }
        seq++
      }
      t += 0.01
    }
  }
  h.table.flushAll(t + 1)
  const got = h.recs.filter((r) => r.src === legit)
  assert.equal(got.length, seq)
  assert.ok(got.every((r) => !r.incomplete && r.text.startsWith(`legit ${r.seq} `)))
  assert.equal([...h.table.hostStats()].find((x) => x.address === legit)!.lost, 0)
})

test('the cost of a fragment follows its own bytes: 2000 one-byte fragments of a 64 KiB record are quick', () => {
  const h = harness({ maxHeldBytesPerHost: 4 * 1024 * 1024 })
  const t0 = process.hrtime.bigint()
  for (let i = 0; i < 2000; i++) h.send(b(`6,0,1000,-,ncfrag=${i * 30}/65536;a`), 0)
  const ms = Number(process.hrtime.bigint() - t0) / 1e6
  assert.equal(h.table.counters.heldBytes, 2000 * (1 + PIECE_OVERHEAD) + MSG_OVERHEAD + RING)
  // rebuilding over all 65536 positions per fragment would be 131M steps; this is ~2000 × log.
  assert.ok(ms < 2000, `${ms} ms`)
  h.table.flushAll(1)
  assert.equal(h.recs[0]!.text, 'a'.repeat(2000))
})

test('property: overlapping and repeated fragments in any order reassemble byte-exact; held bytes return to 0', () => {
  fc.assert(fc.property(
    fc.uint8Array({ minLength: 1, maxLength: 400 }),
    fc.array(fc.tuple(fc.nat(399), fc.nat(120)), { minLength: 1, maxLength: 20 }),
    (raw, ranges) => {
      // printable bytes so the body is its own escape (no \xNN to cut through)
      const body = Buffer.from(raw.map((x) => 0x21 + (x % 90)).filter((x) => x !== 0x5c))
      if (body.length === 0) return
      const h = harness()
      const cover = new Uint8Array(body.length)
      for (const [a0, len] of ranges) {
        const a = a0 % body.length
        const e = Math.min(body.length, a + len + 1)
        h.send(Buffer.concat([b(`6,5,99,-,ncfrag=${a}/${body.length};`), body.subarray(a, e)]), 0)
        cover.fill(1, a, e)
      }
      const complete = cover.every((x) => x === 1)
      if (!complete) {
        // fill the holes last, in reverse order
        for (let i = body.length - 1; i >= 0; i--) {
          if (cover[i] === 0) h.send(Buffer.concat([b(`6,5,99,-,ncfrag=${i}/${body.length};`), body.subarray(i, i + 1)]), 0)
        }
      }
      assert.equal(h.recs.length, 1)
      assert.equal(h.recs[0]!.incomplete, false)
      assert.deepEqual(h.recs[0]!.raw, body)
      assert.equal(h.table.counters.heldBytes, 0)
    }), { numRuns: 300 })
})

test('property: an incomplete record delivers exactly the bytes that arrived, in offset order', () => {
  fc.assert(fc.property(
    fc.integer({ min: 2, max: 300 }),
    fc.array(fc.tuple(fc.nat(299), fc.nat(40)), { minLength: 1, maxLength: 10 }),
    (n, ranges) => {
      const body = Buffer.alloc(n)
      for (let i = 0; i < n; i++) body[i] = 0x41 + (i % 26)
      const h = harness()
      const cover = new Uint8Array(n)
      for (const [a0, len] of ranges) {
        const a = a0 % n
        const e = Math.min(n, a + len + 1)
        h.send(Buffer.concat([b(`6,5,99,-,ncfrag=${a}/${n};`), body.subarray(a, e)]), 0)
        cover.fill(1, a, e)
      }
      h.table.flushAll(1)
      assert.equal(h.recs.length, 1)
      const want = Buffer.from([...body].filter((_, i) => cover[i] === 1))
      assert.deepEqual(h.recs[0]!.raw, want)
      assert.equal(h.recs[0]!.incomplete, want.length < n)
    }), { numRuns: 300 })
})

test('gaps are charged: a message behind a gap of 200 seqs holds its bytes plus the window positions, all returned when it leaves', () => {
  const h = harness()
  h.send('6,0,1000,-;first\n', 0)
  assert.equal(h.table.counters.heldBytes, 0)
  h.send('6,201,1000,-;after the gap\n', 1)
  // 202 positions [1, 201] → the ring doubles from 16 to 256.
  assert.equal(h.table.counters.heldBytes, 'after the gap\n'.length + MSG_OVERHEAD + 256 * WINDOW_SLOT_BYTES)
  h.table.runTimers(1000)
  assert.deepEqual(h.seqs(), [0, 201])
  assert.equal(h.recs[1]!.lostBefore, 200)
  assert.equal(h.table.counters.heldBytes, 0)
})

test('a record held behind a gap leaves with the flags of how it left, its text decoded when it arrived', () => {
  const h = harness()
  h.send('6,10,1000,-;a\n', 0)
  h.send('6,12,1000,-;c \\x41\n', 1) // waits for 11
  h.send('6,13,1000,-;d\n', 2)
  assert.equal(h.recs.length, 1)
  h.send('6,11,1000,-;b\n', 3) // fills the gap: 11, 12, 13 leave in order
  assert.deepEqual(h.seqs(), [10, 11, 12, 13])
  assert.deepEqual(h.recs.map((r) => [r.text, r.lostBefore, r.oos, r.seqReset, r.incomplete]), [
    ['a', 0, false, true, false], ['b', 0, false, false, false], ['c A', 0, false, false, false], ['d', 0, false, false, false]
  ])
  assert.equal(h.recs[2]!.receivedAt, 1_700_000_000_001)
  assert.equal(h.table.counters.heldBytes, 0)
})
