import { test } from 'node:test'
import assert from 'node:assert/strict'
import { HostTable, defaultNcrxConfig } from '../../src/ncrx/hosts.js'
import { ext, harness } from './util.js'

const A = '::ffff:10.0.0.1'
const B = '::ffff:10.0.0.2'
const C = '::ffff:10.0.0.3'

test('defaults are netconsd\'s (spec §4.1) plus our bounds', () => {
  assert.deepEqual(defaultNcrxConfig, {
    slots: 512,
    gapTimeoutMs: 200,
    retxStride: 256,
    oosThreshold: 19,
    oosWindowMs: 5000,
    oosTimeoutMs: 200,
    maxMessageBytes: 65536,
    maxHosts: 32768,
    maxHeldBytesPerHost: 1048576,
    maxHeldBytes: 16777216,
    gcIntervalMs: 0,
    gcAgeMs: 0
  })
})

test('a gap held for host A is released at its deadline with no other traffic (netconsd lost wake-up, §4.4)', () => {
  const h = harness()
  h.send(ext(100, 'a'), 1000, A)
  h.send(ext(102, 'c'), 1000, A)
  h.send(ext(1, 'b1'), 1050, B) // traffic from another host must not disturb A's deadline
  h.send(ext(7, 'x'), 1060, C)
  h.send(ext(9, 'y'), 1100, C) // C gets a later gap of its own
  assert.equal(h.table.nextDeadline(), 1200)
  h.table.runTimers(1200)
  assert.deepEqual(h.recs.filter((r) => r.src === A).map((r) => r.seq), [100, 102])
  assert.equal(h.table.nextDeadline(), 1300, 'C is next')
  h.table.runTimers(1300)
  assert.deepEqual(h.recs.filter((r) => r.src === C).map((r) => r.seq), [7, 9])
  assert.equal(h.table.nextDeadline(), Infinity)
})

test('deadline heap stays correct as many hosts come and go', () => {
  const h = harness()
  const n = 200
  // host i: seq 0, then 2 at time i*3 (deadline i*3 + 200), in scrambled order
  const order = Array.from({ length: n }, (_, i) => (i * 73) % n)
  for (const i of order) {
    const src = `::ffff:10.1.${i >> 8}.${i & 255}`
    h.send(ext(0, 'a'), i * 3, src)
    h.send(ext(2, 'c'), i * 3, src)
  }
  let released = 0
  let last = -Infinity
  while (h.table.nextDeadline() !== Infinity) {
    const t = h.table.nextDeadline()
    assert.ok(t >= last, 'deadlines never go backwards')
    last = t
    h.table.runTimers(t)
    released++
  }
  assert.equal(released, n)
  assert.equal(h.recs.length, 2 * n)
  assert.equal(h.table.counters.lost, n)
})

test('GC forgets hosts idle for more than gcAgeMs, not before, delivering what they hold first', () => {
  const h = harness({ gcIntervalMs: 1000, gcAgeMs: 5000 })
  h.send(ext(1, 'a'), 0, A)
  h.send(ext(3, 'c'), 0, A) // held behind a gap
  h.send(ext(1, 'b'), 0, B)
  assert.equal(h.table.nextDeadline(), 200)
  h.table.runTimers(200)
  assert.equal(h.table.nextDeadline(), 1000, 'next GC run')
  h.send(ext(2, 'b2'), 3000, B)
  h.send(ext(4, 'd'), 4900, A)
  h.send(ext(6, 'f'), 4900, A) // a new gap, held until 5100
  h.table.runTimers(5000)
  assert.equal(h.table.counters.hosts, 2, 'nobody idle > 5000 ms yet')
  h.table.runTimers(5100)
  h.send(ext(8, 'h'), 9950, A)
  h.table.runTimers(8001)
  assert.equal(h.table.counters.hosts, 1, 'B (last seen 3000) forgotten at 8001')
  assert.deepEqual([...h.table.hostStats()].map((s) => s.address), [A])
  assert.equal(h.table.counters.hostsForgotten, 1)
  // A is held (gap at 7) then goes idle; GC flushes its held message before forgetting
  h.table.runTimers(15_001)
  assert.equal(h.table.counters.hosts, 0)
  assert.deepEqual(h.recs.filter((r) => r.src === A).map((r) => r.seq), [1, 3, 4, 6, 8])
  assert.equal(h.table.counters.heldMessages, 0)
  assert.equal(h.table.nextDeadline(), Infinity, 'no hosts: no GC wake-ups')
  // a forgotten host that comes back starts a new stream
  h.send(ext(9, 'i'), 20_000, A)
  assert.equal(h.recs.at(-1)!.seqReset, true)
  assert.equal(h.table.counters.hostsSeen, 3)
})

test('maxHosts: the least recently seen host is evicted (flushed first) and counted', () => {
  const h = harness({ maxHosts: 2 })
  h.send(ext(1, 'a'), 0, A)
  h.send(ext(3, 'a3'), 0, A) // A holds 3 behind a gap
  h.send(ext(1, 'b'), 1, B)
  h.send(ext(5, 'a5'), 2, A) // A is now the most recently seen
  h.send(ext(1, 'c'), 3, C) // evicts B
  assert.deepEqual([...h.table.hostStats()].map((s) => s.address).sort(), [A, C])
  h.send(ext(1, 'd'), 4, B) // evicts A, whose held messages come out first
  assert.deepEqual(h.recs.filter((r) => r.src === A).map((r) => [r.seq, r.lostBefore]), [[1, 0], [3, 1], [5, 1]])
  assert.equal(h.table.counters.drops.host_evicted, 2)
  assert.deepEqual(h.drops.filter((d) => d[0] === 'host_evicted').map((d) => d[1]), [B, A])
  assert.equal(h.table.counters.hosts, 2)
  assert.equal(h.table.counters.heldMessages, 0)
})

test('resolveHost is called once per host; refreshHosts re-resolves every host', () => {
  const calls: string[] = []
  const recs: Array<{ name: string }> = []
  let gen = 1
  const t = new HostTable({
    config: defaultNcrxConfig,
    thread: 0,
    resolveHost: (a) => { calls.push(a); return { name: `${a}#${gen}`, address: a, labels: {} } },
    emit: (r) => { recs.push({ name: r.host.name }) }
  })
  t.receive(A, 1, Buffer.from(ext(1, 'a')), 0, 0)
  t.receive(A, 1, Buffer.from(ext(2, 'b')), 0, 0)
  t.receive(B, 1, Buffer.from('legacy\n'), 0, 0)
  assert.deepEqual(calls, [A, B])
  gen = 2
  t.refreshHosts((a) => ({ name: `${a}#new`, address: a, labels: {} }))
  t.receive(A, 1, Buffer.from(ext(3, 'c')), 0, 0)
  assert.deepEqual(recs.map((r) => r.name), [`${A}#1`, `${A}#1`, `${B}#1`, `${A}#new`])
  assert.deepEqual([...t.hostStats()].map((s) => s.name), [`${A}#new`, `${B}#new`])
})

test('counters and hostStats', () => {
  const h = harness()
  h.send(ext(1, 'a'), 0, A)
  h.send(ext(1, 'a'), 1, A)
  h.send('6,2,1,-,ncfrag=0/4;ab', 2, A)
  h.send('6,2,1,-,ncfrag=2/4;cd', 3, A)
  h.send('legacy line\n', 4, A)
  h.send('6,1x,1,-;bad', 5, A)
  const c = h.table.counters
  assert.deepEqual([c.datagrams, c.extended, c.legacy, c.fragments, c.delivered, c.duplicates, c.hosts, c.hostsSeen, c.malformed.bad_number],
    [6, 4, 1, 2, 3, 1, 1, 1, 1])
  const [s] = [...h.table.hostStats()]
  assert.deepEqual({ ...s }, { address: A, name: `host-${A}`, lost: 0, duplicates: 1, oos: 0, resets: 0, lastSeenMs: 1_700_000_000_004, delivered: 3, incomplete: 0, heldMessages: 0, heldBytes: 0 })
  // counters survive structured clone (the worker posts them)
  assert.deepEqual(structuredClone(c), c)
})

test('the payload buffer may be reused by the caller after receive() returns', () => {
  const h = harness()
  const buf = Buffer.alloc(64)
  const put = (s: string): Buffer => { buf.fill(0); buf.write(s, 'latin1'); return buf.subarray(0, s.length) }
  h.send(put(ext(1, 'one')), 0)
  h.send(put(ext(3, 'three')), 0)
  h.send(put('6,4,1,-,ncfrag=0/6;fo'), 0)
  h.send(put('6,4,1,-,ncfrag=2/6;ur\n'), 0)
  h.send(put(ext(2, 'two')), 0)
  h.table.flushAll(1)
  assert.deepEqual(h.recs.map((r) => r.text), ['one', 'two', 'three', 'four'])
  assert.deepEqual(h.recs.map((r) => r.raw.toString()), ['one', 'two', 'three', 'four'])
})

test('datagrams packed in one batch buffer are parsed in place: only [start, end) is read', () => {
  const h = harness()
  // Three datagrams back to back with no separators, then bytes that would change every parse
  // if they were read (a backslash escape, a newline, a dictionary line).
  const parts = ['6,1,10,-;first', '6,2,20,-;second\n SUBSYSTEM=pci\n', 'legacy console line']
  const tail = '\\x41\n EVIL=1\n'
  const whole = Buffer.from(parts.join('') + tail, 'latin1')
  let off = 0
  for (const p of parts) {
    h.table.receive(A, 6666, whole, 0, 1000, off, off + p.length)
    off += p.length
  }
  h.table.flushAll(1)
  assert.deepEqual(h.recs.map((r) => [r.format, r.seq, r.text, r.dict]), [
    ['extended', 1, 'first', []],
    ['extended', 2, 'second', [['SUBSYSTEM', 'pci']]],
    ['legacy', null, 'legacy console line', []]
  ])
})

test('raw is the bytes text came from, built on first access for plain text, kept for unescaped or invalid bytes', () => {
  const h = harness()
  h.send('6,1,1,-;plain ascii\n', 0)
  h.send('6,2,1,-;caf\\xc3\\xa9 \\xff\n', 0)
  h.send(Buffer.concat([Buffer.from('6,3,1,-;bad '), Buffer.from([0xfe]), Buffer.from('\n')]), 0)
  assert.deepEqual(h.recs.map((r) => r.raw), [
    Buffer.from('plain ascii'),
    Buffer.from([0x63, 0x61, 0x66, 0xc3, 0xa9, 0x20, 0xff]),
    Buffer.from([0x62, 0x61, 0x64, 0x20, 0xfe])
  ])
  assert.equal(h.recs[2]!.text, 'bad \ufffd')
  // raw is an accessor: a spread copy does not carry it, JSON does not show it; it can be replaced.
  const r = h.recs[0]!
  assert.equal('raw' in { ...r }, false)
  assert.equal(JSON.parse(JSON.stringify(r)).raw, undefined)
  assert.equal(JSON.parse(JSON.stringify(r)).text, 'plain ascii')
  r.raw = Buffer.from('x')
  assert.deepEqual(r.raw, Buffer.from('x'))
})
