import { test } from 'node:test'
import assert from 'node:assert/strict'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { pino } from 'pino'
import type { NetconsRecord } from '../../../../src/types.js'
import type { SendResult, Transport, SinkContext } from '../../../../src/sinks/types.js'
import { createDeliveryRunner } from '../../../../src/sinks/delivery/runner.js'
import { DiskQueue } from '../../../../src/sinks/delivery/buffer/disk-queue.js'
import { withDiskBuffer, mergeBufferedStats, openSinkQueue, defaultBufferDir } from '../../../../src/sinks/delivery/buffer/buffered-transport.js'
import { encodeRecord, decodeRecord } from '../../../../src/sinks/delivery/buffer/codec.js'
import { HostTable, defaultNcrxConfig } from '../../../../src/ncrx/hosts.js'

const ctx: SinkContext = { sinkId: 'peer', thread: 0, workerCount: 1, logger: pino({ level: 'silent' }), configDir: '.' }

function record (i: number): NetconsRecord {
  return {
    kind: 'log', format: 'extended', src: '::ffff:10.0.0.1', srcPort: 6666,
    host: { name: 'web1', address: '::ffff:10.0.0.1', labels: { rack: 'r1' } },
    thread: 0, seq: i, facility: 0, level: 6, tsUsec: 1000 + i, text: `message ${i} caf\u00e9`,
    raw: Buffer.from([0xff, 0x00, i & 255]), dict: [['SUBSYSTEM', 'net'], ['DEVICE', '+net:eth0']],
    release: null, contStart: false, cont: false, oos: false, seqReset: i === 0, incomplete: false,
    lostBefore: 0, receivedAt: 1_700_000_000_000 + i, attributes: { team: 'kernel' }
  }
}

/** A peer that can be taken down: while down every send is retryable; records it took are kept. */
class Peer implements Transport {
  up = true
  readonly got: number[] = []
  attempts = 0
  rejectSeq: number | null = null
  async send (batch: readonly NetconsRecord[]): Promise<SendResult> {
    this.attempts++
    await new Promise((resolve) => setImmediate(resolve))
    if (!this.up) return { status: 'retryable', error: new Error('ECONNREFUSED') }
    if (this.rejectSeq !== null && batch.some((r) => r.seq === this.rejectSeq)) return { status: 'failed', error: new Error('400 bad request') }
    for (const r of batch) this.got.push(r.seq!)
    return { status: 'ok' }
  }

  async close (): Promise<void> {}
}

async function tmp (t: { after: (fn: () => Promise<void>) => void }): Promise<string> {
  const d = await mkdtemp(join(tmpdir(), 'netconsd-bt-'))
  t.after(() => rm(d, { recursive: true, force: true }))
  return d
}

const range = (a: number, n: number): number[] => Array.from({ length: n }, (_, i) => a + i)

test('codec: a record survives the round trip, bytes and all', () => {
  const r = record(7)
  const back = decodeRecord(encodeRecord(r))
  assert.deepEqual(back, r)
  assert.ok(Buffer.isBuffer(back.raw))
  assert.throws(() => decodeRecord(Buffer.from('{"v":99}')))
})

test('codec: a record as ncrx makes it (raw built on access) round-trips with its bytes', () => {
  const recs: NetconsRecord[] = []
  const table = new HostTable({ config: defaultNcrxConfig, thread: 0, resolveHost: (a) => ({ name: a, address: a, labels: {} }), emit: (r) => recs.push(r) })
  table.receive('::ffff:10.0.0.9', 6666, Buffer.from('6,5,100,-;hello\\x09tab\n'), 0, 1)
  table.receive('::ffff:10.0.0.9', 6666, Buffer.from('6,6,100,-;plain\n'), 0, 1)
  for (const r of recs) {
    const back = decodeRecord(encodeRecord(r))
    assert.deepEqual(back.raw, r.raw)
    assert.equal(back.text, r.text)
    assert.equal(back.seq, r.seq)
    assert.deepEqual(back.attributes, r.attributes)
  }
  assert.equal(recs[0]!.text, 'hello\ttab')
})

test('peer down for a while: records wait on disk and arrive exactly once, in order, when it is back', async (t) => {
  const dir = await tmp(t)
  const peer = new Peer()
  peer.up = false
  const buffered = withDiskBuffer(peer, await DiskQueue.open({ dir }), { initialBackoffMs: 5, maxBackoffMs: 20, maxBatchRecords: 100 })
  const runner = createDeliveryRunner(buffered, { maxBatchRecords: 64, flushIntervalMs: 5 }, ctx)
  for (let i = 0; i < 2000; i++) runner.write(record(i))
  await runner.flush()
  // With a disk buffer the runner reports the buffer's view: nothing delivered yet, all on disk.
  assert.equal(runner.stats().sent, 0)
  assert.equal(runner.stats().buffer?.records, 2000, 'all on disk')
  await new Promise((resolve) => setTimeout(resolve, 100))
  assert.equal(peer.got.length, 0)
  assert.ok(buffered.stats().buffer.records > 0)
  peer.up = true
  await buffered.drained()
  assert.deepEqual(peer.got, range(0, 2000))
  const s = mergeBufferedStats(runner.stats(), buffered.stats())
  assert.equal(s.sent, 2000)
  assert.ok(s.retried > 0)
  assert.equal(s.buffer?.records, 0)
  assert.equal(Object.values(s.dropped).reduce((a, b) => a + b, 0), 0)
  await runner.close()
})

test('across a restart: what was not delivered is delivered by the next process, nothing twice', async (t) => {
  const dir = await tmp(t)
  const peer = new Peer()
  // Life 1: the peer takes the first records, then goes away; shutdown leaves the rest on disk.
  let buffered = withDiskBuffer(peer, await DiskQueue.open({ dir }), { initialBackoffMs: 5, maxBackoffMs: 20, maxBatchRecords: 50, drainDeadlineMs: 50 })
  let runner = createDeliveryRunner(buffered, { maxBatchRecords: 50, flushIntervalMs: 5 }, ctx)
  for (let i = 0; i < 300; i++) runner.write(record(i))
  await runner.flush()
  await buffered.drained()
  peer.up = false
  for (let i = 300; i < 1000; i++) runner.write(record(i))
  await runner.close()
  assert.deepEqual(peer.got, range(0, 300))
  // Life 2: the peer is back.
  peer.up = true
  buffered = withDiskBuffer(peer, await DiskQueue.open({ dir }), { maxBatchRecords: 128 })
  runner = createDeliveryRunner(buffered, {}, ctx)
  runner.write(record(1000))
  await runner.flush()
  await buffered.drained()
  assert.deepEqual(peer.got, range(0, 1001))
  await runner.close()
})

test('a batch the peer refuses for good is counted as rejected and not sent again', async (t) => {
  const dir = await tmp(t)
  const peer = new Peer()
  peer.rejectSeq = 5
  const buffered = withDiskBuffer(peer, await DiskQueue.open({ dir }), { maxBatchRecords: 10 })
  const runner = createDeliveryRunner(buffered, { maxBatchRecords: 10, flushIntervalMs: 1 }, ctx)
  for (let i = 0; i < 30; i++) runner.write(record(i))
  await runner.flush()
  await buffered.drained()
  assert.deepEqual(peer.got, range(10, 20))
  const s = buffered.stats()
  assert.equal(s.sent, 20)
  assert.equal(s.failed, 10)
  assert.equal(s.dropped.rejected, 10)
  await runner.close()
})

test('policy block: a full buffer pushes back; the runner then drops by its own policy, every record accounted for', async (t) => {
  const dir = await tmp(t)
  const peer = new Peer()
  peer.up = false
  const queue = await DiskQueue.open({ dir, maxBytes: 262_144, segmentBytes: 65_536, whenFull: 'block' })
  const buffered = withDiskBuffer(peer, queue, { initialBackoffMs: 5, maxBackoffMs: 10, drainDeadlineMs: 10 })
  const r = await buffered.send(Array.from({ length: 2000 }, (_, i) => record(i)))
  assert.equal(r.status, 'retryable')
  assert.equal(r.status === 'retryable' && (r.error as { code?: string }).code, 'NETCONSD_ERR_BUFFER_FULL')
  const runner = createDeliveryRunner(buffered, { maxQueueRecords: 200, maxBatchRecords: 50, flushIntervalMs: 1, maxRetryMs: 100, initialBackoffMs: 5 }, ctx)
  for (let i = 0; i < 3000; i++) runner.write(record(i))
  await runner.close(500)
  // The runner's stats already merge the buffer's (delivery, drops, fill).
  const s = runner.stats()
  const dropped = Object.values(s.dropped).reduce((a, b) => a + b, 0)
  assert.ok(dropped > 0)
  assert.equal(s.buffer!.records + s.queueDepth + dropped, 3000, 'on disk, or dropped with a reason')
  assert.ok(s.buffer!.bytes <= 262_144)
})

test('close() with the peer down returns within the drain deadline, leaving records on disk', async (t) => {
  const dir = await tmp(t)
  const peer = new Peer()
  peer.up = false
  const buffered = withDiskBuffer(peer, await DiskQueue.open({ dir }), { initialBackoffMs: 10_000, drainDeadlineMs: 100 })
  await buffered.send([record(1), record(2)])
  const t0 = Date.now()
  await buffered.close()
  assert.ok(Date.now() - t0 < 2000)
  const again = await DiskQueue.open({ dir })
  assert.equal(again.size, 2)
  await again.close()
  const r = await buffered.send([record(3)])
  assert.equal(r.status, 'failed')
})

test('openSinkQueue: one directory per sink and worker, disk budget split between workers', async (t) => {
  const dir = await tmp(t)
  const q = await openSinkQueue({ baseDir: 'buf', configDir: dir, sinkId: 'otlp', thread: 1, workerCount: 4, config: { maxBytes: 4 * 2 ** 20 } })
  assert.equal(q.dir, join(dir, 'buf', 'otlp', 'w1'))
  assert.equal(q.maxBytes, 2 ** 20)
  await q.close()
  assert.equal(defaultBufferDir({ STATE_DIRECTORY: '/var/lib/netconsd:/var/lib/other' }), '/var/lib/netconsd/buffer')
  assert.equal(defaultBufferDir({}), '/var/lib/netconsd/buffer')
})
