import { test } from 'node:test'
import assert from 'node:assert/strict'
import { mkdtemp, rm, readdir, readFile, writeFile, stat, truncate, open } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { DiskQueue } from '../../../../src/sinks/delivery/buffer/disk-queue.js'

async function tmp (t: { after: (fn: () => Promise<void>) => void }): Promise<string> {
  const d = await mkdtemp(join(tmpdir(), 'netconsd-dq-'))
  t.after(() => rm(d, { recursive: true, force: true }))
  return d
}

const rec = (i: number, size = 100): Buffer => Buffer.from(`${String(i).padStart(8, '0')}:${'x'.repeat(size - 9)}`)
const num = (b: Buffer): number => Number(b.toString('latin1', 0, 8))

async function readAll (q: DiskQueue): Promise<number[]> {
  const out: number[] = []
  for (;;) {
    const batch = await q.read(1000)
    if (batch.length === 0) return out
    out.push(...batch.map(num))
  }
}

const segments = async (dir: string): Promise<string[]> => (await readdir(dir)).filter((n) => n.endsWith('.seg')).sort()

test('records come back in order across segments; ack reclaims finished segments', async (t) => {
  const dir = await tmp(t)
  const q = await DiskQueue.open({ dir, segmentBytes: 65_536, maxBytes: 4 * 2 ** 20 })
  for (let i = 0; i < 2000; i += 100) {
    const r = await q.append(Array.from({ length: 100 }, (_, k) => rec(i + k)))
    assert.deepEqual(r, { accepted: 100, dropped: 0, full: false })
  }
  assert.equal(q.size, 2000)
  assert.ok((await segments(dir)).length >= 3, 'rotated')
  const first = await q.read(700)
  assert.deepEqual(first.map(num), Array.from({ length: 700 }, (_, i) => i))
  assert.equal(q.unread, 1300)
  await q.ack()
  assert.equal(q.size, 1300)
  assert.equal(q.stats().acked, 700)
  const rest = await readAll(q)
  assert.deepEqual(rest, Array.from({ length: 1300 }, (_, i) => 700 + i))
  await q.ack()
  assert.equal(q.size, 0)
  assert.equal((await segments(dir)).length, 1, 'only the active segment is left')
  await q.close()
})

test('exactly once across ack and restart: acked records are not read again, unacked ones are, in order', async (t) => {
  const dir = await tmp(t)
  let q = await DiskQueue.open({ dir, segmentBytes: 65_536 })
  await q.append(Array.from({ length: 1500 }, (_, i) => rec(i)))
  await q.read(600)
  await q.ack()
  await q.read(300) // read but not acked: delivery of these did not finish
  await q.close()

  q = await DiskQueue.open({ dir, segmentBytes: 65_536 })
  assert.equal(q.size, 900)
  await q.append([rec(1500), rec(1501)])
  assert.deepEqual(await readAll(q), Array.from({ length: 902 }, (_, i) => 600 + i))
  await q.rewind()
  assert.equal((await q.read(1))[0] !== undefined, true, 'rewind goes back to the ack')
  await q.close()
})

test('a torn last frame is cut off at open; earlier records and later appends are intact', async (t) => {
  const dir = await tmp(t)
  let q = await DiskQueue.open({ dir })
  await q.append(Array.from({ length: 50 }, (_, i) => rec(i)))
  await q.close()
  const [seg] = await segments(dir)
  const path = join(dir, seg!)
  const size = (await stat(path)).size
  await truncate(path, size - 37) // half of the last frame is missing
  q = await DiskQueue.open({ dir })
  assert.equal(q.size, 49)
  assert.ok(q.stats().corruptBytes > 0)
  await q.append([rec(49), rec(50)])
  assert.deepEqual(await readAll(q), Array.from({ length: 51 }, (_, i) => i))
  await q.close()

  // Garbage after the last good frame (a frame header promising more than was written).
  const fh = await open(path, 'a')
  await fh.write(Buffer.from([0xff, 0x00, 0x00, 0x00, 1, 2, 3, 4, 5]))
  await fh.close()
  q = await DiskQueue.open({ dir })
  assert.deepEqual(await readAll(q), Array.from({ length: 51 }, (_, i) => i))
  await q.close()
})

test('a corrupted byte in an earlier segment loses only that segment\'s tail', async (t) => {
  const dir = await tmp(t)
  let q = await DiskQueue.open({ dir, segmentBytes: 65_536 })
  await q.append(Array.from({ length: 1500 }, (_, i) => rec(i)))
  await q.close()
  const segs = await segments(dir)
  assert.ok(segs.length >= 2)
  const path = join(dir, segs[0]!)
  const data = await readFile(path)
  const perSeg = Math.floor((data.length - 4) / 108)
  data[4 + 108 * 10 + 50]! ^= 0xff // inside record 10's payload
  await writeFile(path, data)
  q = await DiskQueue.open({ dir, segmentBytes: 65_536 })
  const got = await readAll(q)
  assert.deepEqual(got.slice(0, 10), Array.from({ length: 10 }, (_, i) => i))
  assert.deepEqual(got.slice(10), Array.from({ length: 1500 - perSeg }, (_, i) => perSeg + i), 'later segments intact')
  await q.close()
})

test('full, policy block: atomic append refuses the whole batch and counts nothing', async (t) => {
  const dir = await tmp(t)
  const q = await DiskQueue.open({ dir, maxBytes: 262_144, segmentBytes: 65_536, whenFull: 'block' })
  let accepted = 0
  for (let i = 0; ; i += 100) {
    const r = await q.append(Array.from({ length: 100 }, (_, k) => rec(i + k, 1000)), { atomic: true })
    if (r.full) { assert.equal(r.accepted, 0); break }
    accepted += r.accepted
  }
  assert.ok(q.bytes <= 262_144)
  assert.equal(q.size, accepted)
  assert.deepEqual(q.stats().dropped, { buffer_full: 0, buffer_evicted: 0, buffer_record_too_big: 0, buffer_corrupt: 0 })
  // Non-atomic: a prefix is written, the rest left to the caller.
  await q.read(q.size)
  await q.ack()
  const r = await q.append(Array.from({ length: 300 }, (_, k) => rec(k, 1000)))
  assert.equal(r.full, true)
  assert.ok(r.accepted > 0 && r.accepted < 300)
  await q.close()
})

test('full, policy dropNewest: the incoming records are refused and counted buffer_full', async (t) => {
  const dir = await tmp(t)
  const q = await DiskQueue.open({ dir, maxBytes: 262_144, segmentBytes: 65_536, whenFull: 'dropNewest' })
  const r = await q.append(Array.from({ length: 400 }, (_, k) => rec(k, 1000)))
  assert.equal(r.full, false)
  assert.equal(r.accepted + r.dropped, 400)
  assert.ok(r.dropped > 100)
  assert.equal(q.stats().dropped.buffer_full, r.dropped)
  assert.deepEqual(await readAll(q), Array.from({ length: r.accepted }, (_, i) => i))
  await q.close()
})

test('full, policy dropOldest: whole oldest segments go, counted buffer_evicted, the newest are kept in order', async (t) => {
  const dir = await tmp(t)
  const q = await DiskQueue.open({ dir, maxBytes: 262_144, segmentBytes: 65_536, whenFull: 'dropOldest' })
  for (let i = 0; i < 1000; i += 50) await q.append(Array.from({ length: 50 }, (_, k) => rec(i + k, 1000)))
  assert.ok(q.bytes <= 262_144)
  const evicted = q.stats().dropped.buffer_evicted!
  assert.ok(evicted > 0)
  const got = await readAll(q)
  assert.equal(got.length + evicted, 1000, 'every record is delivered or counted')
  assert.deepEqual(got, Array.from({ length: got.length }, (_, i) => evicted + i))
  await q.close()
  // The ack moved past the evicted records durably.
  const again = await DiskQueue.open({ dir, maxBytes: 262_144, segmentBytes: 65_536, whenFull: 'dropOldest' })
  assert.equal(again.size, got.length)
  await again.close()
})

test('dropOldest with a batch in flight: delivered + evicted = appended, acked or rewound (issue 14, item 8)', async (t) => {
  for (const outcome of ['ack', 'rewind'] as const) {
    const dir = await tmp(t)
    const q = await DiskQueue.open({ dir, maxBytes: 262_144, segmentBytes: 65_536, whenFull: 'dropOldest' })
    await q.append(Array.from({ length: 100 }, (_, k) => rec(k, 1000)))
    const inFlight = await q.read(40) // a sink's batch, sent and not yet answered
    assert.equal(inFlight.length, 40)
    // Meanwhile the peer is slow and ingest fills the buffer: the oldest segment (with the batch) goes.
    for (let i = 100; i < 1000; i += 50) await q.append(Array.from({ length: 50 }, (_, k) => rec(i + k, 1000)))
    let delivered = 0
    if (outcome === 'ack') { await q.ack(); delivered += inFlight.length } else await q.rewind()
    delivered += (await readAll(q)).length
    await q.ack()
    const s = q.stats()
    assert.equal(delivered + s.dropped.buffer_evicted!, 1000, `${outcome}: delivered ${delivered} + evicted ${s.dropped.buffer_evicted!} = appended`)
    assert.equal(s.acked, delivered, outcome)
    await q.close()
  }
})

test('a record larger than maxRecordBytes is dropped and counted; its neighbours keep their order', async (t) => {
  const dir = await tmp(t)
  const q = await DiskQueue.open({ dir, maxRecordBytes: 2048 })
  const r = await q.append([rec(0), rec(1, 5000), rec(2)])
  assert.deepEqual(r, { accepted: 2, dropped: 1, full: false })
  assert.equal(q.stats().dropped.buffer_record_too_big, 1)
  assert.deepEqual(await readAll(q), [0, 2])
  await q.close()
})

test('one process per directory: a second open fails with NETCONSD_ERR_BUFFER_LOCKED; a stale lock is taken over', async (t) => {
  const dir = await tmp(t)
  const q = await DiskQueue.open({ dir })
  await assert.rejects(DiskQueue.open({ dir }), { code: 'NETCONSD_ERR_BUFFER_LOCKED' })
  await q.close()
  await writeFile(join(dir, 'LOCK'), `${process.ppid}\n`) // a live process that is not us
  await assert.rejects(DiskQueue.open({ dir }), { code: 'NETCONSD_ERR_BUFFER_LOCKED' })
  await writeFile(join(dir, 'LOCK'), '4194999\n') // above pid_max: not running
  const q2 = await DiskQueue.open({ dir })
  await q2.close()
  await q2.close()
  await assert.rejects(q2.append([rec(1)]), { code: 'NETCONSD_ERR_BUFFER_CLOSED' })
})

test('an unusable directory fails with NETCONSD_ERR_BUFFER_OPEN naming it', async (t) => {
  const dir = await tmp(t)
  await writeFile(join(dir, 'file'), 'x')
  await assert.rejects(DiskQueue.open({ dir: join(dir, 'file', 'sub') }), (err: any) => {
    assert.equal(err.code, 'NETCONSD_ERR_BUFFER_OPEN')
    assert.equal(err.dir, join(dir, 'file', 'sub'))
    return true
  })
})

test('fsync always: data and ack are synced (smoke: works, same results)', async (t) => {
  const dir = await tmp(t)
  const q = await DiskQueue.open({ dir, fsync: 'always' })
  await q.append([rec(0), rec(1)])
  await q.read(1)
  await q.ack()
  await q.close()
  const q2 = await DiskQueue.open({ dir, fsync: 'always' })
  assert.deepEqual(await readAll(q2), [1])
  await q2.close()
})
