import { describe, it, beforeEach, afterEach, mock } from 'node:test'
import assert from 'node:assert/strict'
import type { NetconsRecord } from '../../../src/types.js'
import type { SendResult, Transport } from '../../../src/sinks/types.js'
import { createDeliveryRunner, type DeliveryRunner } from '../../../src/sinks/delivery/runner.js'
import type { DeliveryOptions } from '../../../src/sinks/delivery/options.js'
import { makeTestRecord, testContext, runSinkConformance } from '../conformance.js'

/** Lets promise chains settle without moving the fake clock. */
async function settle (): Promise<void> {
  for (let i = 0; i < 5; i++) await new Promise<void>((resolve) => setImmediate(resolve))
}

/** Moves the fake clock and lets everything it woke up run. */
async function advance (ms: number): Promise<void> {
  mock.timers.tick(ms)
  await settle()
}

interface Call { at: number, batch: readonly NetconsRecord[], signal: AbortSignal | undefined }

/** A transport answering from a script; `pending` answers never settle. */
class ScriptedTransport implements Transport {
  calls: Call[] = []
  closed = 0
  inFlight = 0
  maxInFlight = 0
  script: Array<SendResult | 'pending' | 'throw'> = []
  fallback: SendResult | 'pending' = { status: 'ok' }

  async send (batch: readonly NetconsRecord[], signal?: AbortSignal): Promise<SendResult> {
    this.calls.push({ at: Date.now(), batch, signal })
    const next = this.script.length > 0 ? this.script.shift()! : this.fallback
    if (next === 'throw') throw new Error('transport bug')
    if (next === 'pending') {
      this.inFlight++
      this.maxInFlight = Math.max(this.maxInFlight, this.inFlight)
      return await new Promise<SendResult>(() => {})
    }
    return next
  }

  async close (): Promise<void> { this.closed++ }
}

const retryable = (retryAfterMs?: number): SendResult => retryAfterMs === undefined
  ? { status: 'retryable', error: new Error('503') }
  : { status: 'retryable', error: new Error('429'), retryAfterMs }
const failed = (): SendResult => ({ status: 'failed', error: new Error('400') })

function make (t: Transport, opts: DeliveryOptions = {}): DeliveryRunner {
  const r = createDeliveryRunner(t, { flushIntervalMs: 1000, initialBackoffMs: 100, maxBackoffMs: 1000, ...opts }, testContext())
  r.random = () => 0 // deterministic: delay = backoff / 2
  return r
}

describe('delivery runner', () => {
  beforeEach(() => { mock.timers.enable({ apis: ['setTimeout', 'Date'], now: 0 }) })
  afterEach(() => { mock.timers.reset() })

  it('sends full batches at once and a partial batch after flushIntervalMs', async () => {
    const t = new ScriptedTransport()
    const r = make(t, { maxBatchRecords: 2 })
    for (let i = 0; i < 5; i++) r.write(makeTestRecord({ seq: i }))
    await settle()
    assert.deepEqual(t.calls.map((c) => c.batch.map((x) => x.seq)), [[0, 1], [2, 3]])
    await advance(999)
    assert.equal(t.calls.length, 2)
    await advance(1)
    assert.deepEqual(t.calls.map((c) => c.batch.map((x) => x.seq)), [[0, 1], [2, 3], [4]])
    assert.equal(r.stats().sent, 5)
    assert.equal(r.stats().batches, 3)
    assert.equal(r.stats().queueDepth, 0)
  })

  it('the interval counts from the first queued record, not the last', async () => {
    const t = new ScriptedTransport()
    const r = make(t)
    r.write(makeTestRecord())
    await advance(600)
    r.write(makeTestRecord())
    await advance(400)
    assert.equal(t.calls.length, 1)
    assert.equal(t.calls[0]!.batch.length, 2)
  })

  it('keeps one batch in flight and the records in order', async () => {
    const t = new ScriptedTransport()
    t.script = [retryable(), { status: 'ok' }, retryable(), { status: 'ok' }]
    const r = make(t, { maxBatchRecords: 3 })
    for (let i = 0; i < 6; i++) r.write(makeTestRecord({ seq: i }))
    await settle()
    assert.equal(t.calls.length, 1, 'the second batch waits for the first')
    await advance(50)
    await advance(50)
    await r.flush()
    const seqs = t.calls.map((c) => c.batch.map((x) => x.seq))
    assert.deepEqual(seqs, [[0, 1, 2], [0, 1, 2], [3, 4, 5], [3, 4, 5]])
    assert.equal(r.stats().sent, 6)
    assert.equal(r.stats().retried, 6)
  })

  it('drops the incoming record when full (queue_full) and never blocks write()', async () => {
    const t = new ScriptedTransport()
    t.fallback = 'pending'
    const r = make(t, { maxQueueRecords: 3, maxBatchRecords: 2 })
    for (let i = 0; i < 6; i++) r.write(makeTestRecord({ seq: i }))
    await settle()
    const st = r.stats()
    assert.equal(st.dropped.queue_full, 3)
    assert.equal(st.queueDepth, 3)
    assert.equal(st.inFlight, 2)
    assert.equal(t.maxInFlight, 1)
  })

  it('whenFull: dropOldest drops the oldest queued record instead', async () => {
    const t = new ScriptedTransport()
    t.script = ['pending']
    const r = make(t, { maxQueueRecords: 3, maxBatchRecords: 1, whenFull: 'dropOldest', requestTimeoutMs: 100 })
    for (let i = 0; i < 6; i++) r.write(makeTestRecord({ seq: i }))
    await settle()
    assert.equal(r.stats().dropped.queue_full, 3)
    // The writes run before the pump takes a batch: 3, 4 and 5 evict 0, 1 and 2. Then 3 is
    // sent (hangs, times out, is retried), then 4 and 5.
    await advance(100) // timeout of the hanging attempt
    await advance(50) // backoff
    await r.flush()
    const seqs = t.calls.flatMap((c) => c.batch.map((x) => x.seq))
    assert.deepEqual(seqs, [3, 3, 4, 5])
  })

  it('retries retryable results with exponential backoff and jitter', async () => {
    const t = new ScriptedTransport()
    t.script = [retryable(), retryable(), retryable(), { status: 'ok' }]
    const r = make(t)
    r.random = () => 1 // upper end of the jitter: delay = full backoff
    r.write(makeTestRecord())
    const flushed = r.flush()
    await settle()
    await advance(100)
    await advance(200)
    await advance(400)
    await flushed
    assert.deepEqual(t.calls.map((c) => c.at), [0, 100, 300, 700])
    assert.equal(r.stats().retried, 3)
    assert.equal(r.stats().sent, 1)
  })

  it('jitter keeps the delay within [backoff/2, backoff]', async () => {
    const t = new ScriptedTransport()
    t.script = [retryable(), { status: 'ok' }]
    const r = make(t, { initialBackoffMs: 1000 })
    r.random = () => 0.5
    r.write(makeTestRecord())
    const flushed = r.flush()
    await settle()
    await advance(749)
    assert.equal(t.calls.length, 1)
    await advance(1)
    await flushed
    assert.equal(t.calls[1]!.at, 750)
  })

  it('caps the backoff at maxBackoffMs', async () => {
    const t = new ScriptedTransport()
    t.script = [retryable(), retryable(), retryable(), retryable(), { status: 'ok' }]
    const r = make(t, { initialBackoffMs: 400, maxBackoffMs: 500 })
    r.random = () => 1
    r.write(makeTestRecord())
    const flushed = r.flush()
    await settle()
    // Small steps: the fake Date reads the end of a tick inside the timers it fires.
    for (let i = 0; i < 200; i++) await advance(10)
    await flushed
    const gaps = t.calls.slice(1).map((c, i) => c.at - t.calls[i]!.at)
    assert.deepEqual(gaps, [400, 500, 500, 500])
  })

  it('honours Retry-After from the peer, even beyond maxBackoffMs', async () => {
    const t = new ScriptedTransport()
    t.script = [retryable(5000), { status: 'ok' }]
    const r = make(t)
    r.write(makeTestRecord())
    const flushed = r.flush()
    await settle()
    await advance(4999)
    assert.equal(t.calls.length, 1)
    await advance(1)
    await flushed
    assert.equal(t.calls[1]!.at, 5000)
  })

  it('does not retry a failed result: dropped as rejected', async () => {
    const t = new ScriptedTransport()
    t.script = [failed()]
    const r = make(t)
    r.write(makeTestRecord())
    r.write(makeTestRecord())
    await r.flush()
    assert.equal(t.calls.length, 1)
    const st = r.stats()
    assert.equal(st.dropped.rejected, 2)
    assert.equal(st.failed, 2)
    assert.equal(st.sent, 0)
    assert.equal(st.lastError, '400')
  })

  it('gives up after maxRetries (retries_exhausted)', async () => {
    const t = new ScriptedTransport()
    t.fallback = retryable()
    const r = make(t, { maxRetries: 2 })
    r.write(makeTestRecord())
    const flushed = r.flush()
    await settle()
    await advance(50)
    await advance(100)
    await flushed
    assert.equal(t.calls.length, 3)
    assert.equal(r.stats().dropped.retries_exhausted, 1)
    assert.equal(r.stats().retried, 2)
    assert.equal(r.stats().failed, 1)
  })

  it('gives up when the next retry would pass maxRetryMs', async () => {
    const t = new ScriptedTransport()
    t.fallback = retryable()
    const r = make(t, { maxRetryMs: 120 })
    r.write(makeTestRecord())
    const flushed = r.flush()
    await settle()
    await advance(50) // retry 1 at 50; next delay 100 → 150 > 120
    await flushed
    assert.equal(t.calls.length, 2)
    assert.equal(r.stats().dropped.retries_exhausted, 1)
  })

  it('gives up at once when Retry-After is beyond maxRetryMs', async () => {
    const t = new ScriptedTransport()
    t.script = [retryable(600_000)]
    const r = make(t)
    r.write(makeTestRecord())
    await r.flush()
    assert.equal(t.calls.length, 1)
    assert.equal(r.stats().dropped.retries_exhausted, 1)
  })

  it('aborts an attempt after requestTimeoutMs and retries it', async () => {
    const t = new ScriptedTransport()
    t.script = ['pending', { status: 'ok' }]
    const r = make(t, { requestTimeoutMs: 300 })
    r.write(makeTestRecord())
    const flushed = r.flush()
    await settle()
    const first = t.calls[0]!
    assert.equal(first.signal?.aborted, false)
    await advance(300)
    assert.equal(first.signal?.aborted, true)
    assert.equal((first.signal?.reason as { code?: string }).code, 'NETCONSD_ERR_SINK_TIMEOUT')
    await advance(50)
    await flushed
    assert.equal(t.calls.length, 2)
    assert.equal(r.stats().sent, 1)
  })

  it('treats a throwing transport as retryable', async () => {
    const t = new ScriptedTransport()
    t.script = ['throw', { status: 'ok' }]
    const r = make(t)
    r.write(makeTestRecord())
    const flushed = r.flush()
    await settle()
    await advance(50)
    await flushed
    assert.equal(r.stats().sent, 1)
    assert.equal(r.stats().retried, 1)
  })

  it('counts records rejected in a partial success', async () => {
    const t = new ScriptedTransport()
    t.script = [{ status: 'ok', rejected: 2 }]
    const r = make(t)
    for (let i = 0; i < 5; i++) r.write(makeTestRecord())
    await r.flush()
    assert.equal(r.stats().sent, 3)
    assert.equal(r.stats().dropped.rejected, 2)
  })

  it('flush() waits for records in backoff and resolves when they are delivered', async () => {
    const t = new ScriptedTransport()
    t.script = [retryable()]
    const r = make(t)
    r.write(makeTestRecord())
    let done = false
    const flushed = r.flush().then(() => { done = true })
    await settle()
    assert.equal(done, false)
    await advance(50)
    await flushed
    assert.equal(done, true)
  })

  it('close() delivers what is queued, then closes the transport', async () => {
    const t = new ScriptedTransport()
    const r = make(t, { maxBatchRecords: 100 })
    for (let i = 0; i < 10; i++) r.write(makeTestRecord())
    await r.close()
    assert.equal(r.stats().sent, 10)
    assert.equal(t.closed, 1)
    assert.equal(r.closed, true)
  })

  it('close(deadlineMs) drops what is left at the deadline (shutdown_deadline) and aborts the request', async () => {
    const t = new ScriptedTransport()
    t.fallback = 'pending'
    const r = make(t, { maxBatchRecords: 2, requestTimeoutMs: 60_000 })
    for (let i = 0; i < 5; i++) r.write(makeTestRecord())
    await settle()
    let closed = false
    const closing = r.close(1000).then(() => { closed = true })
    await advance(999)
    assert.equal(closed, false)
    await advance(1)
    await closing
    assert.equal(t.calls[0]!.signal?.aborted, true)
    assert.equal(r.stats().dropped.shutdown_deadline, 5)
    assert.equal(r.stats().queueDepth, 0)
    assert.equal(t.closed, 1)
  })

  it('close() during a retry backoff stops waiting at the deadline', async () => {
    const t = new ScriptedTransport()
    t.fallback = retryable(30_000)
    const r = make(t)
    r.write(makeTestRecord())
    const flushed = r.flush()
    await settle()
    assert.equal(t.calls.length, 1) // now sleeping 30 s before the retry
    const closing = r.close(500)
    await advance(500)
    await closing
    await flushed
    assert.equal(r.stats().dropped.shutdown_deadline, 1)
    assert.equal(t.calls.length, 1)
  })

  it('write() after close is counted as dropped (closed) and does not throw', async () => {
    const t = new ScriptedTransport()
    const r = make(t)
    await r.close()
    assert.doesNotThrow(() => r.write(makeTestRecord()))
    assert.equal(r.stats().dropped.closed, 1)
    assert.equal(t.calls.length, 0)
  })

  it('records a latency histogram per attempt', async () => {
    const t = new ScriptedTransport()
    t.script = ['pending', { status: 'ok' }]
    const r = make(t, { requestTimeoutMs: 300 })
    r.write(makeTestRecord())
    const flushed = r.flush()
    await settle()
    await advance(300)
    await advance(50)
    await flushed
    const l = r.stats().latencyMs
    assert.equal(l.count, 2)
    assert.equal(l.maxMs, 300)
    assert.equal(l.buckets.at(-1), 2)
    // 300 ms falls in the 500 ms bucket (index 6), 0 ms in every bucket.
    assert.equal(l.buckets[5], 1)
    assert.equal(l.buckets[6], 2)
  })

  it('health() delegates to the transport and turns a throw into ok:false', async () => {
    const t = new ScriptedTransport()
    const r1 = make(t)
    assert.deepEqual(await r1.health(), { ok: true })
    const bad: Transport = { send: async () => ({ status: 'ok' }), close: async () => {}, health: async () => { throw new Error('unreachable') } }
    const r2 = make(bad)
    assert.deepEqual(await r2.health(), { ok: false, message: 'unreachable' })
  })

  it('every accepted record ends up sent or dropped with a reason (random outcomes)', async () => {
    const t = new ScriptedTransport()
    let i = 0
    const outcomes: SendResult[] = [{ status: 'ok' }, retryable(), failed(), { status: 'ok', rejected: 1 }]
    t.send = async function (batch) {
      this.calls.push({ at: Date.now(), batch, signal: undefined })
      return outcomes[(i++ * 7) % outcomes.length]!
    }
    const r = make(t, { maxQueueRecords: 50, maxBatchRecords: 7, maxRetries: 1 })
    for (let k = 0; k < 200; k++) r.write(makeTestRecord())
    const closing = r.close(10_000)
    for (let k = 0; k < 100; k++) await advance(100)
    await closing
    const st = r.stats()
    const dropped = Object.values(st.dropped).reduce((a, b) => a + b, 0)
    assert.equal(st.sent + dropped, 200)
    assert.equal(st.queueDepth, 0)
  })
})

describe('delivery runner conformance (in-memory transport)', () => {
  let received = 0
  runSinkConformance('runner', () => {
    received = 0
    const t: Transport = {
      send: async (b) => { received += b.length; return { status: 'ok' } },
      close: async () => {}
    }
    return { sink: createDeliveryRunner(t, {}, testContext()), received: () => received }
  })
})

it('maxQueueBytes bounds what large records can make a queue hold (each worker its share); counted queue_full', async () => {
  const { createDeliveryRunner, recordBytes } = await import('../../../src/sinks/delivery/runner.js')
  const { rec } = await import('../../helpers/records.js')
  let release: () => void = () => {}
  const transport = { send: async () => { await new Promise<void>((resolve) => { release = resolve }); return { status: 'ok' as const } }, close: async () => {} }
  const { pino } = await import('pino')
  const r = createDeliveryRunner(transport, { maxQueueBytes: 8 * 1024 * 1024, maxQueueRecords: 100_000, maxBatchRecords: 10, flushIntervalMs: 1 },
    { sinkId: 'o', thread: 0, workerCount: 2, logger: pino({ level: 'silent' }), configDir: '.' })
  const big = rec({ text: 'x'.repeat(60_000) })
  for (let i = 0; i < 1000; i++) r.write(big)
  const st = r.stats()
  assert.equal(st.maxQueueBytes, 4 * 1024 * 1024, 'two workers: half of maxQueueBytes each')
  assert.ok(st.queuedBytes <= st.maxQueueBytes, `${st.queuedBytes} held`)
  assert.equal(st.queueDepth, Math.floor(st.maxQueueBytes / recordBytes(big)))
  assert.equal(st.dropped.queue_full, 1000 - st.queueDepth)
  assert.ok(r.pressure() > 0.9)
  release()
  await new Promise((resolve) => setTimeout(resolve, 20))
  release()
  await r.close(50)
  assert.ok(r.stats().queuedBytes >= 0)
})
