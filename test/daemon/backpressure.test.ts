/**
 * Overload: a flood against a slow (but alive) sink. The daemon keeps delivering, its queue stays
 * bounded, and the excess is dropped where it costs nothing — by the kernel on the native path
 * (the worker stops reading while its sinks push back), unparsed in the worker on the JS path —
 * always counted, instead of being parsed and then thrown away from a full queue.
 */
import { describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { pino } from 'pino'
import { Daemon } from '../../src/daemon.js'
import { loadConfig } from '../../src/config/load.js'
import { repoRoot } from '../helpers/paths.js'
import { receivePaths, sendDatagrams, waitFor } from '../helpers/daemon.js'
import { RecordingServer } from '../sinks/delivery/http-server.js'
import { decodeProtobuf, allLogs } from '../sinks/otlp/otlp-decode.js'
import { Pipeline } from '../../src/worker/pipeline.js'

const FLOOD = 40_000
const MAX_QUEUE = 2000

async function flood (receivePath: 'native' | 'js'): Promise<void> {
  const peer = await RecordingServer.start()
  peer.fallback = { status: 200, delayMs: 25 } // slower than the flood, never failing
  const config = await loadConfig({
    env: process.env,
    source: {
      name: '<backpressure test>',
      dir: repoRoot,
      value: {
        version: 1,
        // A small reader-thread ring (native path), so the flood fills it and reaches the kernel's
        // drops; the default 4 MiB would hold this whole flood.
        listen: { port: 0, receiveRingBytes: 256 * 1024 },
        workers: { count: 1 },
        admission: { rateLimit: { enabled: false } },
        incidents: { enabled: false },
        sinks: { otlp: { type: 'otlp', url: `http://127.0.0.1:${peer.port}/v1/logs`, encoding: 'protobuf', maxBatchRecords: 500, maxQueueRecords: MAX_QUEUE, flushIntervalMs: 20 } },
        rules: [{ id: 'all', to: ['otlp'] }]
      }
    }
  })
  const daemon = new Daemon({ config, logger: pino({ level: 'silent' }), receivePath, statsIntervalMs: 100 })
  await daemon.start()
  try {
    const payloads = Array.from({ length: FLOOD }, (_, i) => Buffer.from(`6,${i + 1},${i},-;flood ${i} ${'x'.repeat(60)}\n`))
    // What waits for the worker (its ring on the native path), sampled from the 100 ms snapshots.
    let maxQueued = 0
    const sampler = setInterval(() => { maxQueued = Math.max(maxQueued, daemon.snapshots()[0]?.queuedBytes ?? 0) }, 20).unref()
    await sendDatagrams(daemon.port, payloads, { from: '127.0.8.1', burst: 4000 })
    const seqs = (): number[] => peer.requests.flatMap((r) => allLogs(decodeProtobuf(r.body))).map((l) => Number(l.attributes['netconsole.seq'] ?? NaN))
    await waitFor(() => peer.requests.length > 5, 15_000, 'deliveries under the flood')
    // Let the queue drain and the snapshots catch up.
    const sink = (): { sent: number, dropped: Record<string, number>, queueDepth: number } | undefined =>
      daemon.snapshots()[0]?.snapshot?.sinks.otlp
    await waitFor(() => (sink()?.queueDepth ?? 1) === 0 && (sink()?.sent ?? 0) > 0, 20_000, 'queue drained')
    await new Promise((resolve) => setTimeout(resolve, 300))
    clearInterval(sampler)
    const s = sink()!
    const snap = daemon.snapshots()[0]!
    const delivered = peer.requests.flatMap((r) => allLogs(decodeProtobuf(r.body))).length
    assert.ok(delivered >= MAX_QUEUE / 2, `kept delivering under the flood (${delivered})`)
    assert.equal(s.sent, delivered)
    const queueFull = s.dropped.queue_full ?? 0
    // Bounded: the queue never held more than its bound, so at most a batch spills over per pause.
    assert.ok(queueFull < FLOOD * 0.1, `few records were parsed only to be dropped from a full queue (${queueFull})`)
    const parsed = snap.snapshot!.ncrx.datagrams
    const shed = snap.snapshot!.shed
    const kernel = snap.kernelDrops ?? 0
    if (receivePath === 'native') {
      assert.ok(kernel > 0 || parsed < FLOOD, `the excess stayed in or was dropped by the kernel (kernel drops ${kernel}, parsed ${parsed})`)
      assert.ok(maxQueued > 0 && maxQueued <= 256 * 1024, `the reader thread's ring held the backlog, within its size (${maxQueued} bytes at most)`)
      assert.equal(daemon.snapshots()[0]!.queuedBytes, 0, 'and is empty once the flood is delivered')
    } else {
      assert.ok(shed > 0, `the JS path shed batches unparsed, counted (${shed})`)
    }
    // Per-host order holds among what was delivered.
    const got = seqs().filter((x) => !Number.isNaN(x))
    for (let i = 1; i < got.length; i++) assert.ok(got[i]! > got[i - 1]!, 'in order')
  } finally {
    await daemon.stop()
    await peer.stop()
  }
}

describe('overload: a flood against a slow sink', () => {
  for (const receivePath of receivePaths) {
    test(`${receivePath} receive path: keeps delivering, bounded, excess dropped before parsing and counted`, { timeout: 90_000 }, async () => {
      await flood(receivePath)
    })
  }
})

// Every queueing log sink pushes back through the pipeline: a sink type that forgot to expose
// pressure() let the worker read on while its queue overflowed (syslog did, until this test).
const pressureSinks: Record<string, Record<string, unknown>> = {
  otlp: { type: 'otlp', url: 'http://127.0.0.1:9/v1/logs' },
  syslogTcp: { type: 'syslog', host: '127.0.0.1', port: 9, protocol: 'tcp' },
  syslogUdp: { type: 'syslog', host: '127.0.0.1', port: 9, protocol: 'udp' }
}
for (const [name, sinkOptions] of Object.entries(pressureSinks)) {
  test(`Pipeline.pressure is how full the fullest delivering sink's queue is (${name})`, async () => {
    const config = await loadConfig({
      env: process.env,
      source: { name: '<p>', dir: repoRoot, value: { version: 1, sinks: { o: { ...sinkOptions, maxQueueRecords: 10, flushIntervalMs: 60_000, maxBatchRecords: 100 } }, rules: [{ id: 'all', to: ['o'] }] } }
    })
    const p = new Pipeline({ config, thread: 0, workerCount: 1, logger: pino({ level: 'silent' }) })
    await p.start()
    try {
      assert.equal(p.pressure(), 0)
      for (let i = 0; i < 8; i++) p.receive('::ffff:127.0.0.1', 6666, Buffer.from(`6,${i},0,-;m${i}\n`))
      const depth = p.snapshot().sinks.o!.queueDepth
      assert.ok(depth >= 8)
      assert.ok(Math.abs(p.pressure() - depth / 10) < 1e-9, `${depth} of 10 queued: ${p.pressure()}`)
    } finally {
      await p.shutdown(10)
    }
  })
}

test('a webhook never pushes back on ingest: its full queue drops its own records, counted', async () => {
  const config = await loadConfig({
    env: process.env,
    source: { name: '<p>', dir: repoRoot, value: { version: 1, sinks: { w: { type: 'webhook', url: 'http://127.0.0.1:9/hook', maxQueueRecords: 4, flushIntervalMs: 60_000, maxBatchRecords: 100 } }, rules: [{ id: 'all', to: ['w'] }] } }
  })
  const p = new Pipeline({ config, thread: 0, workerCount: 1, logger: pino({ level: 'silent' }) })
  await p.start()
  try {
    for (let i = 0; i < 8; i++) p.receive('::ffff:127.0.0.1', 6666, Buffer.from(`6,${i},0,-;m${i}\n`))
    assert.equal(p.pressure(), 0)
    assert.ok((p.snapshot().sinks.w!.dropped.queue_full ?? 0) >= 4, 'the webhook dropped from its own full queue')
  } finally {
    await p.shutdown(10)
  }
})
