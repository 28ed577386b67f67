/**
 * The delivery runner: *when* to send, for every batching sink. A transport only knows *how* to
 * send one batch and answers `ok`, `retryable` or `failed` (the OTel exporter/processor split).
 *
 *   write(record) ──► bounded queue ──► batch (maxBatchRecords | flushIntervalMs | flush())
 *     (sync, O(1),      │ full: drop                 │
 *      never throws)    ▼ `queue_full`               ▼
 *                                        transport.send(batch, signal)   one batch in flight
 *                                          ok ─────────► sent
 *                                          failed ─────► dropped `rejected`
 *                                          retryable ──► backoff (jitter, Retry-After) ─► again
 *                                                          … until maxRetries / maxRetryMs:
 *                                                          dropped `retries_exhausted`
 *   close(deadlineMs): stop accepting (`closed`), deliver the queue, at the deadline abort the
 *   request and drop the rest as `shutdown_deadline`, then close the transport.
 *
 * One batch in flight per sink instance keeps each host's records in order at the peer (a sink
 * instance lives in one worker, which sees all records of its hosts). A dead or slow peer only
 * fills this sink's queue: `write` never waits, so ingest and other sinks carry on.
 */
import { startAttempt, jitteredDelayMs, type Attempt } from './attempt.js'
import { LATENCY_BUCKETS_MS, type BufferedStats, type DeliveryStats, type LatencySummary } from './stats.js'
import type { NetconsRecord } from '../../types.js'
import type { HealthResult, SendResult, Sink, SinkContext, Transport } from '../types.js'
import { NetconsdError } from '../../errors.js'
import { RateLimitedLog } from '../../log.js'
import { resolveDeliveryOptions, type DeliveryOptions, type ResolvedDeliveryOptions } from './options.js'
import { redactText } from '../../redact.js'

export type { DeliveryOptions } from './options.js'

/** Why a record was dropped. Sinks may count their own reasons too (`rate_limited`, `encode_error`, …). */
export type DropReason = 'queue_full' | 'rejected' | 'retries_exhausted' | 'shutdown_deadline' | 'closed'
const DROP_REASONS: readonly DropReason[] = ['queue_full', 'rejected', 'retries_exhausted', 'shutdown_deadline', 'closed']

export { LATENCY_BUCKETS_MS } from './stats.js'
export type { LatencySummary, DeliveryStats } from './stats.js'

interface Waiter { target: number, resolve: () => void }

/** No worker's share of maxQueueBytes is below this (a batch of large records must fit). */
const MIN_QUEUE_BYTES_PER_WORKER = 1024 * 1024
/** Estimated bytes per batch handed to the transport (besides maxBatchRecords). */
const MAX_BATCH_BYTES = 4 * 1024 * 1024

/**
 * What a queued record costs in memory, estimated without walking it deeply: the object and its
 * fixed fields, the text (a JS string, one or two bytes a character) and the raw bytes it may
 * carry, and the dictionary's strings. Bounds what a sender of 60 kB records can make a queue hold.
 */
export function recordBytes (rec: NetconsRecord): number {
  let n = 256 + 3 * rec.text.length
  const d = rec.dict
  for (let i = 0; i < d.length; i++) n += 64 + 2 * (d[i]![0].length + d[i]![1].length)
  return n
}

/** Creates the runner; the returned object is the sink. */
export function createDeliveryRunner (transport: Transport, opts: DeliveryOptions, ctx: SinkContext): DeliveryRunner {
  return new DeliveryRunner(transport, opts, ctx)
}

export class DeliveryRunner implements Sink {
  readonly options: Readonly<ResolvedDeliveryOptions>
  readonly #transport: Transport
  readonly #ctx: SinkContext
  readonly #logLimit = new RateLimitedLog(10_000)
  /** Jitter source; tests replace it to make backoff deterministic. */
  random: () => number = Math.random

  // Queue: array with a moving head, compacted now and then (no per-record shift()).
  #queue: NetconsRecord[] = []
  #head = 0
  #inFlight = 0
  /** Records ever accepted, and of those how many are finished (sent or dropped). FIFO, so flush() waits for a count. */
  #accepted = 0
  #settled = 0
  #waiters: Waiter[] = []

  #timer: NodeJS.Timeout | null = null
  /** The interval timer fired: send everything queued without waiting for a full batch. */
  #flushDue = false
  #pumping = false

  #closing = false
  #closed = false
  #closePromise: Promise<void> | null = null
  /** Set at the shutdown deadline: everything still held is dropped, the request aborted. */
  #deadlineHit = false
  /** Wakers of the current attempt / backoff sleep, called at the shutdown deadline. Removed when done, so nothing accumulates. */
  readonly #cancelers = new Set<() => void>()
  /** The send in progress, ended at the shutdown deadline. */
  #attemptNow: Attempt | null = null

  #sent = 0
  #failed = 0
  #retried = 0
  #batches = 0
  #dropped: Record<string, number> = Object.fromEntries(DROP_REASONS.map((r) => [r, 0]))
  #latency: LatencySummary = { count: 0, sumMs: 0, maxMs: 0, buckets: new Array<number>(LATENCY_BUCKETS_MS.length + 1).fill(0) }
  #lastError: string | null = null

  constructor (transport: Transport, opts: DeliveryOptions, ctx: SinkContext) {
    this.#transport = ctx.wrapTransport?.(transport) ?? transport
    this.#ctx = ctx
    this.options = Object.freeze(resolveDeliveryOptions(opts))
    // maxQueueBytes is for the sink as a whole: each worker's instance holds its share.
    this.#maxBytes = Math.max(MIN_QUEUE_BYTES_PER_WORKER, Math.floor(this.options.maxQueueBytes / Math.max(1, ctx.workerCount)))
  }

  /** This instance's byte bound (its worker's share of maxQueueBytes). */
  readonly #maxBytes: number
  /** Estimated memory of the records held (queued plus in flight), see recordBytes. */
  #heldBytes = 0
  #inFlightBytes = 0

  get #queued (): number { return this.#queue.length - this.#head }
  get #held (): number { return this.#queued + this.#inFlight }

  pressure (): number {
    if (this.#closing || this.#lastError !== null) return 0
    return Math.max(this.#held / this.options.maxQueueRecords, this.#heldBytes / this.#maxBytes)
  }

  write (record: NetconsRecord): void {
    if (this.#closing) { this.countDrop('closed', 1); return }
    const bytes = recordBytes(record)
    while (this.#held >= this.options.maxQueueRecords || (this.#heldBytes + bytes > this.#maxBytes && this.#held > 0)) {
      if (this.options.whenFull === 'dropOldest' && this.#queued > 0) {
        this.#heldBytes -= recordBytes(this.#queue[this.#head]!)
        this.#head++
        this.#settle(1)
        this.countDrop('queue_full', 1)
      } else {
        this.countDrop('queue_full', 1)
        return
      }
    }
    this.#heldBytes += bytes
    this.#queue.push(record)
    this.#accepted++
    if (this.#queued >= this.options.maxBatchRecords) this.#kick()
    else this.#armTimer()
  }

  flush (): Promise<void> {
    if (this.#settled >= this.#accepted) return Promise.resolve()
    const p = new Promise<void>((resolve) => { this.#waiters.push({ target: this.#accepted, resolve }) })
    this.#kick()
    return p
  }

  close (deadlineMs: number = this.options.shutdownDeadlineMs): Promise<void> {
    if (this.#closePromise !== null) return this.#closePromise
    this.#closing = true
    this.#closePromise = this.#doClose(deadlineMs)
    return this.#closePromise
  }

  async health (): Promise<HealthResult> {
    if (this.#transport.health === undefined) return { ok: true }
    try {
      return await this.#transport.health()
    } catch (err) {
      return { ok: false, message: redactText(err instanceof Error ? err.message : String(err)) }
    }
  }

  stats (): DeliveryStats {
    const own = this.#ownStats()
    // With a disk buffer, "sent" by the runner only means "on disk": report the buffer's delivery.
    // A disk-buffered transport (src/sinks/delivery/buffer) reports its own delivery: with it, the runner's
    // "sent" only means "on disk".
    const t = this.#transport as Transport & { stats?: () => BufferedStats, [k: symbol]: unknown }
    if (t[Symbol.for('netconsd.diskBuffered')] === true && typeof t.stats === 'function') {
      const b = t.stats()
      const dropped = { ...own.dropped }
      for (const [k, v] of Object.entries(b.dropped)) dropped[k] = (dropped[k] ?? 0) + v
      return { ...own, sent: b.sent, failed: own.failed + b.failed, retried: own.retried + b.retried, dropped, latencyMs: b.latencyMs, lastError: b.lastError ?? own.lastError, buffer: b.buffer }
    }
    return own
  }

  #ownStats (): DeliveryStats {
    return {
      sent: this.#sent,
      failed: this.#failed,
      retried: this.#retried,
      dropped: { ...this.#dropped },
      queueDepth: this.#held,
      queuedBytes: this.#heldBytes,
      maxQueueBytes: this.#maxBytes,
      batches: this.#batches,
      inFlight: this.#inFlight,
      maxQueueRecords: this.options.maxQueueRecords,
      latencyMs: { ...this.#latency, buckets: [...this.#latency.buckets] },
      lastError: this.#lastError
    }
  }

  /** Counts records a sink dropped itself (before they reached the runner), under its own reason. */
  countDrop (reason: string, n: number): void {
    if (n <= 0) return
    this.#dropped[reason] = (this.#dropped[reason] ?? 0) + n
    const suppressed = this.#logLimit.check(`drop:${reason}`)
    if (suppressed >= 0) {
      this.#ctx.logger.warn({ sinkId: this.#ctx.sinkId, reason, records: n, suppressed }, 'Sink dropped records.')
    }
  }

  // --- internals --------------------------------------------------------------------------

  async #doClose (deadlineMs: number): Promise<void> {
    this.#clearTimer()
    const deadline = setTimeout(() => this.#hitDeadline(), deadlineMs)
    try {
      await this.flush()
    } finally {
      clearTimeout(deadline)
    }
    try {
      await this.#transport.close()
    } catch (err) {
      this.#ctx.logger.warn({ sinkId: this.#ctx.sinkId, err }, 'Sink transport close failed.')
    }
    this.#closed = true
  }

  #hitDeadline (): void {
    this.#deadlineHit = true
    this.#attemptNow?.abort(new NetconsdError('NETCONSD_ERR_SINK_SEND', 'Shutdown deadline reached.', { sinkId: this.#ctx.sinkId }))
    for (const wake of this.#cancelers) wake()
    this.#cancelers.clear()
    // Queued records are dropped now; the in-flight batch is dropped by its send loop when the
    // cancelled attempt returns (it may in fact have reached the peer: counted as lost anyway).
    const n = this.#queued
    this.#queue = []
    this.#head = 0
    this.#heldBytes = this.#inFlightBytes
    if (n > 0) {
      this.countDrop('shutdown_deadline', n)
      this.#settle(n)
    }
  }

  #kick (): void {
    if (this.#pumping) return
    // Deferred so that write() returns before any batch is built or sent.
    queueMicrotask(() => { void this.#pump() })
  }

  #armTimer (): void {
    if (this.#timer !== null || this.#pumping || this.#closing) return
    this.#timer = setTimeout(() => {
      this.#timer = null
      this.#flushDue = true
      void this.#pump()
    }, this.options.flushIntervalMs)
    // Never keep the process alive just to wait for a partial batch.
    this.#timer.unref?.()
  }

  #clearTimer (): void {
    if (this.#timer !== null) { clearTimeout(this.#timer); this.#timer = null }
  }

  #shouldSend (): boolean {
    if (this.#queued === 0 || this.#deadlineHit) return false
    return this.#queued >= this.options.maxBatchRecords || this.#heldBytes - this.#inFlightBytes >= MAX_BATCH_BYTES || this.#flushDue || this.#waiters.length > 0 || this.#closing
  }

  async #pump (): Promise<void> {
    if (this.#pumping) return
    this.#pumping = true
    this.#clearTimer()
    try {
      while (this.#shouldSend()) {
        // A batch ends at maxBatchRecords or at MAX_BATCH_BYTES of records: 512 records of 60 kB
        // would be one 30 MB request (and its encodings) per worker.
        const lim = Math.min(this.#queue.length, this.#head + this.options.maxBatchRecords)
        let end = this.#head
        let batchBytes = 0
        while (end < lim) {
          const b = recordBytes(this.#queue[end]!)
          if (end > this.#head && batchBytes + b > MAX_BATCH_BYTES) break
          batchBytes += b
          end++
        }
        const batch = this.#queue.slice(this.#head, end)
        this.#head = end
        this.#compact()
        this.#inFlight = batch.length
        this.#inFlightBytes = batchBytes
        try {
          await this.#deliver(batch)
        } finally {
          this.#inFlight = 0
          this.#inFlightBytes = 0
          this.#heldBytes -= batchBytes
        }
      }
      if (this.#queued === 0) this.#flushDue = false
    } finally {
      this.#pumping = false
    }
    if (this.#queued > 0) this.#armTimer()
  }

  #compact (): void {
    if (this.#head === this.#queue.length) {
      this.#queue = []
      this.#head = 0
    } else if (this.#head > 4096 && this.#head * 2 > this.#queue.length) {
      this.#queue = this.#queue.slice(this.#head)
      this.#head = 0
    }
  }

  async #deliver (batch: NetconsRecord[]): Promise<void> {
    const n = batch.length
    const firstAttemptAt = Date.now()
    let retries = 0
    let backoffMs = this.options.initialBackoffMs
    this.#batches++
    for (;;) {
      if (this.#deadlineHit) return this.#finish(n, 'shutdown_deadline')
      const result = await this.#attempt(batch)
      if (this.#deadlineHit) {
        // The attempt was cut short by the deadline (or raced it): its outcome is unknown.
        if (result.status === 'ok') return this.#finishOk(n, result)
        return this.#finish(n, 'shutdown_deadline')
      }
      if (result.status === 'ok') return this.#finishOk(n, result)
      this.#lastError = result.error.message
      if (result.status === 'failed') {
        this.#logFailure('rejected', result.error, n)
        return this.#finish(n, 'rejected')
      }
      // Retryable. Honour the peer's Retry-After as given (it knows when it will be back), else
      // our own jittered exponential backoff.
      const delayMs = result.retryAfterMs !== undefined
        ? Math.max(0, result.retryAfterMs)
        : jitteredDelayMs(Math.min(backoffMs, this.options.maxBackoffMs), this.random)
      backoffMs = Math.min(backoffMs * 2, this.options.maxBackoffMs)
      const elapsed = Date.now() - firstAttemptAt
      if (retries >= this.options.maxRetries || elapsed + delayMs > this.options.maxRetryMs) {
        this.#logFailure('retries_exhausted', result.error, n)
        return this.#finish(n, 'retries_exhausted')
      }
      this.#logRetry(result.error, delayMs, retries + 1)
      await this.#sleep(delayMs)
      if (this.#deadlineHit) return this.#finish(n, 'shutdown_deadline')
      retries++
      this.#retried += n
    }
  }

  /** One send attempt, bounded by `requestTimeoutMs` and the shutdown deadline. Never rejects. */
  async #attempt (batch: NetconsRecord[]): Promise<SendResult> {
    const attempt = startAttempt(this.#transport, batch, this.options.requestTimeoutMs, this.#ctx.sinkId)
    this.#attemptNow = attempt
    const started = Date.now()
    try {
      return await attempt.result
    } finally {
      this.#attemptNow = null
      this.#observeLatency(Date.now() - started)
    }
  }

  #sleep (ms: number): Promise<void> {
    return new Promise<void>((resolve) => {
      const wake = (): void => { clearTimeout(timer); this.#cancelers.delete(wake); resolve() }
      const timer = setTimeout(wake, ms)
      this.#cancelers.add(wake)
    })
  }

  #finishOk (n: number, result: SendResult & { status: 'ok' }): void {
    this.#lastError = null
    // OTLP partial success: the peer accepted the request but rejected some records.
    const rejected = Math.min(n, Math.max(0, result.rejected ?? 0))
    this.#sent += n - rejected
    if (rejected > 0) {
      this.#failed += rejected
      this.countDrop('rejected', rejected)
    }
    this.#settle(n)
  }

  #finish (n: number, reason: DropReason): void {
    if (reason === 'rejected' || reason === 'retries_exhausted') this.#failed += n
    this.countDrop(reason, n)
    this.#settle(n)
  }

  #settle (n: number): void {
    this.#settled += n
    if (this.#waiters.length === 0) return
    const still: Waiter[] = []
    for (const w of this.#waiters) {
      if (this.#settled >= w.target) w.resolve()
      else still.push(w)
    }
    this.#waiters = still
  }

  #observeLatency (ms: number): void {
    const l = this.#latency
    l.count++
    l.sumMs += ms
    if (ms > l.maxMs) l.maxMs = ms
    for (let i = 0; i < LATENCY_BUCKETS_MS.length; i++) {
      if (ms <= LATENCY_BUCKETS_MS[i]!) l.buckets[i]!++
    }
    l.buckets[LATENCY_BUCKETS_MS.length]!++
  }

  #logFailure (reason: DropReason, err: Error, records: number): void {
    const suppressed = this.#logLimit.check(`fail:${reason}`)
    if (suppressed < 0) return
    this.#ctx.logger.error({ sinkId: this.#ctx.sinkId, reason, records, suppressed, err }, 'Sink gave up on a batch.')
  }

  #logRetry (err: Error, delayMs: number, attempt: number): void {
    const suppressed = this.#logLimit.check('retry')
    if (suppressed < 0) return
    this.#ctx.logger.warn({ sinkId: this.#ctx.sinkId, attempt, delayMs: Math.round(delayMs), suppressed, err }, 'Sink send failed, will retry.')
  }

  /** True once close() has finished. */
  get closed (): boolean { return this.#closed }

  /** False once close() was called (writes are then dropped as `closed`). */
  get accepting (): boolean { return !this.#closing }
}
