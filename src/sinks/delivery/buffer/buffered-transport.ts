/**
 * A disk buffer in front of a sink's transport (a decorator, like retries in the OTel SDK):
 *
 *   DeliveryRunner ──send(batch)──► DiskBufferedTransport ──append──► DiskQueue (disk)
 *     (memory queue,                  ok once written                     │
 *      batching)                                                           ▼ read, in order
 *                                     pump: inner.send(batch) ─ ok ──► ack (persisted)
 *                                             │ retryable: back off, same batch again (forever:
 *                                             │   the disk bound, not a retry limit, decides)
 *                                             │ failed: the peer refused it: dropped `rejected`
 *
 * So a record the runner handed over is on disk before the runner counts it, survives a crash
 * or restart, and reaches the peer in order once it is back; a batch whose delivery a crash
 * interrupted is sent again (at-least-once: a peer that had already taken it sees it twice).
 * When the disk queue is full with policy `block`, `send` answers `retryable`, the runner
 * keeps the records in memory and, once its own queue is full, drops by its own policy.
 *
 * Counting: the runner's `sent` then means "written to the buffer". What a dashboard wants is
 * this object's `stats()` (delivered, dropped by reason, buffer occupancy); merge the two with
 * `mergeBufferedStats`.
 */
import type { Logger } from 'pino'
import { join, resolve } from 'node:path'
import type { NetconsRecord } from '../../../types.js'
import type { HealthResult, SendResult, Transport } from '../../types.js'
import type { SinkSnapshot } from '../../../metrics/snapshot.js'
import { LATENCY_BUCKETS_MS, type BufferedStats, type DeliveryStats, type LatencySummary } from '../stats.js'
import { NetconsdError } from '../../../errors.js'
import { startAttempt, jitteredDelayMs, type Attempt } from '../attempt.js'
import { RateLimitedLog } from '../../../log.js'
import { DiskQueue, type DiskQueueOptions } from './disk-queue.js'
import { decodeRecord, encodeRecord } from './codec.js'

export interface DiskBufferOptions {
  /** Records per batch read from the buffer and sent. Default 512. */
  maxBatchRecords?: number
  /** One send attempt is abandoned (and retried) after this long. Default 10000. */
  requestTimeoutMs?: number
  /** First retry delay; doubles per retry up to `maxBackoffMs`, with jitter. Default 500. */
  initialBackoffMs?: number
  maxBackoffMs?: number
  /** close(): how long to keep delivering from the buffer; the rest stays on disk for the next start. Default 2000. */
  drainDeadlineMs?: number
  sinkId?: string
  logger?: Logger
}

export type { BufferedStats } from '../stats.js'

const kDiskBuffered: unique symbol = Symbol.for('netconsd.diskBuffered') as typeof kDiskBuffered

export class DiskBufferedTransport implements Transport {
  /** Tells the delivery runner (which must not import this module: it would be a cycle) to report this buffer's delivery stats. */
  readonly [kDiskBuffered] = true
  /** Tells the delivery runner (which must not import this module: it would be a cycle) to report this buffer's delivery stats. */
  readonly queue: DiskQueue
  readonly #inner: Transport
  readonly #opts: Required<Omit<DiskBufferOptions, 'logger' | 'sinkId'>>
  readonly #log: Logger | undefined
  readonly #sinkId: string
  readonly #logLimit = new RateLimitedLog(10_000)
  /** Jitter source; tests replace it. */
  random: () => number = Math.random

  #closing = false
  #stopped = false
  #closePromise: Promise<void> | null = null
  #pump: Promise<void>
  /** Wakes the idle pump when records arrive. */
  #wake: (() => void) | null = null
  /** Ends a backoff sleep early (close only: new records must not shorten a backoff). */
  #wakeSleep: (() => void) | null = null
  /** The send in progress, ended at close(). */
  #attemptNow: Attempt | null = null
  #idleWaiters: Array<() => void> = []

  #sent = 0
  #failed = 0
  #retried = 0
  readonly #dropped: Record<string, number> = { rejected: 0, encode_error: 0 }
  readonly #latency: LatencySummary = { count: 0, sumMs: 0, maxMs: 0, buckets: new Array<number>(LATENCY_BUCKETS_MS.length + 1).fill(0) }
  #lastError: string | null = null

  constructor (inner: Transport, queue: DiskQueue, opts: DiskBufferOptions = {}) {
    this.#inner = inner
    this.queue = queue
    this.#opts = {
      maxBatchRecords: opts.maxBatchRecords ?? 512,
      requestTimeoutMs: opts.requestTimeoutMs ?? 10_000,
      initialBackoffMs: opts.initialBackoffMs ?? 500,
      maxBackoffMs: opts.maxBackoffMs ?? 30_000,
      drainDeadlineMs: opts.drainDeadlineMs ?? 2000
    }
    this.#log = opts.logger
    this.#sinkId = opts.sinkId ?? ''
    // Records left from the previous run are delivered first.
    this.#pump = this.#run()
  }

  async send (batch: readonly NetconsRecord[]): Promise<SendResult> {
    if (this.#closing) {
      return { status: 'failed', error: new NetconsdError('NETCONSD_ERR_BUFFER_CLOSED', 'The disk buffer is closing.', { sinkId: this.#sinkId }) }
    }
    const payloads: Buffer[] = []
    for (const r of batch) {
      try {
        payloads.push(encodeRecord(r))
      } catch {
        this.#dropped.encode_error!++
      }
    }
    let res
    try {
      res = await this.queue.append(payloads, { atomic: true })
    } catch (err) {
      // Disk trouble (ENOSPC, EIO): the runner retries and, in the end, counts the loss.
      return { status: 'retryable', error: err instanceof Error ? err : new Error(String(err)), retryAfterMs: 1000 }
    }
    if (res.accepted > 0) this.#wake?.()
    if (res.full) {
      return {
        status: 'retryable',
        retryAfterMs: 1000,
        error: new NetconsdError('NETCONSD_ERR_BUFFER_FULL', 'The disk buffer is full.', { sinkId: this.#sinkId, maxBytes: this.queue.maxBytes })
      }
    }
    return { status: 'ok' }
  }

  async health (): Promise<HealthResult> {
    if (this.#inner.health === undefined) return { ok: true }
    return await this.#inner.health()
  }

  /** Resolves once everything written so far is delivered (or dropped). */
  drained (): Promise<void> {
    if (this.queue.size === 0 || this.#stopped) return Promise.resolve()
    return new Promise((resolve) => { this.#idleWaiters.push(resolve) })
  }

  /** Stops taking records, delivers for up to `drainDeadlineMs`, leaves the rest on disk. Idempotent. */
  close (): Promise<void> {
    this.#closePromise ??= this.#close()
    return this.#closePromise
  }

  stats (): BufferedStats {
    const q = this.queue.stats()
    const dropped: Record<string, number> = { ...this.#dropped }
    for (const [k, v] of Object.entries(q.dropped)) dropped[k] = (dropped[k] ?? 0) + v
    return {
      sent: this.#sent,
      failed: this.#failed,
      retried: this.#retried,
      dropped,
      buffer: { records: q.records, bytes: q.bytes, maxBytes: q.maxBytes },
      latencyMs: { ...this.#latency, buckets: [...this.#latency.buckets] },
      lastError: this.#lastError
    }
  }

  async #close (): Promise<void> {
    this.#closing = true
    let timer: NodeJS.Timeout | undefined
    await Promise.race([
      this.drained(),
      new Promise<void>((resolve) => { timer = setTimeout(resolve, this.#opts.drainDeadlineMs) })
    ])
    clearTimeout(timer)
    this.#stopped = true
    this.#attemptNow?.abort(new NetconsdError('NETCONSD_ERR_BUFFER_CLOSED', 'Shutting down; the batch stays in the disk buffer.', { sinkId: this.#sinkId }))
    this.#wake?.()
    this.#wakeSleep?.()
    await this.#pump
    for (const w of this.#idleWaiters.splice(0)) w()
    await this.queue.close()
    await this.#inner.close()
  }

  async #run (): Promise<void> {
    while (!this.#stopped) {
      let raws: Buffer[]
      try {
        raws = await this.queue.read(this.#opts.maxBatchRecords)
      } catch (err) {
        if (this.#stopped) return
        this.#logError('read', err)
        await this.#sleep(1000)
        continue
      }
      if (raws.length === 0) {
        for (const w of this.#idleWaiters.splice(0)) w()
        await new Promise<void>((resolve) => {
          this.#wake = resolve
          // Records may have landed between the empty read and now.
          if (this.queue.unread > 0 || this.#stopped) resolve()
        })
        this.#wake = null
        continue
      }
      const batch: NetconsRecord[] = []
      for (const raw of raws) {
        try {
          batch.push(decodeRecord(raw))
        } catch {
          this.#dropped.buffer_corrupt = (this.#dropped.buffer_corrupt ?? 0) + 1
        }
      }
      const delivered = batch.length === 0 || await this.#deliver(batch)
      if (!delivered) {
        // Stopped while retrying: the batch stays on disk, unacked, for the next start.
        await this.queue.rewind().catch(() => {})
        return
      }
      try {
        await this.queue.ack()
      } catch (err) {
        this.#logError('ack', err)
      }
    }
  }

  /** Sends one batch until the peer takes or refuses it. False if stopped first. */
  async #deliver (batch: NetconsRecord[]): Promise<boolean> {
    const n = batch.length
    let backoff = this.#opts.initialBackoffMs
    for (;;) {
      if (this.#stopped) return false
      const result = await this.#attempt(batch)
      if (result.status === 'ok') {
        const rejected = Math.min(n, Math.max(0, result.rejected ?? 0))
        this.#sent += n - rejected
        this.#failed += rejected
        this.#dropped.rejected! += rejected
        this.#lastError = null
        return true
      }
      this.#lastError = result.error.message
      if (result.status === 'failed') {
        this.#failed += n
        this.#dropped.rejected! += n
        this.#logError('rejected', result.error)
        return true
      }
      if (this.#stopped) return false
      const delay = result.retryAfterMs ?? jitteredDelayMs(Math.min(backoff, this.#opts.maxBackoffMs), this.random)
      backoff = Math.min(backoff * 2, this.#opts.maxBackoffMs)
      this.#logError('retry', result.error)
      await this.#sleep(delay)
      if (this.#stopped) return false
      this.#retried += n
    }
  }

  async #attempt (batch: NetconsRecord[]): Promise<SendResult> {
    const attempt = startAttempt(this.#inner, batch, this.#opts.requestTimeoutMs, this.#sinkId)
    this.#attemptNow = attempt
    const started = Date.now()
    try {
      return await attempt.result
    } finally {
      this.#attemptNow = null
      this.#observe(Date.now() - started)
    }
  }

  #sleep (ms: number): Promise<void> {
    return new Promise((resolve) => {
      const t = setTimeout(() => { this.#wakeSleep = null; resolve() }, ms)
      // close() wakes a sleeping pump so shutdown does not wait out a long backoff.
      this.#wakeSleep = () => { clearTimeout(t); this.#wakeSleep = null; resolve() }
    })
  }

  #observe (ms: number): void {
    const l = this.#latency
    l.count++
    l.sumMs += ms
    if (ms > l.maxMs) l.maxMs = ms
    for (let i = 0; i < LATENCY_BUCKETS_MS.length; i++) if (ms <= LATENCY_BUCKETS_MS[i]!) l.buckets[i]!++
    l.buckets[LATENCY_BUCKETS_MS.length]!++
  }

  #logError (what: string, err: unknown): void {
    const suppressed = this.#logLimit.check(what)
    if (suppressed < 0 || this.#log === undefined) return
    const fields = { sinkId: this.#sinkId, err, suppressed, buffered: this.queue.size }
    if (what === 'retry') this.#log.warn(fields, 'Sink peer unavailable; records stay in the disk buffer and are retried.')
    else this.#log.error(fields, `Disk buffer ${what} failed.`)
  }
}

/** Wraps `inner` so that every batch is written to `queue` first and delivered from there. */
export function withDiskBuffer (inner: Transport, queue: DiskQueue, opts: DiskBufferOptions = {}): DiskBufferedTransport {
  return new DiskBufferedTransport(inner, queue, opts)
}

/** Where buffers live by default: systemd's StateDirectory when set, else /var/lib/netconsd/buffer. */
export function defaultBufferDir (env: NodeJS.ProcessEnv = process.env): string {
  // STATE_DIRECTORY may list several directories separated by ':' (systemd.exec(5)).
  const state = env.STATE_DIRECTORY?.split(':')[0]
  return state !== undefined && state !== '' ? join(state, 'buffer') : '/var/lib/netconsd/buffer'
}

export interface SinkBufferConfig {
  maxBytes?: number
  segmentBytes?: number
  whenFull?: DiskQueueOptions['whenFull']
  fsync?: DiskQueueOptions['fsync']
  fsyncIntervalMs?: number
  maxRecordBytes?: number
}

/**
 * Opens the queue of one sink instance: `<baseDir>/<sinkId>/w<thread>`, with `maxBytes` shared
 * equally by the sink's workers (each worker has its own sink instance and queue).
 */
export async function openSinkQueue (o: { baseDir: string, configDir?: string, sinkId: string, thread: number, workerCount: number, config: SinkBufferConfig }): Promise<DiskQueue> {
  const base = resolve(o.configDir ?? '.', o.baseDir)
  const opts: DiskQueueOptions = { dir: join(base, o.sinkId, `w${o.thread}`) }
  const c = o.config
  if (c.maxBytes !== undefined) opts.maxBytes = Math.floor(c.maxBytes / Math.max(1, o.workerCount))
  if (c.segmentBytes !== undefined) opts.segmentBytes = c.segmentBytes
  if (c.whenFull !== undefined) opts.whenFull = c.whenFull
  if (c.fsync !== undefined) opts.fsync = c.fsync
  if (c.fsyncIntervalMs !== undefined) opts.fsyncIntervalMs = c.fsyncIntervalMs
  if (c.maxRecordBytes !== undefined) opts.maxRecordBytes = c.maxRecordBytes
  return await DiskQueue.open(opts)
}

/**
 * One `SinkSnapshot` for a buffered sink: delivery numbers from the buffer, drops from both,
 * the memory queue depth from the runner.
 */
export function mergeBufferedStats (runner: DeliveryStats, buffered: BufferedStats): SinkSnapshot {
  const dropped: Record<string, number> = { ...runner.dropped }
  for (const [k, v] of Object.entries(buffered.dropped)) dropped[k] = (dropped[k] ?? 0) + v
  return {
    sent: buffered.sent,
    failed: runner.failed + buffered.failed,
    retried: runner.retried + buffered.retried,
    dropped,
    queueDepth: runner.queueDepth,
    latencyMs: buffered.latencyMs,
    buffer: buffered.buffer
  }
}
