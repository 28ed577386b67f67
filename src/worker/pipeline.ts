/**
 * Everything one worker thread does with the datagrams of the hosts it owns, independent of how
 * they arrived (native recvmmsg in this thread, or batches handed over by the main thread):
 *
 *   PacketBatch ─► Admission (allow/deny CIDRs, per-source rate limit; before any parsing)
 *                     │
 *                     ▼
 *                  HostTable (ncrx: parse, reassemble, sequence; one state per source host)
 *                     │ NetconsRecord, in per-host order
 *                     ├──────────────► IncidentDetector ─► incident / event records ─┐
 *                     ▼                                                             ▼
 *                   Router (compiled rules) ─► sink ids ─► Sink.write()   (output modules are sinks too)
 *
 * One timer per worker is armed at the earliest deadline of the host table and the detector, so
 * a held message is released on time whether or not more packets arrive (netconsd's lost wake-up
 * bug, research spec §4.4). Reload swaps router, host resolver and sinks between two batches, so a
 * batch is routed entirely under one config; ncrx state is kept.
 */
import { performance } from 'node:perf_hooks'
import type { Logger } from 'pino'
import type { Config } from '../config/types.js'
import type { NetconsRecord } from '../types.js'
import type { Sink, SinkContext, SinkStats } from '../sinks/types.js'
import type { PacketBatch } from '../ingest/batch.js'
import { formatAddress } from '../ingest/batch.js'
import { asBuffer } from '../ncrx/decode.js'
import { createSink } from '../sinks/registry.js'
import { RateLimitedLog } from '../log.js'
import { HostTable } from '../ncrx/hosts.js'
import { compileRouter, type Router } from '../router/router.js'
import { createHostResolver } from '../config/hosts.js'
import { IncidentDetector } from '../incidents/detector.js'
import { resolveIncidentsConfig } from '../incidents/config.js'
import { Admission, resolveAdmissionConfig } from '../admission/index.js'
import { openSinkQueue, withDiskBuffer, defaultBufferDir, type SinkBufferConfig } from '../sinks/delivery/buffer/buffered-transport.js'
import type { AdmissionCounters, SinkSnapshot } from '../metrics/snapshot.js'

export interface PipelineOptions {
  config: Config
  thread: number
  workerCount: number
  logger: Logger
  /** Called with every incident / event record (the main thread's pager gets them). */
  onIncident?: (rec: NetconsRecord) => void
}

interface SinkEntry {
  sink: Sink
  /** Options as configured, to tell on reload whether the sink changed. */
  key: string
  /** Records routed to a batching sink (`writeBatch`) during the batch being processed; reused. */
  batch: NetconsRecord[] | null
}

export interface PipelineSnapshot {
  thread: number
  ncrx: HostTable['counters']
  routed: number
  unmatched: number
  rules: Record<string, number>
  sinks: Record<string, SinkStats>
  sinkWriteErrors: number
  admission: AdmissionCounters
  shed: number
  incidents: Record<string, number>
  events: Record<string, number>
}

const DEFAULT_SINK_CLOSE_MS = 5000

export class Pipeline {
  readonly thread: number
  readonly #workerCount: number
  readonly #log: Logger
  readonly #onIncident: ((rec: NetconsRecord) => void) | undefined
  #config: Config
  #router!: Router
  #resolver!: ReturnType<typeof createHostResolver>
  #sinks = new Map<string, SinkEntry>()
  #hosts!: HostTable
  #admission!: Admission
  #detector!: IncidentDetector
  #timer: NodeJS.Timeout | undefined
  #timerAt = Infinity
  /** Monotonic ms of the batch (or timer run) being processed: one clock read per batch, not per record. */
  #now = 0
  #closed = false
  readonly #errLog = new RateLimitedLog()
  readonly #addrCache = new Map<number, string>()
  /** The last v4 sender and its string (runs of datagrams from one host skip the map). */
  #lastV4 = -1
  #lastV4Str: string | null = null
  /** Entries whose `batch` holds records of the batch being processed. */
  readonly #batched: SinkEntry[] = []
  #routed = 0
  /** Datagrams shed unparsed while the sinks pushed back (JS receive path; the native path pauses its socket). */
  #shed = 0
  #sinkWriteErrors = 0
  /**
   * Sinks removed or replaced by a reload, still closing (flushing, then dropping what is left at
   * the deadline as `shutdown_deadline`). They close beside the new config: a reload does not
   * wait for them, so a failing peer cannot hold up the next one.
   */
  readonly #closing = new Set<{ id: string, sink: Sink, done: Promise<void> }>()
  /**
   * Final counters of every sink instance closed by a reload, per id: the snapshot adds them to the
   * live instance's, so a sink's counters never go down and its last drops are counted.
   */
  readonly #retired = new Map<string, SinkSnapshot>()
  /** Instances already handed to `#retire` (closed once, counted once). */
  readonly #retiredSinks = new WeakMap<Sink, Promise<void>>()
  readonly #incidentCounts: Record<string, number> = {}
  readonly #eventCounts: Record<string, number> = {}

  constructor (opts: PipelineOptions) {
    this.thread = opts.thread
    this.#workerCount = opts.workerCount
    this.#log = opts.logger
    this.#config = opts.config
    this.#onIncident = opts.onIncident
  }

  /** Builds sinks, router and ncrx. Throws (module load/init, sink creation) so start-up fails loudly. */
  async start (): Promise<void> {
    const config = this.#config
    this.#admission = new Admission(resolveAdmissionConfig(admissionSection(config)))
    this.#resolver = createHostResolver(config.hosts, this.#log)
    this.#router = compileRouter(config)
    this.#sinks = await this.#buildSinks(config, new Map())
    this.#hosts = new HostTable({
      config: config.ncrx,
      thread: this.thread,
      resolveHost: (a) => this.#resolver.resolve(a),
      emit: (rec) => this.#onRecord(rec),
      onDrop: (reason, src, count) => this.#logDrop(reason, src, count)
    })
    this.#hosts.keepWire = wantsWire(this.#sinks)
    this.#detector = new IncidentDetector({
      config: resolveIncidentsConfig(config.incidents ?? {}),
      thread: this.thread,
      emit: (rec) => this.#onDerived(rec)
    })
  }

  #ctx (sinkId: string, config: Config): SinkContext {
    return { sinkId, thread: this.thread, workerCount: this.#workerCount, logger: this.#log.child({ sinkId }), configDir: config.dir }
  }

  async #buildSinks (config: Config, keep: Map<string, SinkEntry>): Promise<Map<string, SinkEntry>> {
    const out = new Map<string, SinkEntry>()
    try {
      const buffer = bufferSection(config)
      for (const [id, sc] of Object.entries(config.sinks)) {
        const bc = buffer.sinks?.[id]
        const key = JSON.stringify([sc, bc ?? null, bc !== undefined ? buffer.dir ?? null : null])
        const old = keep.get(id)
        if (old !== undefined && old.key === key) { out.set(id, old); continue }
        const ctx = this.#ctx(id, config)
        if (bc !== undefined) {
          // A buffer directory has one owner: the old instance lets go of it before the new one opens it
          // (also one removed by an earlier reload and still closing).
          if (old !== undefined) await this.#retire(id, old.sink)
          await Promise.all([...this.#closing].filter((c) => c.id === id).map(async (c) => await c.done))
          const queue = await openSinkQueue({ baseDir: buffer.dir ?? defaultBufferDir(), configDir: config.dir, sinkId: id, thread: this.thread, workerCount: this.#workerCount, config: bc })
          const maxBatchRecords = typeof sc.maxBatchRecords === 'number' ? sc.maxBatchRecords : undefined
          ctx.wrapTransport = (t) => withDiskBuffer(t, queue, { logger: ctx.logger, sinkId: id, ...(maxBatchRecords !== undefined ? { maxBatchRecords } : {}) })
        }
        const sink = await createSink(id, sc, ctx)
        out.set(id, { sink, key, batch: typeof sink.writeBatch === 'function' ? [] : null })
      }
    } catch (err) {
      // Close what was created for this attempt, leave the old ones alone.
      await Promise.allSettled([...out.entries()].filter(([id, e]) => keep.get(id) !== e).map(([, e]) => e.sink.close(0)))
      throw err
    }
    return out
  }

  /** One batch of datagrams (both receive paths). Processed synchronously: the batch memory may be reused after return. */
  receiveBatch (b: PacketBatch): void {
    if (this.#closed) return
    const now = this.#now = performance.now()
    const { offsets, lengths, addrs, ports, rxMs } = b
    // Datagrams are parsed where they lie in the batch buffer: no view or copy per datagram.
    const data = asBuffer(b.data)
    const adm = this.#admission
    const hosts = this.#hosts
    for (let i = 0; i < b.count; i++) {
      const off = offsets[i]!
      const len = lengths[i]!
      const src = this.#address(addrs, i * 16)
      if (adm.admitDatagram(src, data, off, len, now) !== 'ok') continue
      hosts.receiveBuffer(src, ports[i]!, data, now, rxMs, off, off + len)
    }
    this.#handOver()
    this.#arm(now)
  }

  /** The highest back-pressure of this worker's sinks (Sink.pressure), 0..1. */
  pressure (): number {
    let p = 0
    for (const e of this.#sinks.values()) {
      const x = e.sink.pressure?.() ?? 0
      if (x > p) p = x
    }
    return p
  }

  /** Drops a batch unparsed (back-pressure on a path that cannot pause its socket); counted. */
  shed (count: number): void {
    this.#shed += count
    const n = this.#errLog.check('shed')
    if (n >= 0) this.#log.warn({ datagrams: count, suppressed: n, stage: 'receiving', reason: 'overload' }, 'Sinks are pushing back: datagrams dropped before parsing.')
  }

  /** One datagram, for tests and replay. */
  receive (src: string, srcPort: number, payload: Uint8Array, nowMono = performance.now(), nowReal = Date.now()): void {
    if (this.#closed) return
    this.#now = nowMono
    if (this.#admission.admitDatagram(src, payload, 0, payload.length, nowMono) === 'ok') this.#hosts.receive(src, srcPort, payload, nowMono, nowReal)
    this.#handOver()
    this.#arm(nowMono)
  }

  #address (addrs: Uint8Array, off: number): string {
    // v4-mapped senders (the common case) are cached by their 32-bit IPv4 address.
    let v4 = addrs[off + 10] === 0xff && addrs[off + 11] === 0xff
    if (v4) for (let i = 0; i < 10; i++) if (addrs[off + i] !== 0) { v4 = false; break }
    if (!v4) return formatAddress(addrs, off)
    const key = ((addrs[off + 12]! << 24) | (addrs[off + 13]! << 16) | (addrs[off + 14]! << 8) | addrs[off + 15]!) >>> 0
    if (key === this.#lastV4 && this.#lastV4Str !== null) return this.#lastV4Str
    let s = this.#addrCache.get(key)
    if (s === undefined) {
      if (this.#addrCache.size >= 65536) this.#addrCache.clear()
      s = formatAddress(addrs, off)
      this.#addrCache.set(key, s)
    }
    this.#lastV4 = key
    this.#lastV4Str = s
    return s
  }

  #onRecord (rec: NetconsRecord): void {
    this.#detector.observe(rec, this.#now)
    this.#dispatch(rec)
  }

  #onDerived (rec: NetconsRecord): void {
    if (rec.kind === 'incident' && rec.incident !== undefined) {
      this.#incidentCounts[rec.incident.type] = (this.#incidentCounts[rec.incident.type] ?? 0) + 1
    } else if (rec.kind === 'event' && rec.event !== undefined) {
      this.#eventCounts[rec.event.type] = (this.#eventCounts[rec.event.type] ?? 0) + 1
    }
    this.#onIncident?.(rec)
    this.#dispatch(rec)
  }

  #dispatch (rec: NetconsRecord): void {
    this.#routed++
    const ids = this.#router.route(rec)
    for (let i = 0; i < ids.length; i++) {
      const entry = this.#sinks.get(ids[i]!)
      if (entry === undefined) continue
      if (entry.batch !== null) {
        // Batching sinks get the batch's records together at its end (#handOver).
        if (entry.batch.length === 0) this.#batched.push(entry)
        entry.batch.push(rec)
        continue
      }
      try {
        entry.sink.write(rec)
      } catch (err) {
        // The contract says write never throws; a sink that does is a bug, counted and logged.
        this.#sinkWriteErrors++
        const n = this.#errLog.check(`sink:${ids[i]!}`)
        if (n >= 0) this.#log.error({ err, sinkId: ids[i], suppressed: n, stage: 'sending' }, 'Sink write threw.')
      }
    }
  }

  /** Hands every batching sink the records routed to it during this batch, in order. */
  #handOver (): void {
    const list = this.#batched
    for (let i = 0; i < list.length; i++) {
      const e = list[i]!
      const recs = e.batch!
      try {
        e.sink.writeBatch!(recs)
      } catch (err) {
        this.#sinkWriteErrors++
        const n = this.#errLog.check(`sink:batch:${e.key}`)
        if (n >= 0) this.#log.error({ err, suppressed: n, stage: 'sending' }, 'Sink writeBatch threw.')
      }
      recs.length = 0
    }
    list.length = 0
  }

  #logDrop (reason: string, src: string, count: number): void {
    const n = this.#errLog.check(`drop:${reason}`)
    if (n >= 0) this.#log.warn({ reason, src, count, suppressed: n, stage: 'processing' }, 'Dropped input.')
  }

  /** Earliest deadline of ncrx and the detector, armed as one timer. */
  #arm (now: number): void {
    const at = Math.min(this.#hosts.nextDeadline(), this.#detector.nextDeadline())
    if (at === this.#timerAt) return
    if (this.#timer !== undefined) clearTimeout(this.#timer)
    this.#timer = undefined
    this.#timerAt = at
    if (at === Infinity || this.#closed) return
    this.#timer = setTimeout(() => {
      this.#timer = undefined
      this.#timerAt = Infinity
      const t = this.#now = performance.now()
      this.#hosts.runTimers(t)
      this.#detector.runTimers(t)
      this.#handOver()
      this.#arm(t)
    }, Math.max(1, Math.ceil(at - now)))
  }

  /**
   * Closes a sink that left the config and folds its final counters into `#retired`; until then
   * the snapshot reads them live. Resolves when closed; never rejects.
   */
  #retire (id: string, sink: Sink): Promise<void> {
    const already = this.#retiredSinks.get(sink)
    if (already !== undefined) return already
    const entry = { id, sink, done: Promise.resolve() }
    entry.done = (async () => {
      try {
        await sink.close(DEFAULT_SINK_CLOSE_MS)
      } catch (err) {
        this.#log.error({ err, sinkId: id }, 'Closing a sink removed by the reload failed.')
      }
      const final = sink.stats?.()
      if (final !== undefined) this.#retired.set(id, addCounters(this.#retired.get(id), final))
      this.#closing.delete(entry)
    })()
    this.#closing.add(entry)
    this.#retiredSinks.set(sink, entry.done)
    return entry.done
  }

  /** Applies a validated new config: router, hosts and sinks swap together; ncrx state is kept. */
  async reload (config: Config): Promise<void> {
    const sinks = await this.#buildSinks(config, this.#sinks)
    const router = compileRouter(config)
    const resolver = createHostResolver(config.hosts, this.#log)
    const removed = [...this.#sinks.entries()].filter(([id, e]) => sinks.get(id) !== e)
    const oldResolver = this.#resolver
    this.#config = config
    this.#router = router
    this.#resolver = resolver
    this.#sinks = sinks
    this.#admission.reconfigure(resolveAdmissionConfig(admissionSection(config)))
    this.#hosts.refreshHosts((a) => resolver.resolve(a))
    this.#hosts.keepWire = wantsWire(sinks)
    oldResolver.close()
    // Not awaited: the new config runs now; a buffered sink replaced above was already closed.
    for (const [id, e] of removed) void this.#retire(id, e.sink)
  }

  async reopen (): Promise<void> {
    await Promise.allSettled([...this.#sinks.values()].map((e) => e.sink.reopen?.() ?? Promise.resolve()))
  }

  /** Graceful stop: release every held message, then flush and close sinks and modules. */
  async shutdown (deadlineMs = DEFAULT_SINK_CLOSE_MS): Promise<PipelineSnapshot> {
    if (!this.#closed) {
      const now = this.#now = performance.now()
      this.#hosts.flushAll(now)
      this.#detector.flushAll(now)
      this.#handOver()
      this.#closed = true
      if (this.#timer !== undefined) clearTimeout(this.#timer)
      this.#timer = undefined
      await Promise.allSettled([...this.#sinks.values()].map((e) => e.sink.close(deadlineMs)))
      await Promise.allSettled([...this.#closing].map(async (c) => await c.done))
      this.#resolver.close()
    }
    return this.snapshot()
  }

  snapshot (): PipelineSnapshot {
    const sinks: Record<string, SinkStats> = {}
    for (const [id, e] of this.#sinks) if (e.sink.stats !== undefined) sinks[id] = e.sink.stats()
    // Closing and closed instances count too: counters of one sink id never go down over reloads.
    for (const c of this.#closing) {
      const st = c.sink.stats?.()
      if (st !== undefined) sinks[c.id] = addCounters(sinks[c.id], st, true)
    }
    for (const [id, r] of this.#retired) sinks[id] = addCounters(sinks[id], r)
    return {
      thread: this.thread,
      ncrx: structuredClone(this.#hosts.counters),
      routed: this.#routed,
      unmatched: this.#router.unmatchedCount(),
      rules: this.#router.matchCounts(),
      sinks,
      sinkWriteErrors: this.#sinkWriteErrors,
      admission: this.#admission.counters(),
      shed: this.#shed,
      incidents: { ...this.#incidentCounts },
      events: { ...this.#eventCounts }
    }
  }

  hostStats (): ReturnType<HostTable['hostStats']> {
    return this.#hosts.hostStats()
  }

  async health (): Promise<Record<string, { ok: boolean, message?: string }>> {
    const out: Record<string, { ok: boolean, message?: string }> = {}
    await Promise.all([...this.#sinks.entries()].map(async ([id, e]) => {
      try {
        out[id] = e.sink.health !== undefined ? await e.sink.health() : { ok: true }
      } catch (err) {
        out[id] = { ok: false, message: (err as Error).message }
      }
    }))
    return out
  }
}

function wantsWire (sinks: Map<string, SinkEntry>): boolean {
  for (const e of sinks.values()) if (e.sink.wantsWireBody === true) return true
  return false
}

type AdmissionSection = Parameters<typeof resolveAdmissionConfig>[0]
interface BufferSection { dir?: string, sinks?: Record<string, SinkBufferConfig> }

function admissionSection (config: Config): AdmissionSection {
  return config.admission ?? {}
}

function bufferSection (config: Config): BufferSection {
  return config.buffer ?? {}
}

/**
 * `base` plus the counters of `more` (sent, failed, retried, dropped, latency). Gauges (queue depth,
 * buffer occupancy) stay `base`'s: a closed instance holds nothing, and a buffer directory belongs
 * to the live instance; `withQueue` adds the queue of an instance still closing.
 */
function addCounters (base: SinkSnapshot | undefined, more: SinkSnapshot, withQueue = false): SinkSnapshot {
  const dropped: Record<string, number> = { ...(base?.dropped ?? {}) }
  for (const [k, v] of Object.entries(more.dropped)) dropped[k] = (dropped[k] ?? 0) + v
  const out: SinkSnapshot = {
    ...(base ?? {}),
    sent: (base?.sent ?? 0) + more.sent,
    failed: (base?.failed ?? 0) + more.failed,
    retried: (base?.retried ?? 0) + more.retried,
    dropped,
    queueDepth: (base?.queueDepth ?? 0) + (withQueue ? more.queueDepth : 0)
  }
  const a = base?.latencyMs
  const b = more.latencyMs
  if (b !== undefined) {
    out.latencyMs = a === undefined
      ? { count: b.count, sumMs: b.sumMs, buckets: [...b.buckets] }
      : { count: a.count + b.count, sumMs: a.sumMs + b.sumMs, buckets: b.buckets.map((v, i) => v + (a.buckets[i] ?? 0)) }
  }
  return out
}
