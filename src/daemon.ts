/**
 * The daemon's main thread.
 *
 *   UDP :1514 ──► ingest (JS path: dgram here, hash src → worker, one batch per worker per turn)
 *                   │            (native path: each worker owns an SO_REUSEPORT socket instead)
 *                   ▼
 *   worker 0 … N-1: ncrx ─► incidents ─► router ─► sinks / output modules      (src/worker)
 *                   │ stats snapshots, incident records
 *                   ▼
 *   main: exit statistics, metrics, paging aggregator, signals (TERM/INT stop, HUP reload)
 *
 * Shutdown order: stop receiving → hand over pending batches → every worker releases its held
 * ncrx messages, flushes and closes its sinks and modules → exit statistics → exit.
 */
import { Worker, type ResourceLimits } from 'node:worker_threads'
import type { Logger } from 'pino'
import type { Config } from './config/types.js'
import { JsIngest } from './ingest/udp.js'
import { deserializeError, NetconsdError } from './errors.js'
import type { FromWorker, HostStat, ToWorker, WorkerData } from './worker/protocol.js'
import type { PipelineSnapshot } from './worker/pipeline.js'
import type { NetconsRecord } from './types.js'
import type { Sink } from './sinks/types.js'
import { createSink } from './sinks/registry.js'
import { createPager, type PagerSinkOptions } from './incidents/pager-sink.js'
import type { Pager } from './incidents/pager.js'
import { Metrics } from './metrics/metrics.js'
import type { IngestCounters } from './metrics/snapshot.js'
import { VERSION } from './version.js'
import { startMetricsServer, readiness, type MetricsServer } from './metrics/server.js'

/** A `pager` sink's main-thread half: the Pager and the target sinks it pages through. */
interface PagerEntry { pager: Pager, targets: Sink[] }

export interface DaemonOptions {
  config: Config
  logger: Logger
  /** `auto`: native when the addon loads, else JS. */
  receivePath?: 'auto' | 'native' | 'js'
  /** Worker stats snapshot interval, ms. */
  statsIntervalMs?: number
  /** Bytes queued to one worker (JS path) before datagrams for it are dropped. */
  maxQueuedBytesPerWorker?: number
  /** Called with every incident record from any worker (paging, tests). */
  onIncident?: (rec: NetconsRecord) => void
}

interface WorkerSlot {
  thread: number
  worker: Worker
  ready: boolean
  snapshot?: PipelineSnapshot
  hosts: HostStat[]
  kernelDrops?: number | null
  /** Native path: the worker's socket counters. */
  ingest?: IngestCounters
  /** Native path: bytes waiting in the worker's reader-thread ring. */
  queueBytes?: number
  stopping: boolean
  restarts: number
}

const WORKER_URL = new URL('./worker/worker-main.js', import.meta.url)

/**
 * A worker's young generation, MiB (V8 sizes it 3 × the semi-space). V8's default lets each
 * worker's nursery grow to 48 MiB under allocation pressure, a large part of the daemon's RSS
 * above its idle ~100 MiB at high rates, while most of what a worker allocates dies within a
 * batch. Measured with two workers at 200–250k msgs/s (A/B, 3 pairs each, one run): 24 MiB took
 * the syslog sink's peak RSS from ~190 to ~165 MiB at the same CPU; 12 MiB helped the file sink
 * more (~175 → ~155) but cost the syslog sink 5–10% CPU (its queued records were promoted), so
 * 24. NETCONSD_WORKER_YOUNG_GENERATION_MB overrides it (0: V8's default).
 */
const DEFAULT_WORKER_YOUNG_GENERATION_MB = 24

/**
 * A worker's old generation, MiB: what the worker may hold (its sinks' queues, ncrx's held bytes,
 * its tables) twice over, plus room for the rest, and at least MIN_WORKER_OLD_GENERATION_MB. The
 * cap is not there to stop the worker (the byte bounds do that) but because V8 sizes its collection
 * steps to the heap it may grow to: with V8's default (a share of the machine's memory) a worker
 * fed 60 kB records let garbage pile up to ~115 MiB before collecting, and the daemon's peak RSS in
 * the 60 kB attack of docs/operations.md was 270–350 MiB (four runs); with 256 MiB, 206–215. A
 * worker that does exceed it dies of out-of-memory and is restarted (logged, its queues lost), so
 * a config with JS output modules, which hold what they like, gets no cap unless one is set.
 * NETCONSD_WORKER_OLD_GENERATION_MB overrides it (0: V8's default).
 */
const MIN_WORKER_OLD_GENERATION_MB = 256
const DEFAULT_SINK_QUEUE_BYTES = 64 * 1024 * 1024

/** The old-generation cap for `config` (MiB), or 0 for V8's default; see above. */
export function workerOldGenerationMb (config: Pick<Config, 'sinks' | 'ncrx' | 'workers' | 'modules'>): number {
  const sinks = Object.values(config.sinks)
  if (config.modules.length > 0 || sinks.some((s) => s.type === 'module')) return 0
  let held = config.ncrx.maxHeldBytes
  const w = Math.max(1, config.workers.count)
  for (const s of sinks) {
    const q = (s as { maxQueueBytes?: unknown }).maxQueueBytes
    held += (typeof q === 'number' ? q : DEFAULT_SINK_QUEUE_BYTES) / w
  }
  return Math.max(MIN_WORKER_OLD_GENERATION_MB, 128 + Math.ceil(2 * held / (1024 * 1024)))
}

function envMb (env: NodeJS.ProcessEnv, name: string, dflt: number, example: number): number {
  const v = env[name]
  const mb = v === undefined || v.trim() === '' ? dflt : Number(v)
  if (!Number.isFinite(mb) || mb < 0) {
    throw new NetconsdError('NETCONSD_ERR_CLI_USAGE',
      `${name}=${JSON.stringify(v)} is not a size: set it to a number of MiB (e.g. ${example}), 0 for V8's default, or unset it.`,
      { variable: name, value: v })
  }
  return mb
}

/** The workers' V8 limits; a bad NETCONSD_WORKER_*_GENERATION_MB is refused, naming the fix. */
export function workerResourceLimits (env: NodeJS.ProcessEnv = process.env, oldGenerationMb = 0): ResourceLimits | undefined {
  const young = envMb(env, 'NETCONSD_WORKER_YOUNG_GENERATION_MB', DEFAULT_WORKER_YOUNG_GENERATION_MB, 24)
  const old = envMb(env, 'NETCONSD_WORKER_OLD_GENERATION_MB', oldGenerationMb, 256)
  const limits: ResourceLimits = {}
  if (young > 0) limits.maxYoungGenerationSizeMb = young
  if (old > 0) limits.maxOldGenerationSizeMb = old
  return Object.keys(limits).length > 0 ? limits : undefined
}

export class Daemon {
  #config: Config
  readonly #log: Logger
  readonly #opts: DaemonOptions
  #workers: WorkerSlot[] = []
  #ingest: JsIngest | undefined
  #receivePath: 'native' | 'js' = 'js'
  #boundPort = 0
  #recvBufferBytes = 0
  #stopping: Promise<void> | undefined
  #reqId = 0
  #pagers = new Map<string, PagerEntry>()
  #metrics: Metrics | undefined
  #metricsServer: MetricsServer | undefined
  #metricsTimer: NodeJS.Timeout | undefined
  #sinkHealth: Record<string, { ok: boolean, message?: string }> = {}
  #healthAt = 0
  readonly #pending = new Map<number, { resolve: (v: FromWorker) => void, left: number, results: FromWorker[] }>()

  constructor (opts: DaemonOptions) {
    this.#opts = opts
    this.#config = opts.config
    this.#log = opts.logger
  }

  get config (): Config { return this.#config }
  get port (): number { return this.#boundPort }
  get receivePath (): 'native' | 'js' { return this.#receivePath }
  get recvBufferBytes (): number { return this.#recvBufferBytes }

  async start (): Promise<void> {
    const c = this.#config
    if (!Number.isInteger(c.workers.count) || c.workers.count < 1) {
      throw new NetconsdError('NETCONSD_ERR_CLI_USAGE', 'The worker count must be at least 1.', { field: 'workers.count', found: c.workers.count })
    }
    this.#pagers = await this.#buildPagers(c)
    this.#receivePath = await this.#chooseReceivePath()
    this.#log.info({ receivePath: this.#receivePath, workers: c.workers.count, address: c.listen.address, port: c.listen.port }, 'Starting.')

    try {
      if (this.#receivePath === 'native') {
        // Worker 0 binds first so that port 0 (tests) resolves to one port all workers share.
        const first = await this.#spawn(0, c.listen.port)
        this.#boundPort = first.boundPort ?? c.listen.port
        this.#recvBufferBytes = first.recvBufferBytes ?? 0
        // One after another: the kernel numbers SO_REUSEPORT sockets in bind order, and the
        // address-steering filter sends host h to socket jhash2(h) % W, which must be worker W's.
        for (let i = 1; i < c.workers.count; i++) await this.#spawn(i, this.#boundPort)
      } else {
        await Promise.all(Array.from({ length: c.workers.count }, async (_, i) => await this.#spawn(i, c.listen.port)))
        this.#ingest = new JsIngest({
          address: c.listen.address,
          port: c.listen.port,
          recvBufferBytes: c.listen.recvBufferBytes,
          listeners: c.listen.listeners,
          workers: c.workers.count,
          maxQueuedBytesPerWorker: this.#opts.maxQueuedBytesPerWorker ?? 64 * 1024 * 1024,
          logger: this.#log,
          post: (w, batch) => {
            const slot = this.#workers[w]
            if (slot === undefined || slot.stopping) return
            slot.worker.postMessage(batch, [batch.data.buffer, batch.offsets.buffer, batch.lengths.buffer, batch.addrs.buffer, batch.ports.buffer] as ArrayBuffer[])
          }
        })
        await this.#ingest.start()
        this.#boundPort = this.#ingest.boundPort
        this.#recvBufferBytes = this.#ingest.recvBufferBytes
      }
    } catch (err) {
      await this.#terminateAll()
      await this.#closePagers(this.#pagers)
      throw err
    }
    try {
      await this.#startMetrics()
    } catch (err) {
      await this.stop()
      throw err
    }
    this.#log.info({ port: this.#boundPort, recvBufferBytes: this.#recvBufferBytes, receivePath: this.#receivePath }, 'Listening.')
    // Start-up health check: an unreachable peer is reported now, not at the first lost batch.
    // Not fatal: records queue (and retry) until the peer is there.
    void this.health().then((h) => {
      this.#sinkHealth = h
      this.#healthAt = Date.now()
      for (const [sinkId, r] of Object.entries(h)) {
        if (!r.ok) this.#log.warn({ sinkId, reason: r.message }, 'Sink is not healthy at start-up; its records are queued and retried.')
      }
    }, () => {})
  }

  /** The Prometheus endpoint, when `metrics.listen` is set; fed from worker snapshots every second. */
  async #startMetrics (): Promise<void> {
    const mc = (this.#config.metrics ?? {}) as { listen?: string, maxHostSeries?: number, processMetrics?: boolean }
    if (mc.listen === undefined) return
    const opts: ConstructorParameters<typeof Metrics>[0] = { udpPorts: [this.#boundPort], version: VERSION }
    if (mc.maxHostSeries !== undefined) opts.maxHostSeries = mc.maxHostSeries
    if (mc.processMetrics !== undefined) opts.processMetrics = mc.processMetrics
    const metrics = new Metrics(opts)
    this.#metrics = metrics
    this.#metricsServer = await startMetricsServer({
      listen: mc.listen,
      metrics,
      logger: this.#log,
      ready: async () => {
        // Sink health probes cost a connection each: at most one round every 10 s.
        if (Date.now() - this.#healthAt > 10_000 && this.#stopping === undefined) {
          this.#healthAt = Date.now()
          this.#sinkHealth = await this.health()
        }
        return readiness({
          socketsBound: this.#boundPort > 0 || this.#config.listen.port === 0,
          workers: this.#workers.map((w) => ({ thread: w.thread, ready: w.ready && !w.stopping })),
          sinks: this.#sinkHealth,
          stopping: this.#stopping !== undefined
        })
      }
    })
    this.#metricsTimer = setInterval(() => this.#feedMetrics(), 1000)
    this.#metricsTimer.unref()
  }

  #feedMetrics (): void {
    const m = this.#metrics
    if (m === undefined) return
    if (this.#ingest !== undefined) m.update('main', { ingest: this.#ingest.counters })
    for (const w of this.#workers) {
      const s = w.snapshot
      if (s === undefined) continue
      m.update(w.thread, {
        incarnation: w.restarts,
        ncrx: s.ncrx,
        hosts: w.hosts,
        rules: s.rules,
        sinks: s.sinks,
        incidents: s.incidents,
        admission: s.admission,
        queueBytes: this.#queuedBytes(w),
        ...(w.ingest !== undefined ? { ingest: w.ingest } : {})
      })
    }
  }

  async #chooseReceivePath (): Promise<'native' | 'js'> {
    const want = this.#opts.receivePath ?? this.#config.listen.receivePath ?? 'auto'
    if (want === 'js') return 'js'
    let reason = 'not built'
    try {
      const { loadNative, nativeUnavailableReason } = await import('./ingest/native.js')
      if (loadNative() !== null) return 'native'
      reason = nativeUnavailableReason() ?? reason
    } catch (err) {
      reason = (err as Error).message
    }
    if (want === 'native') {
      throw new NetconsdError('NETCONSD_ERR_NATIVE_UNAVAILABLE', `The native receive path was requested but the addon is not available (${reason}); run npm rebuild or use --receive-path js.`, { reason })
    }
    this.#log.info({ reason }, 'Native receive addon not available; using the JS receive path.')
    return 'js'
  }

  /** Starts worker `thread`; resolves with its ready message or rejects with its start error. */
  async #spawn (thread: number, port: number, restarts = 0): Promise<Extract<FromWorker, { type: 'ready' }>> {
    const config = port === this.#config.listen.port ? this.#config : { ...this.#config, listen: { ...this.#config.listen, port } }
    const data: WorkerData = {
      thread,
      workerCount: this.#config.workers.count,
      config,
      receivePath: this.#receivePath,
      logLevel: this.#log.level,
      statsIntervalMs: this.#opts.statsIntervalMs ?? 1000,
      hostStats: (this.#config.metrics as { listen?: string } | undefined)?.listen !== undefined
    }
    const worker = new Worker(WORKER_URL, { workerData: data, resourceLimits: workerResourceLimits(process.env, workerOldGenerationMb(this.#config)) })
    const slot: WorkerSlot = { thread, worker, ready: false, hosts: [], stopping: false, restarts }
    this.#workers[thread] = slot
    return await new Promise((resolve, reject) => {
      worker.on('message', (m: FromWorker) => {
        if (m.type === 'ready') { slot.ready = true; resolve(m); return }
        if (m.type === 'error' && m.stage === 'start') { reject(deserializeError(m.error)); return }
        this.#onWorkerMessage(slot, m)
      })
      worker.on('error', (err) => {
        if (!slot.ready) { reject(err); return }
        this.#log.error({ err, thread }, 'Worker thread crashed.')
      })
      worker.on('exit', (code) => {
        if (!slot.ready) { reject(new NetconsdError('NETCONSD_ERR_WORKER_CRASH', `Worker ${thread} exited during start-up (code ${code}).`, { thread, exitCode: code })); return }
        if (!slot.stopping) void this.#restart(slot, code)
      })
    })
  }

  /** A worker that dies is restarted; its hosts start new ncrx streams (seqReset) on their next packet. */
  async #restart (slot: WorkerSlot, code: number): Promise<void> {
    if (this.#stopping !== undefined) return
    this.#log.error({ thread: slot.thread, exitCode: code, restarts: slot.restarts + 1 }, 'Worker thread exited unexpectedly; restarting it.')
    const delay = Math.min(30_000, 100 * 2 ** Math.min(slot.restarts, 8))
    await new Promise((resolve) => setTimeout(resolve, delay))
    if (this.#stopping !== undefined) return
    this.#metrics?.workerRestarted(slot.thread)
    try {
      await this.#spawn(slot.thread, this.#boundPort || this.#config.listen.port, slot.restarts + 1)
    } catch (err) {
      this.#log.error({ err, thread: slot.thread }, 'Worker restart failed.')
    }
  }

  #onWorkerMessage (slot: WorkerSlot, m: FromWorker): void {
    switch (m.type) {
      case 'ack':
        this.#ingest?.ack(slot.thread, m.bytes)
        break
      case 'stats':
        slot.snapshot = m.snapshot
        slot.hosts = m.hosts
        slot.kernelDrops = m.kernelDrops ?? null
        if (m.ingest !== undefined) slot.ingest = m.ingest
        if (m.queueBytes !== undefined) slot.queueBytes = m.queueBytes
        break
      case 'incident':
        this.#opts.onIncident?.(m.record)
        break
      case 'page': {
        const p = this.#pagers.get(m.sinkId)
        if (p !== undefined) p.pager.offer(m.record)
        break
      }
      case 'closed':
        slot.snapshot = m.snapshot
        slot.hosts = m.hosts
        break
      case 'reloaded':
      case 'health':
      case 'error': {
        if (m.type === 'error' && m.id === undefined) {
          this.#log.error({ err: deserializeError(m.error), thread: slot.thread, stage: m.stage }, 'Worker error.')
          break
        }
        const id = (m as { id: number }).id
        const p = this.#pending.get(id)
        if (p === undefined) break
        p.results.push(m)
        if (--p.left === 0) { this.#pending.delete(id); p.resolve(m) }
        break
      }
      default:
        break
    }
  }

  /** Sends a request to every worker and collects one reply from each. */
  async #broadcast (make: (id: number) => ToWorker): Promise<FromWorker[]> {
    const id = ++this.#reqId
    const live = this.#workers.filter((w) => w.ready && !w.stopping)
    if (live.length === 0) return []
    return await new Promise((resolve) => {
      const entry = { resolve: () => resolve(entry.results), left: live.length, results: [] as FromWorker[] }
      this.#pending.set(id, entry)
      for (const w of live) w.worker.postMessage(make(id))
    })
  }

  /**
   * Paging decisions need fleet-wide state (suppression per host+signature, fleet summaries), so
   * each `pager` sink has one Pager here on the main thread, writing to its own instances of the
   * target sinks (`to`). Workers only forward incident records to it.
   */
  async #buildPagers (config: Config): Promise<Map<string, PagerEntry>> {
    const out = new Map<string, PagerEntry>()
    try {
      for (const [id, sc] of Object.entries(config.sinks)) {
        if (sc.type !== 'pager') continue
        const opts = sc as unknown as PagerSinkOptions
        const targets: Sink[] = []
        out.set(id, { pager: createPager(opts, targets, this.#log.child({ pager: id })), targets })
        for (const t of opts.to) {
          const tc = config.sinks[t]
          if (tc === undefined) throw new NetconsdError('NETCONSD_ERR_CONFIG_INVALID', `Pager ${id} pages through unknown sink ${t}.`, { sinkId: id, target: t })
          targets.push(await createSink(t, tc, { sinkId: t, thread: -1, workerCount: config.workers.count, logger: this.#log.child({ sinkId: t, pager: id }), configDir: config.dir }))
        }
      }
    } catch (err) {
      await this.#closePagers(out)
      throw err
    }
    return out
  }

  async #closePagers (pagers: Map<string, PagerEntry>, deadlineMs = 5000): Promise<void> {
    for (const p of pagers.values()) p.pager.close()
    await Promise.allSettled([...pagers.values()].flatMap((p) => p.targets.map(async (t) => await t.close(deadlineMs))))
  }

  /**
   * Applies a new, already validated config to every worker. Listener settings (address, port,
   * workers) cannot change without a restart; that is reported, the rest applies.
   */
  async reload (config: Config): Promise<{ ok: boolean, errors: Error[] }> {
    const c = this.#config
    if (config.listen.port !== c.listen.port || config.listen.address !== c.listen.address || config.workers.count !== c.workers.count) {
      this.#log.warn('Listen address, port and worker count changes need a restart; they are kept as they are.')
    }
    const next: Config = { ...config, listen: c.listen, workers: c.workers }
    let pagers: Map<string, PagerEntry>
    try {
      pagers = await this.#buildPagers(next)
    } catch (err) {
      return { ok: false, errors: [err as Error] }
    }
    const replies = await this.#broadcast((id) => ({ type: 'reload', config: next, id }))
    const errors = replies.filter((r): r is Extract<FromWorker, { type: 'error' }> => r.type === 'error').map((r) => deserializeError(r.error))
    this.#metrics?.configReloaded(errors.length === 0)
    if (errors.length === 0) {
      this.#config = next
      const old = this.#pagers
      this.#pagers = pagers
      await this.#closePagers(old)
    } else {
      await this.#closePagers(pagers)
    }
    return { ok: errors.length === 0, errors }
  }

  /** A reload whose config did not load (counted in the metrics; the running config stays). */
  reloadRefused (): void {
    this.#metrics?.configReloaded(false)
  }

  /** Address of the metrics endpoint, when enabled. */
  get metricsAddress (): { host: string, port: number } | undefined {
    return this.#metricsServer?.address
  }

  reopen (): void {
    for (const w of this.#workers) if (w.ready) w.worker.postMessage({ type: 'reopen' } satisfies ToWorker)
  }

  async health (): Promise<Record<string, { ok: boolean, message?: string }>> {
    const replies = await this.#broadcast((id) => ({ type: 'health', id }))
    const out: Record<string, { ok: boolean, message?: string }> = {}
    for (const r of replies) {
      if (r.type !== 'health') continue
      for (const [id, h] of Object.entries(r.sinks)) if (out[id] === undefined || !h.ok) out[id] = h
    }
    return out
  }

  /** Bytes waiting for worker `w`: its input queue here (JS path) or its reader-thread ring (native). */
  #queuedBytes (w: WorkerSlot): number {
    return this.#ingest?.queuedBytes(w.thread) ?? w.queueBytes ?? 0
  }

  /** Latest snapshot of every worker (for metrics). */
  snapshots (): Array<{ thread: number, snapshot?: PipelineSnapshot, hosts: HostStat[], queuedBytes: number, kernelDrops?: number | null, ready: boolean }> {
    return this.#workers.map((w) => {
      const o: { thread: number, snapshot?: PipelineSnapshot, hosts: HostStat[], queuedBytes: number, kernelDrops?: number | null, ready: boolean } =
        { thread: w.thread, hosts: w.hosts, queuedBytes: this.#queuedBytes(w), ready: w.ready && !w.stopping }
      if (w.snapshot !== undefined) o.snapshot = w.snapshot
      if (w.kernelDrops !== undefined) o.kernelDrops = w.kernelDrops
      return o
    })
  }

  get ingestCounters (): JsIngest['counters'] | undefined {
    return this.#ingest?.counters
  }

  /** Graceful stop. Idempotent: later calls wait for the first. */
  async stop (deadlineMs = 10_000): Promise<void> {
    this.#stopping ??= this.#doStop(deadlineMs)
    await this.#stopping
  }

  async #doStop (deadlineMs: number): Promise<void> {
    await this.#ingest?.close()
    await Promise.all(this.#workers.map(async (slot) => {
      if (!slot.ready) { await slot.worker.terminate(); return }
      slot.stopping = true
      const exited = new Promise<void>((resolve) => slot.worker.once('exit', () => resolve()))
      slot.worker.postMessage({ type: 'shutdown', deadlineMs } satisfies ToWorker)
      const timer = setTimeout(() => {
        this.#log.error({ thread: slot.thread, deadlineMs }, 'Worker did not finish within the shutdown deadline; terminating it.')
        void slot.worker.terminate()
      }, deadlineMs + 2000)
      await exited
      clearTimeout(timer)
    }))
    // Every worker has forwarded its last incident: owed summaries go out, then pages are flushed.
    await this.#closePagers(this.#pagers, deadlineMs)
    if (this.#metricsTimer !== undefined) clearInterval(this.#metricsTimer)
    this.#feedMetrics()
    await this.#metricsServer?.close()
    this.#logExitStats()
  }

  async #terminateAll (): Promise<void> {
    for (const w of this.#workers) w.stopping = true
    await Promise.allSettled(this.#workers.map(async (w) => await w.worker.terminate()))
    await this.#ingest?.close()
  }

  /** netconsd-style exit statistics. */
  #logExitStats (): void {
    let total = 0
    let hosts = 0
    for (const w of this.#workers) {
      const n = w.snapshot?.ncrx
      if (n === undefined) continue
      total += n.datagrams
      hosts += n.hostsSeen
      this.#log.info({ thread: w.thread, ...n }, `Exiting worker ${w.thread} got ${n.datagrams} datagrams from ${n.hostsSeen} hosts.`)
    }
    const ing = this.#ingest?.counters
    if (ing !== undefined) this.#log.info({ ...ing }, `Listener received ${ing.datagrams} datagrams.`)
    this.#log.info({ datagrams: total, hosts }, `Total datagrams processed by workers: ${total} from ${hosts} hosts.`)
  }
}
