/**
 * The ncrx state machine, driven through HostTable with netconsd's parameters: the spec §12
 * vectors, netconsd's bugs fixed (§13), and properties over reordering and fragmentation.
 */
import { test } from 'node:test'
import assert from 'node:assert/strict'
import fc from 'fast-check'
import { OOS_MAX } from '../../src/ncrx/ncrx.js'
import { SRC, ext, fragment, harness } from './util.js'

const b = (s: string): Buffer => Buffer.from(s, 'latin1')

test('§12.1-5: first message seqReset; dict; release; cont flags; no-newline body', () => {
  const h = harness()
  h.send('6,100,5000,-;hello world\n', 1000)
  h.send('6,101,5001,-;with dict\n SUBSYSTEM=net\n DEVICE=+net:eth0\n', 1001)
  h.send('6.5.0-rc1,6,102,5002,-;release prepended\n', 1002)
  h.send('14,103,5003,c;cont start', 1003)
  h.send('14,104,5004,+;cont\n', 1004)
  const [r1, r2, r3, r4, r5] = h.recs
  assert.equal(h.recs.length, 5)
  assert.deepEqual([r1!.seq, r1!.facility, r1!.level, r1!.seqReset, r1!.text, r1!.tsUsec, r1!.format, r1!.kind], [100, 0, 6, true, 'hello world', 5000, 'extended', 'log'])
  assert.deepEqual(r1!.dict, [])
  assert.equal(r1!.release, null)
  assert.equal(r2!.seqReset, false)
  assert.equal(r2!.text, 'with dict')
  assert.deepEqual(r2!.dict, [['SUBSYSTEM', 'net'], ['DEVICE', '+net:eth0']])
  assert.equal(r3!.release, '6.5.0-rc1')
  assert.deepEqual([r4!.facility, r4!.level, r4!.contStart, r4!.cont, r4!.text], [1, 6, true, false, 'cont start'])
  assert.deepEqual([r5!.contStart, r5!.cont], [false, true])
  // record envelope
  assert.equal(r1!.src, SRC)
  assert.equal(r1!.srcPort, 6665)
  assert.equal(r1!.thread, 3)
  assert.equal(r1!.host.name, `host-${SRC}`)
  assert.equal(r1!.receivedAt, 1_700_000_001_000)
  // No copy per record: every record starts with the shared frozen empty object (the router
  // gives a record its own at the first `set`, see the router test).
  assert.deepEqual(r1!.attributes, {})
  assert.ok(Object.isFrozen(r1!.attributes) && r1!.attributes === r2!.attributes)
  for (const r of h.recs) assert.deepEqual([r.oos, r.incomplete, r.lostBefore], [false, false, 0])
})

test('§12.6: two fragments reassemble into one record, delivered when the last arrives', () => {
  const h = harness()
  h.send('6,104,5004,-;before\n', 1000)
  h.send('6,105,5005,-,ncfrag=0/20;first half ', 1005)
  assert.equal(h.recs.length, 1)
  assert.equal(h.table.nextDeadline(), 1205)
  h.send('6,105,5005,-,ncfrag=11/20;2nd half\n', 1006)
  assert.equal(h.recs.length, 2)
  assert.equal(h.recs[1]!.text, 'first half 2nd half')
  assert.equal(h.recs[1]!.receivedAt, 1_700_000_001_006)
  assert.equal(h.table.nextDeadline(), Infinity)
  assert.equal(h.table.counters.fragments, 2)
  assert.equal(h.table.counters.heldBytes, 0)
})

test('§12.7: legacy datagrams are emitted at once, text exactly as sent, not ordered with held extended ones', () => {
  const h = harness()
  h.send(ext(1, 'a'), 0)
  h.send(ext(3, 'c'), 1)
  h.send('[    5.123456] hello legacy\n', 2)
  assert.equal(h.recs.length, 2)
  const l = h.recs[1]!
  assert.deepEqual([l.format, l.seq, l.level, l.facility, l.tsUsec, l.text, l.seqReset, l.lostBefore], ['legacy', null, null, 0, 5123456, '[    5.123456] hello legacy\n', false, 0])
  assert.deepEqual(l.raw, b('[    5.123456] hello legacy\n'))
  assert.deepEqual(l.dict, [])
})

test('§12.9: a gap holds later seqs for gapTimeoutMs, then they come out with lostBefore', () => {
  const h = harness()
  h.send(ext(100, 'a'), 1000)
  h.send(ext(102, 'c'), 1010)
  h.send(ext(103, 'd'), 1050)
  assert.deepEqual(h.seqs(), [100])
  assert.equal(h.table.nextDeadline(), 1210, 'measured from when the gap became known')
  h.table.runTimers(1209)
  assert.deepEqual(h.seqs(), [100])
  h.table.runTimers(1210)
  assert.deepEqual(h.seqs(), [100, 102, 103])
  assert.deepEqual(h.recs.map((r) => r.lostBefore), [0, 1, 0])
  assert.equal(h.table.counters.lost, 1)
  assert.equal(h.table.nextDeadline(), Infinity)
  const [stat] = [...h.table.hostStats()]
  assert.equal(stat!.lost, 1)
  // the skipped seq arriving late is not thrown away: it comes out as oos
  h.send(ext(101, 'b'), 1300)
  h.table.runTimers(1500)
  assert.equal(h.recs.at(-1)!.seq, 101)
  assert.equal(h.recs.at(-1)!.oos, true)
})

test('a second gap gets its own full timeout (activity carried forward, netconsd semantics)', () => {
  const h = harness()
  h.send(ext(1, 'a'), 0)
  h.send(ext(3, 'c'), 0)
  h.send(ext(5, 'e'), 150)
  h.table.runTimers(200)
  assert.deepEqual(h.seqs(), [1, 3])
  assert.equal(h.table.nextDeadline(), 350)
  h.table.runTimers(350)
  assert.deepEqual(h.seqs(), [1, 3, 5])
  assert.deepEqual(h.recs.map((r) => r.lostBefore), [0, 1, 1])
})

test('§12.10: reorder inside the window; a duplicate is counted and dropped', () => {
  const h = harness()
  h.send(ext(30, 'a'), 0)
  h.send(ext(32, 'c'), 1)
  assert.deepEqual(h.seqs(), [30])
  h.send(ext(31, 'b'), 2)
  assert.deepEqual(h.seqs(), [30, 31, 32])
  assert.deepEqual(h.recs.map((r) => r.lostBefore), [0, 0, 0])
  h.send(ext(32, 'c'), 3)
  h.send(ext(31, 'b'), 4)
  assert.equal(h.recs.length, 3)
  assert.equal(h.table.counters.duplicates, 2)
  assert.deepEqual(h.drops.map((d) => d[0]), ['duplicate', 'duplicate'])
  // a duplicate of a held (not yet delivered) message too
  h.send(ext(35, 'f'), 5)
  h.send(ext(35, 'f'), 6)
  assert.equal(h.table.counters.duplicates, 3)
})

test('§12.11/§12.13: empty body; short header accepted with ts unknown', () => {
  const h = harness()
  h.send('6,33,1,-;', 0)
  h.send('6,34;short header\n', 0)
  assert.deepEqual(h.recs.map((r) => [r.seq, r.text, r.tsUsec]), [[33, '', 1], [34, 'short header', null]])
})

test('§12.13: malformed datagrams are counted by reason, never delivered, never crash', () => {
  const h = harness({ maxMessageBytes: 8192 })
  const bad = ['', '6,1a,1,-;x', '6,08,1,-;x', '6,1,1,-,ncfrag=0/9000;x', '6,1,1,-,ncfrag=abc;x',
    '6,1,1,-,ncemg=1,ncemg=2;x', '6,1,1,-,ncfrag=0/5;', '6,1,1,-,ncfrag=6/5;x', '3000,1,1,-;x']
  for (const s of bad) h.send(s, 0)
  assert.equal(h.recs.length, 0)
  const m = h.table.counters.malformed
  assert.deepEqual([m.empty, m.bad_number, m.fragment_too_large, m.bad_fragment, m.duplicate_key, m.empty_fragment, m.fragment_bounds, m.bad_priority], [1, 2, 1, 1, 1, 1, 1, 1])
  assert.equal(h.drops.length, bad.length)
  assert.equal(h.table.counters.hosts, 0, 'garbage does not create host state')
})

test('§12.16: a seq from before the window, long after it moved on, is delivered oos after oosTimeoutMs', () => {
  const h = harness()
  for (let s = 0; s < 30; s++) h.send(ext(s, `m${s}`), s)
  h.send(ext(16, 'old'), 8030)
  assert.equal(h.recs.length, 30)
  assert.equal(h.table.nextDeadline(), 8230)
  h.table.runTimers(8229)
  assert.equal(h.recs.length, 30)
  h.table.runTimers(8230)
  const r = h.recs[30]!
  assert.deepEqual([r.seq, r.oos, r.seqReset, r.lostBefore], [16, true, false, 0])
  assert.equal(h.table.counters.oos, 1)
})

test('a copy of a recently delivered seq is a duplicate, not oos', () => {
  const h = harness()
  for (let s = 0; s < 30; s++) h.send(ext(s, `m${s}`), s * 100)
  h.send(ext(5, 'm5'), 3000)
  h.table.runTimers(4000)
  assert.equal(h.recs.length, 30)
  assert.equal(h.table.counters.duplicates, 1)
})

test('§12.17 fast reboot: a burst from seq 0 resets the stream on the 19th OOS packet, nothing comes out oos', () => {
  const h = harness()
  for (let s = 1000; s <= 1004; s++) h.send(ext(s, `old${s}`), s - 1000)
  let t = 60_000
  for (let s = 0; s <= 24; s++) {
    h.send(ext(s, `new${s}`), t)
    if (s === 17) assert.equal(h.recs.length, 5, 'nothing before the 19th OOS packet')
    t += 10
  }
  h.table.runTimers(t + 1000)
  assert.deepEqual(h.seqs(), [1000, 1001, 1002, 1003, 1004, ...Array.from({ length: 25 }, (_, i) => i)])
  const news = h.recs.slice(5)
  assert.equal(news[0]!.seqReset, true)
  assert.ok(news.slice(1).every((r) => !r.seqReset && !r.oos && r.lostBefore === 0))
  assert.equal(h.table.counters.resets, 1)
  assert.equal(h.table.counters.oos, 0)
  assert.equal(h.table.counters.heldMessages, 0)
})

test('§12.17 slow reboot: 18 oos records, then the 19th OOS packet restarts the stream with seqReset', () => {
  const h = harness()
  for (let s = 1000; s <= 1004; s++) h.send(ext(s, `old${s}`), s - 1000)
  let t = 60_000
  for (let s = 0; s <= 24; s++) {
    h.send(ext(s, `new${s}`), t)
    h.table.runTimers(t + 200)
    t += 1000
  }
  const news = h.recs.slice(5)
  assert.deepEqual(news.map((r) => r.seq), Array.from({ length: 25 }, (_, i) => i))
  assert.ok(news.slice(0, 18).every((r) => r.oos && !r.seqReset))
  assert.deepEqual([news[18]!.oos, news[18]!.seqReset], [false, true])
  assert.ok(news.slice(19).every((r) => !r.oos && !r.seqReset))
  assert.equal(h.table.counters.resets, 1)
  assert.equal(h.table.counters.oos, 18)
  const [stat] = [...h.table.hostStats()]
  assert.deepEqual([stat!.resets, stat!.oos], [1, 18])
})

test('reset with duplicate seqs in the OOS list: no overwrite, no leak (netconsd bug)', () => {
  const h = harness()
  for (let s = 1000; s <= 1004; s++) h.send(ext(s, `old${s}`), s - 1000)
  let t = 60_000
  for (let s = 0; s <= 12; s++) {
    h.send(ext(s, `new${s}`), t)
    h.send(ext(s, `new${s}`), t + 1)
    t += 5
  }
  h.table.runTimers(t + 1000)
  h.table.flushAll(t + 2000)
  const news = h.recs.slice(5)
  assert.deepEqual(news.map((r) => r.seq), Array.from({ length: 13 }, (_, i) => i))
  assert.equal(h.table.counters.heldMessages, 0)
  assert.equal(h.table.counters.heldBytes, 0)
  assert.ok(h.table.counters.duplicates >= 1)
})

test('fragments in reverse order, duplicated, with the first fragment\'s header winning', () => {
  const h = harness()
  h.send(ext(9, 'x'), 0)
  const body = b('0123456789abcdefghij\n SUBSYSTEM=pci\n')
  const frags = fragment('6,10,777,-', body, [7, 14, 25])
  for (const f of [...frags].reverse()) h.send(f, 1)
  h.send(frags[1]!, 2)
  assert.equal(h.recs.length, 2)
  const r = h.recs[1]!
  assert.deepEqual([r.seq, r.text, r.tsUsec, r.incomplete], [10, '0123456789abcdefghij', 777, false])
  assert.deepEqual(r.dict, [['SUBSYSTEM', 'pci']])
  assert.equal(h.table.counters.duplicates, 1)
  // a fragment claiming another total for the same seq is a conflict, not merged
  const h2 = harness()
  h2.send('6,1,1,-,ncfrag=0/20;first half ', 0)
  h2.send('6,1,1,-,ncfrag=15/30;123456789', 1)
  assert.equal(h2.table.counters.drops.seq_conflict, 1)
  h2.send('6,1,1,-,ncfrag=11/20;2nd half\n', 2)
  assert.equal(h2.recs[0]!.text, 'first half 2nd half')
})

test('§12.12: an incomplete fragmented record is delivered at the timeout, flagged, with the bytes that arrived', () => {
  const h = harness()
  h.send('6,1,1,-,ncfrag=0/20;first half ', 100)
  h.send(ext(2, 'after'), 150)
  assert.equal(h.recs.length, 0)
  assert.equal(h.table.nextDeadline(), 300)
  h.table.runTimers(300)
  assert.deepEqual(h.recs.map((r) => [r.seq, r.text, r.incomplete, r.seqReset]), [[1, 'first half ', true, true], [2, 'after', false, false]])
  assert.equal(h.table.counters.incomplete, 1)
  // a middle fragment missing: the text is what arrived, holes left out
  const h2 = harness()
  h2.send('6,1,1,-,ncfrag=0/12;abcd', 0)
  h2.send('6,1,1,-,ncfrag=8/12;ijk\n', 0)
  h2.table.runTimers(200)
  assert.deepEqual([h2.recs[0]!.text, h2.recs[0]!.incomplete], ['abcdijk', true])
})

test('retxStride: a gap is never held behind more than slots-retxStride messages', () => {
  const h = harness()
  h.send(ext(0, 'a'), 0)
  for (let s = 2; s <= 256; s++) h.send(ext(s, 'x'), 1)
  assert.equal(h.recs.length, 1, '255 held behind the gap')
  h.send(ext(257, 'x'), 1)
  assert.equal(h.recs.length, 257, 'the 256th queued forces the gap out')
  assert.equal(h.recs[1]!.seq, 2)
  assert.equal(h.recs[1]!.lostBefore, 1)
  assert.equal(h.table.counters.lost, 1)
})

test('a jump of more than `slots` ahead is out of sequence (netconsd), a jump within it a counted gap', () => {
  const h = harness()
  h.send(ext(0, 'a'), 0)
  h.send(ext(400, 'b'), 1)
  h.table.runTimers(201)
  assert.deepEqual(h.seqs(), [0, 400])
  assert.equal(h.recs[1]!.lostBefore, 399)
  assert.equal(h.table.counters.lost, 399)
  h.send(ext(2000, 'far'), 300)
  h.table.runTimers(500)
  assert.deepEqual([h.recs[2]!.seq, h.recs[2]!.oos], [2000, true])
})

test('more than OOS_MAX out-of-sequence messages: the oldest goes out early (counted)', () => {
  const h = harness()
  let seq = 10_000
  h.send(ext(seq++, 'start'), 0)
  for (let i = 0; i <= OOS_MAX; i++) {
    h.send(ext(i, `oos${i}`), 1)
    h.send(ext(seq++, 'in order'), 1)
  }
  assert.equal(h.table.counters.drops.oos_overflow, 1)
  const early = h.recs.filter((r) => r.oos)
  assert.deepEqual(early.map((r) => r.seq), [0])
  h.table.runTimers(201)
  assert.equal(h.recs.filter((r) => r.oos).length, OOS_MAX + 1)
  assert.equal(h.table.counters.resets, 0)
})

test('maxHeldBytesPerHost: the oldest held data is released early and counted', () => {
  const h = harness({ maxHeldBytesPerHost: 1000 })
  h.send(ext(0, 'a'), 0)
  const text = 'y'.repeat(99)
  for (let s = 2; s <= 20; s++) h.send(ext(s, text), 1)
  // each held body is 100 bytes: at most 10 fit, so the gap at 1 was given up early
  assert.ok(h.recs.length > 1)
  assert.equal(h.recs[1]!.seq, 2)
  assert.equal(h.recs[1]!.lostBefore, 1)
  assert.ok(h.table.counters.drops.held_bytes_cap! >= 1)
  assert.ok(h.table.counters.heldBytes <= 1000)
  assert.ok(h.drops.some((d) => d[0] === 'held_bytes_cap'))
})

test('flushAll delivers what is held: gaps counted, partial fragments incomplete, oos copies', () => {
  const h = harness()
  h.send(ext(5, 'a'), 0)
  h.send(ext(7, 'c'), 1)
  h.send('6,8,1,-,ncfrag=0/10;half', 2)
  h.send(ext(9000, 'far'), 3)
  h.table.flushAll(4)
  assert.deepEqual(h.recs.map((r) => [r.seq, r.lostBefore, r.incomplete, r.oos]), [[5, 0, false, false], [7, 1, false, false], [8, 0, true, false], [9000, 0, false, true]])
  assert.equal(h.table.counters.heldMessages, 0)
  assert.equal(h.table.nextDeadline(), Infinity)
})

test('emergency (ncemg) messages older than the window are duplicates, never oos (netconsd)', () => {
  const h = harness()
  for (let s = 0; s < 10; s++) h.send(ext(s, 'x'), 0)
  h.send('6,3,1,-,ncemg=1;emg\n', 10_000)
  h.table.runTimers(20_000)
  assert.equal(h.recs.length, 10)
  assert.equal(h.table.counters.duplicates, 1)
})

test('hosts are independent; the port is ignored (same address = same stream)', () => {
  const h = harness()
  h.send(ext(1, 'a'), 0, '::ffff:10.0.0.1')
  h.send(ext(500, 'b'), 0, '::ffff:10.0.0.2')
  h.table.receive('::ffff:10.0.0.1', 7777, b(ext(2, 'c')), 1, 1)
  assert.deepEqual(h.recs.map((r) => [r.src, r.seq, r.seqReset, r.srcPort]), [['::ffff:10.0.0.1', 1, true, 6665], ['::ffff:10.0.0.2', 500, true, 6665], ['::ffff:10.0.0.1', 2, false, 7777]])
})

// ── properties ─────────────────────────────────────────────────────────────────────────────

interface Msg { seq: number, raw: Buffer, dict: Array<[string, string]> }

function escapeKernel (raw: Uint8Array): Buffer {
  let s = ''
  for (const c of raw) s += (c < 0x20 || c >= 0x7f || c === 0x5c) ? `\\x${c.toString(16).padStart(2, '0')}` : String.fromCharCode(c)
  return b(s)
}

function bodyOf (m: Msg): Buffer {
  return Buffer.concat([escapeKernel(m.raw), b('\n'), ...m.dict.map(([k, v]) => b(` ${k}=${v}\n`))])
}

const msgArb = fc.record({
  raw: fc.uint8Array({ maxLength: 120 }).map((a) => Buffer.from(a)),
  dict: fc.array(fc.tuple(fc.constantFrom('SUBSYSTEM', 'DEVICE'), fc.stringMatching(/^[a-z0-9:+.]{1,12}$/)), { maxLength: 2 }),
  cuts: fc.array(fc.nat(600), { maxLength: 4 })
})

test('property: any permutation/duplication of a stream within the window gives the same in-order output', () => {
  fc.assert(fc.property(
    fc.nat(1_000_000), fc.array(msgArb, { minLength: 1, maxLength: 40 }), fc.infiniteStream(fc.nat()),
    fc.array(fc.nat(), { maxLength: 20 }),
    (base, specs, rand, dupPicks) => {
      const msgs: Msg[] = specs.map((s, i) => ({ seq: base + i, raw: s.raw, dict: s.dict }))
      const datagrams: Buffer[][] = msgs.map((m, i) => {
        const body = bodyOf(m)
        const cuts = specs[i]!.cuts.filter((c) => c < body.length)
        return cuts.length === 0 ? [Buffer.concat([b(`6,${m.seq},${m.seq * 10},-;`), body])] : fragment(`6,${m.seq},${m.seq * 10},-`, body, cuts)
      })
      // the stream's first datagram must come first (it defines where the stream starts)
      const first = datagrams[0]!.shift()!
      const rest = datagrams.flat()
      for (const d of dupPicks) if (rest.length > 0) rest.push(rest[d % rest.length]!)
      const it = rand[Symbol.iterator]()
      for (let i = rest.length - 1; i > 0; i--) {
        const j = (it.next().value as number) % (i + 1);
        [rest[i], rest[j]] = [rest[j]!, rest[i]!]
      }
      const h = harness()
      h.send(first, 0)
      rest.forEach((d, i) => { h.send(d, 1 + i * 0.1) })
      h.table.flushAll(100)
      assert.deepEqual(h.seqs(), msgs.map((m) => m.seq))
      h.recs.forEach((r, i) => {
        assert.deepEqual(r.raw, msgs[i]!.raw)
        assert.deepEqual(r.dict, msgs[i]!.dict)
        assert.deepEqual([r.oos, r.incomplete, r.lostBefore, r.seqReset], [false, false, 0, i === 0])
      })
      assert.equal(h.table.counters.heldBytes, 0)
    }), { numRuns: 150 })
})

test('property: a record split at any offsets (inside \\xNN escapes too), in any order, reassembles to the unsplit record', () => {
  fc.assert(fc.property(
    fc.uint8Array({ minLength: 1, maxLength: 300 }), fc.array(fc.nat(2000), { minLength: 1, maxLength: 8 }), fc.boolean(),
    (raw, cutsIn, reverse) => {
      const body = Buffer.concat([escapeKernel(raw), b('\n SUBSYSTEM=net\n DEVICE=n2\n foo=bar\n')])
      const cuts = cutsIn.map((c) => c % body.length)
      const frags = fragment('4,77,1234567,-', body, cuts)
      if (reverse) frags.reverse()
      const whole = harness()
      whole.send(Buffer.concat([b('4,77,1234567,-;'), body]), 0)
      const split = harness()
      for (const f of frags) split.send(f, 0)
      assert.equal(split.recs.length, 1)
      const [w, s] = [whole.recs[0]!, split.recs[0]!]
      assert.deepEqual(s.raw, Buffer.from(raw))
      assert.deepEqual([s.text, s.dict, s.seq, s.level, s.tsUsec], [w.text, w.dict, w.seq, w.level, w.tsUsec])
      assert.deepEqual(s.dict, [['SUBSYSTEM', 'net'], ['DEVICE', 'n2'], ['foo', 'bar']])
    }), { numRuns: 300 })
})

test('after a reset, one stray packet of the old stream does not reset the new stream again', () => {
  const h = harness()
  for (let s = 1000; s <= 1004; s++) h.send(ext(s, `old${s}`), s - 1000)
  let t = 60_000
  for (let s = 0; s <= 20; s++) { h.send(ext(s, `new${s}`), t); t += 10 }
  assert.equal(h.table.counters.resets, 1)
  h.send(ext(1005, 'straggler from the old boot'), t)
  h.send(ext(21, 'new21'), t + 1)
  h.table.runTimers(t + 500)
  assert.equal(h.table.counters.resets, 1)
  assert.deepEqual(h.recs.filter((r) => r.oos).map((r) => r.seq), [1005])
  assert.deepEqual(h.recs.filter((r) => !r.oos).slice(-3).map((r) => r.seq), [19, 20, 21])
})
