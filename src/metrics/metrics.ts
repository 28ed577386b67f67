/**
 * The daemon's Prometheus registry, fed from thread snapshots.
 *
 *   worker k ──postMessage(WorkerSnapshot)──┐
 *   main (ingest, admission) ───────────────┼──► Metrics.update(source, snapshot)
 *                                           │      counters: + (snapshot − previous snapshot)
 *                                           │      gauges:   latest snapshot per source
 *   /proc/net/{snmp,snmp6,udp,udp6} ────────┴──► read at scrape time
 *
 * Snapshots carry cumulative counters; the registry adds the increase since the source's
 * previous snapshot. So a restarted worker (new `incarnation`, counters from zero) never makes
 * an exported counter go down, and a lost or late snapshot loses nothing.
 *
 * Per-host series are capped: only hosts that actually lose, duplicate or reorder messages get
 * a series, the first `maxHostSeries` of them keep it for the life of the process, and every
 * further host is added into `host="other"`, so 10,000 senders cannot make 40,000 series.
 *
 * Uses its own prom-client `Registry`, never the global one, so tests and embedders can hold
 * several and nothing leaks between them.
 */
import { Counter, Gauge, Registry, collectDefaultMetrics, type Metric } from 'prom-client'
import type { HostStats, SinkSnapshot, WorkerSnapshot } from './snapshot.js'
import { LATENCY_BUCKETS_MS } from '../sinks/delivery/stats.js'
import { readKernelUdpStats, type KernelUdpStats } from './proc-net.js'

export type MetricsSource = number | 'main'

export interface MetricsOptions {
  /** Hosts that get their own `host` label on the per-host counters; the rest are summed as `other`. Default 500. */
  maxHostSeries?: number
  /** Node.js process metrics (`process_*`, `nodejs_*`). Default true. */
  processMetrics?: boolean
  /** Local UDP ports whose per-socket kernel drop counters to export (the listen ports). */
  udpPorts?: readonly number[]
  /** Root of procfs; tests point it at a directory of sample files. Default `/proc`. */
  procRoot?: string
  /** Reported in `netconsd_build_info`. */
  version?: string
}

/** The label value that per-host counters of hosts beyond the cap are summed under. */
export const OTHER_HOST = 'other'

type Labels = Record<string, string>
type Apply = (delta: number) => void

interface SourceState {
  incarnation: number | undefined
  /** Cumulative counter values from the previous snapshot, by series key. */
  counters: Map<string, number>
  /** Per-host counters from the previous snapshot, by address. */
  hosts: Map<string, HostStats>
  latest: WorkerSnapshot
}

interface Sample { labels: Labels, value: number, metricName?: string }

/**
 * A metric whose samples are computed on scrape. prom-client's registry only needs `name`,
 * `help`, `type`, `aggregator`, `get()` and `reset()`; this is used where prom-client has no
 * setter: counters read from the kernel and histograms merged from worker bucket counts.
 */
class ComputedMetric {
  readonly aggregator = 'sum'
  readonly labelNames: string[] = []
  constructor (
    readonly name: string,
    readonly help: string,
    readonly type: 'counter' | 'gauge' | 'histogram',
    private readonly compute: () => Sample[] | Promise<Sample[]>
  ) {}

  async get (): Promise<{ name: string, help: string, type: string, aggregator: string, values: Sample[] }> {
    return { name: this.name, help: this.help, type: this.type, aggregator: this.aggregator, values: await this.compute() }
  }

  reset (): void {}
}

interface HistogramData { buckets: number[], sumMs: number, count: number }

export class Metrics {
  readonly registry = new Registry()
  readonly #maxHostSeries: number
  readonly #procRoot: string
  #udpPorts: number[]
  readonly #sources = new Map<string, SourceState>()
  readonly #hostLabels = new Set<string>()
  readonly #latency = new Map<string, HistogramData>()

  // Counters fed by snapshot increases.
  readonly #datagrams: Counter<string>
  readonly #bytes: Counter<string>
  readonly #datagramsDropped: Counter<string>
  readonly #admissionExempted: Counter<string>
  readonly #admissionEvictions: Counter<string>
  readonly #ncrxDatagrams: Counter<string>
  readonly #malformed: Counter<string>
  readonly #messages: Counter<string>
  readonly #delivered: Counter<string>
  readonly #duplicates: Counter<string>
  readonly #oos: Counter<string>
  readonly #lost: Counter<string>
  readonly #resets: Counter<string>
  readonly #incomplete: Counter<string>
  readonly #messagesDropped: Counter<string>
  readonly #fragments: Counter<string>
  readonly #hostsSeen: Counter<string>
  readonly #hostsForgotten: Counter<string>
  readonly #hostLost: Counter<string>
  readonly #hostDuplicates: Counter<string>
  readonly #hostOos: Counter<string>
  readonly #hostResets: Counter<string>
  readonly #ruleMatches: Counter<string>
  readonly #sinkSent: Counter<string>
  readonly #sinkFailed: Counter<string>
  readonly #sinkRetries: Counter<string>
  readonly #sinkDropped: Counter<string>
  readonly #incidents: Counter<string>
  // Events the main thread reports directly.
  readonly #workerRestarts: Counter<string>
  readonly #reloads: Counter<string>
  readonly #lastReload: Gauge<string>

  constructor (opts: MetricsOptions = {}) {
    this.#maxHostSeries = opts.maxHostSeries ?? 500
    this.#procRoot = opts.procRoot ?? '/proc'
    this.#udpPorts = [...(opts.udpPorts ?? [])]
    const registers = [this.registry]
    const counter = (name: string, help: string, labelNames: string[] = []): Counter<string> =>
      new Counter({ name, help, labelNames, registers })
    const gauge = (name: string, help: string, labelNames: string[], collect: (g: Gauge<string>) => void): Gauge<string> =>
      new Gauge({ name, help, labelNames, registers, collect () { this.reset(); collect(this) } })

    const info = new Gauge({ name: 'netconsd_build_info', help: 'Always 1; labels carry the daemon and Node.js versions.', labelNames: ['version', 'node_version'], registers })
    info.set({ version: opts.version ?? 'unknown', node_version: process.version }, 1)

    // Ingest and admission (before parsing).
    this.#datagrams = counter('netconsd_datagrams_received_total', 'Datagrams read from the listen sockets.')
    this.#bytes = counter('netconsd_received_bytes_total', 'Payload bytes of the datagrams read from the listen sockets.')
    this.#datagramsDropped = counter('netconsd_datagrams_dropped_total', 'Datagrams discarded before parsing, by stage (ingest, admission) and reason.', ['stage', 'reason'])
    this.#admissionExempted = counter('netconsd_admission_exempted_total', 'Datagrams over their source\'s rate admitted because they were emergency-level or a panic.')
    this.#admissionEvictions = counter('netconsd_admission_source_evictions_total', 'Sources evicted from the bounded rate-limit table.')
    gauge('netconsd_admission_sources', 'Sources currently tracked by the rate limiter.', [], (g) => {
      g.set(this.#sumLatest((s) => s.admission?.sources))
    })

    // ncrx.
    this.#ncrxDatagrams = counter('netconsd_ncrx_datagrams_total', 'Datagrams handed to the ncrx layer.')
    this.#malformed = counter('netconsd_datagrams_malformed_total', 'Datagrams that could not be parsed, by reason.', ['reason'])
    this.#messages = counter('netconsd_messages_total', 'Messages parsed, by wire format (extended, legacy).', ['format'])
    this.#delivered = counter('netconsd_records_delivered_total', 'Records delivered by ncrx to incidents and the router.')
    this.#duplicates = counter('netconsd_messages_duplicate_total', 'Duplicate messages discarded.')
    this.#oos = counter('netconsd_messages_oos_total', 'Messages delivered out of sequence.')
    this.#lost = counter('netconsd_messages_lost_total', 'Sequence numbers never received (skipped after the gap timeout).')
    this.#resets = counter('netconsd_stream_resets_total', 'Per-host stream resets (reboot, or too many out-of-sequence messages).')
    this.#incomplete = counter('netconsd_messages_incomplete_total', 'Fragmented messages delivered with fragments missing.')
    this.#messagesDropped = counter('netconsd_messages_dropped_total', 'Messages or fragments discarded by ncrx, by reason.', ['reason'])
    this.#fragments = counter('netconsd_ncrx_fragments_total', 'Extended datagrams carrying an ncfrag fragment.')
    this.#hostsSeen = counter('netconsd_ncrx_hosts_created_total', 'Per-host ncrx states created (a host forgotten and seen again counts again).')
    this.#hostsForgotten = counter('netconsd_ncrx_hosts_forgotten_total', 'Hosts forgotten by the idle-host GC.')
    gauge('netconsd_ncrx_hosts', 'Hosts tracked, per worker.', ['worker'], (g) => { this.#perSource(g, (s) => s.ncrx?.hosts) })
    gauge('netconsd_ncrx_held_messages', 'Messages held in reorder windows and fragment buffers, per worker.', ['worker'], (g) => { this.#perSource(g, (s) => s.ncrx?.heldMessages) })
    gauge('netconsd_ncrx_held_bytes', 'Bytes of held messages, per worker.', ['worker'], (g) => { this.#perSource(g, (s) => s.ncrx?.heldBytes) })
    gauge('netconsd_worker_queue_bytes', 'Bytes of the datagrams waiting for a worker: its input queue (JS receive path), its reader thread\'s ring (native path).', ['worker'], (g) => { this.#perSource(g, (s) => s.queueBytes) })

    // Per host (capped).
    this.#hostLost = counter('netconsd_host_messages_lost_total', 'Lost messages per host (hosts beyond the series cap are summed as host="other").', ['host'])
    this.#hostDuplicates = counter('netconsd_host_messages_duplicate_total', 'Duplicate messages per host (capped, see netconsd_host_messages_lost_total).', ['host'])
    this.#hostOos = counter('netconsd_host_messages_oos_total', 'Out-of-sequence messages per host (capped).', ['host'])
    this.#hostResets = counter('netconsd_host_stream_resets_total', 'Stream resets per host (capped).', ['host'])
    gauge('netconsd_host_series', 'Hosts with their own host label; once it reaches netconsd_host_series_limit further hosts count as "other".', [], (g) => { g.set(this.#hostLabels.size) })
    const limit = new Gauge({ name: 'netconsd_host_series_limit', help: 'The configured cap on per-host series (metrics.maxHostSeries).', registers })
    limit.set(this.#maxHostSeries)

    // Router, incidents.
    this.#ruleMatches = counter('netconsd_rule_matches_total', 'Records matched, per rule id (_unmatched for none).', ['rule'])
    this.#incidents = counter('netconsd_incidents_total', 'Kernel incidents detected, by type (oops, panic, warn, ...).', ['type'])

    // Sinks.
    this.#sinkSent = counter('netconsd_sink_sent_records_total', 'Records delivered by a sink.', ['sink'])
    this.#sinkFailed = counter('netconsd_sink_failed_records_total', 'Records a sink failed to deliver (not retryable or out of retries).', ['sink'])
    this.#sinkRetries = counter('netconsd_sink_retries_total', 'Send attempts retried by a sink\'s delivery runner.', ['sink'])
    this.#sinkDropped = counter('netconsd_sink_dropped_records_total', 'Records a sink discarded, by reason.', ['sink', 'reason'])
    gauge('netconsd_sink_queue_records', 'Records waiting in a sink\'s in-memory queue (all workers).', ['sink'], (g) => { this.#perSink(g, (s) => s.queueDepth) })
    gauge('netconsd_sink_buffer_records', 'Records in a sink\'s on-disk buffer, not yet delivered (all workers).', ['sink'], (g) => { this.#perSink(g, (s) => s.buffer?.records) })
    gauge('netconsd_sink_buffer_bytes', 'Bytes used by a sink\'s on-disk buffer (all workers).', ['sink'], (g) => { this.#perSink(g, (s) => s.buffer?.bytes) })
    gauge('netconsd_sink_buffer_capacity_bytes', 'Configured capacity of a sink\'s on-disk buffer (all workers).', ['sink'], (g) => { this.#perSink(g, (s) => s.buffer?.maxBytes) })
    this.#register(new ComputedMetric('netconsd_sink_send_duration_seconds', 'Duration of one send attempt, per sink.', 'histogram', () => this.#latencySamples()))

    // Daemon lifecycle.
    this.#workerRestarts = counter('netconsd_worker_restarts_total', 'Worker threads restarted after a crash.', ['worker'])
    this.#reloads = counter('netconsd_config_reloads_total', 'Configuration reloads (SIGHUP), by result (success, failure).', ['result'])
    this.#lastReload = new Gauge({ name: 'netconsd_config_last_reload_success_timestamp_seconds', help: 'Unix time of the last successful configuration load.', registers })
    this.#lastReload.set(Date.now() / 1000)

    // Kernel (read at scrape time; one read serves all five metrics of a scrape).
    let pending: Promise<KernelUdpStats> | null = null
    const kernel = async (): Promise<KernelUdpStats> => {
      // The registry calls every get() of one scrape synchronously, so they all share this read.
      pending ??= readKernelUdpStats(this.#udpPorts, this.#procRoot).finally(() => { pending = null })
      return await pending
    }
    const family = (pick: 'rcvbufErrors' | 'inErrors' | 'inDatagrams') => async (): Promise<Sample[]> => {
      const k = await kernel()
      const out: Sample[] = []
      if (k.ipv4 !== null) out.push({ labels: { family: 'ipv4' }, value: k.ipv4[pick] })
      if (k.ipv6 !== null) out.push({ labels: { family: 'ipv6' }, value: k.ipv6[pick] })
      return out
    }
    this.#register(new ComputedMetric('netconsd_kernel_udp_receive_buffer_errors_total', 'UDP datagrams the kernel dropped because a receive buffer was full (RcvbufErrors, whole network namespace).', 'counter', family('rcvbufErrors')))
    this.#register(new ComputedMetric('netconsd_kernel_udp_in_errors_total', 'UDP datagrams the kernel could not deliver (InErrors, whole network namespace).', 'counter', family('inErrors')))
    this.#register(new ComputedMetric('netconsd_kernel_udp_in_datagrams_total', 'UDP datagrams the kernel delivered to sockets (InDatagrams, whole network namespace).', 'counter', family('inDatagrams')))
    this.#register(new ComputedMetric('netconsd_socket_drops_total', 'Datagrams the kernel dropped on the listen sockets of a port (/proc/net/udp drops).', 'counter', async () =>
      (await kernel()).ports.map((p) => ({ labels: { port: String(p.port) }, value: p.drops }))))
    this.#register(new ComputedMetric('netconsd_socket_receive_queue_bytes', 'Bytes waiting in the listen sockets\' receive queues, per port.', 'gauge', async () =>
      (await kernel()).ports.map((p) => ({ labels: { port: String(p.port) }, value: p.rxQueueBytes }))))

    if (opts.processMetrics !== false) {
      collectDefaultMetrics({ register: this.registry })
      // prom-client names these three gauges *_total, which Prometheus reserves for counters
      // (promtool check metrics rejects them); nodejs_active_{handles,requests,resources}, by
      // type, carry the same numbers.
      for (const name of ['nodejs_active_handles_total', 'nodejs_active_requests_total', 'nodejs_active_resources_total']) this.registry.removeSingleMetric(name)
    }
  }

  /** Feeds one snapshot from a worker thread (0-based index) or from the main thread (`'main'`). */
  update (source: MetricsSource, snap: WorkerSnapshot): void {
    const key = String(source)
    let st = this.#sources.get(key)
    if (st === undefined || st.incarnation !== snap.incarnation) {
      // New thread or a restarted one: its counters start from zero again.
      st = { incarnation: snap.incarnation, counters: new Map(), hosts: new Map(), latest: snap }
      this.#sources.set(key, st)
    }
    const prev = st.counters
    const next = new Map<string, number>()
    const emit = (seriesKey: string, value: number, apply: Apply): void => {
      if (!Number.isFinite(value) || value < 0) return
      next.set(seriesKey, value)
      const before = prev.get(seriesKey)
      // A value below the previous one means the producer restarted without a new incarnation.
      const delta = before === undefined || value < before ? value : value - before
      if (delta > 0 || before === undefined) apply(delta)
    }
    const inc = (c: Counter<string>, labels: Labels = {}) => (d: number) => { c.inc(labels, d) }
    const each = (prefix: string, m: Record<string, number> | undefined, c: Counter<string>, label: (k: string) => Labels): void => {
      if (m === undefined) return
      for (const [k, v] of Object.entries(m)) emit(`${prefix}\0${k}`, v, inc(c, label(k)))
    }

    const { ingest, admission, ncrx } = snap
    if (ingest !== undefined) {
      emit('ingest.datagrams', ingest.datagrams, inc(this.#datagrams))
      emit('ingest.bytes', ingest.bytes, inc(this.#bytes))
      each('ingest.dropped', ingest.dropped, this.#datagramsDropped, (reason) => ({ stage: 'ingest', reason }))
    }
    if (admission !== undefined) {
      emit('admission.denied', admission.denied, inc(this.#datagramsDropped, { stage: 'admission', reason: 'denied' }))
      emit('admission.notAllowed', admission.notAllowed, inc(this.#datagramsDropped, { stage: 'admission', reason: 'not_allowed' }))
      emit('admission.rateLimited', admission.rateLimited, inc(this.#datagramsDropped, { stage: 'admission', reason: 'rate_limited' }))
      emit('admission.emergencyLimited', admission.emergencyLimited ?? 0, inc(this.#datagramsDropped, { stage: 'admission', reason: 'emergency_limited' }))
      emit('admission.newSourceLimited', admission.newSourceLimited ?? 0, inc(this.#datagramsDropped, { stage: 'admission', reason: 'new_source_limited' }))
      emit('admission.exempted', admission.exempted, inc(this.#admissionExempted))
      emit('admission.evictions', admission.sourceEvictions, inc(this.#admissionEvictions))
    }
    if (snap.shed !== undefined) emit('worker.shed', snap.shed, inc(this.#datagramsDropped, { stage: 'worker', reason: 'overload' }))
    if (ncrx !== undefined) {
      emit('ncrx.datagrams', ncrx.datagrams, inc(this.#ncrxDatagrams))
      emit('ncrx.extended', ncrx.extended, inc(this.#messages, { format: 'extended' }))
      emit('ncrx.legacy', ncrx.legacy, inc(this.#messages, { format: 'legacy' }))
      each('ncrx.malformed', ncrx.malformed, this.#malformed, (reason) => ({ reason }))
      emit('ncrx.delivered', ncrx.delivered, inc(this.#delivered))
      emit('ncrx.duplicates', ncrx.duplicates, inc(this.#duplicates))
      emit('ncrx.oos', ncrx.oos, inc(this.#oos))
      emit('ncrx.lost', ncrx.lost, inc(this.#lost))
      emit('ncrx.resets', ncrx.resets, inc(this.#resets))
      emit('ncrx.incomplete', ncrx.incomplete, inc(this.#incomplete))
      each('ncrx.drops', ncrx.drops, this.#messagesDropped, (reason) => ({ reason }))
      if (ncrx.fragments !== undefined) emit('ncrx.fragments', ncrx.fragments, inc(this.#fragments))
      if (ncrx.hostsSeen !== undefined) emit('ncrx.hostsSeen', ncrx.hostsSeen, inc(this.#hostsSeen))
      if (ncrx.hostsForgotten !== undefined) emit('ncrx.hostsForgotten', ncrx.hostsForgotten, inc(this.#hostsForgotten))
    }
    each('rules', snap.rules, this.#ruleMatches, (rule) => ({ rule }))
    each('incidents', snap.incidents, this.#incidents, (type) => ({ type }))
    for (const [sink, s] of Object.entries(snap.sinks ?? {})) {
      emit(`sink.sent\0${sink}`, s.sent, inc(this.#sinkSent, { sink }))
      emit(`sink.failed\0${sink}`, s.failed, inc(this.#sinkFailed, { sink }))
      emit(`sink.retried\0${sink}`, s.retried, inc(this.#sinkRetries, { sink }))
      each(`sink.dropped\0${sink}`, s.dropped, this.#sinkDropped, (reason) => ({ sink, reason }))
      if (s.latencyMs !== undefined) this.#emitLatency(sink, s.latencyMs, emit)
    }
    if (snap.hosts !== undefined) this.#updateHosts(st, snap.hosts)
    st.counters = next
    st.latest = snap
  }

  /**
   * A thread is gone for good (the pool shrank). Its counted totals stay; its gauges disappear.
   * A restarted thread needs no call: a new `incarnation` in its next snapshot is enough.
   */
  retire (source: MetricsSource): void {
    this.#sources.delete(String(source))
  }

  /** A worker thread crashed and was restarted. */
  workerRestarted (thread: number): void {
    this.#workerRestarts.inc({ worker: String(thread) })
  }

  /** A configuration (re)load finished. */
  configReloaded (ok: boolean, nowMs = Date.now()): void {
    this.#reloads.inc({ result: ok ? 'success' : 'failure' })
    if (ok) this.#lastReload.set(nowMs / 1000)
  }

  /** The UDP ports whose per-socket kernel counters are exported (after binding, or a reload). */
  setUdpPorts (ports: readonly number[]): void {
    this.#udpPorts = [...ports]
  }

  /** The exposition text and its content type, for `/metrics`. */
  async render (): Promise<{ contentType: string, body: string }> {
    return { contentType: this.registry.contentType, body: await this.registry.metrics() }
  }

  #register (m: ComputedMetric): void {
    // prom-client types accept only its own classes; its registry only calls get()/reset().
    this.registry.registerMetric(m as unknown as Metric)
  }

  #sumLatest (pick: (s: WorkerSnapshot) => number | undefined): number {
    let n = 0
    for (const st of this.#sources.values()) n += pick(st.latest) ?? 0
    return n
  }

  #perSource (g: Gauge<string>, pick: (s: WorkerSnapshot) => number | undefined): void {
    for (const [worker, st] of this.#sources) {
      const v = pick(st.latest)
      if (v !== undefined) g.set({ worker }, v)
    }
  }

  #perSink (g: Gauge<string>, pick: (s: SinkSnapshot) => number | undefined): void {
    const sums = new Map<string, number>()
    for (const st of this.#sources.values()) {
      for (const [sink, s] of Object.entries(st.latest.sinks ?? {})) {
        const v = pick(s)
        if (v !== undefined) sums.set(sink, (sums.get(sink) ?? 0) + v)
      }
    }
    for (const [sink, v] of sums) g.set({ sink }, v)
  }

  #emitLatency (sink: string, l: NonNullable<SinkSnapshot['latencyMs']>, emit: (k: string, v: number, apply: Apply) => void): void {
    let h = this.#latency.get(sink)
    if (h === undefined) {
      h = { buckets: new Array<number>(LATENCY_BUCKETS_MS.length + 1).fill(0), sumMs: 0, count: 0 }
      this.#latency.set(sink, h)
    }
    const data = h
    // Buckets are cumulative; adding each one's increase keeps them cumulative.
    for (let i = 0; i < data.buckets.length; i++) {
      emit(`sink.latency.${i}\0${sink}`, l.buckets[i] ?? 0, (d) => { data.buckets[i]! += d })
    }
    emit(`sink.latency.sum\0${sink}`, l.sumMs, (d) => { data.sumMs += d })
    emit(`sink.latency.count\0${sink}`, l.count, (d) => { data.count += d })
  }

  #latencySamples (): Sample[] {
    const out: Sample[] = []
    const name = 'netconsd_sink_send_duration_seconds'
    for (const [sink, h] of this.#latency) {
      for (let i = 0; i < h.buckets.length; i++) {
        const le = i < LATENCY_BUCKETS_MS.length ? String(LATENCY_BUCKETS_MS[i]! / 1000) : '+Inf'
        out.push({ metricName: `${name}_bucket`, labels: { sink, le }, value: h.buckets[i]! })
      }
      out.push({ metricName: `${name}_sum`, labels: { sink }, value: h.sumMs / 1000 })
      out.push({ metricName: `${name}_count`, labels: { sink }, value: h.count })
    }
    return out
  }

  #updateHosts (st: SourceState, hosts: readonly HostStats[]): void {
    const next = new Map<string, HostStats>()
    for (const h of hosts) {
      next.set(h.address, h)
      const before = st.hosts.get(h.address)
      const d = (cur: number, old: number | undefined): number =>
        !Number.isFinite(cur) || cur < 0 ? 0 : old === undefined || cur < old ? cur : cur - old
      const lost = d(h.lost, before?.lost)
      const dup = d(h.duplicates, before?.duplicates)
      const oos = d(h.oos, before?.oos)
      const resets = d(h.resets, before?.resets)
      if (lost + dup + oos + resets === 0) continue
      const host = this.#hostLabel(h.name ?? h.address)
      if (lost > 0) this.#hostLost.inc({ host }, lost)
      if (dup > 0) this.#hostDuplicates.inc({ host }, dup)
      if (oos > 0) this.#hostOos.inc({ host }, oos)
      if (resets > 0) this.#hostResets.inc({ host }, resets)
    }
    st.hosts = next
  }

  /** Sticky: a host keeps its label once given, so no series ever moves between host and "other". */
  #hostLabel (name: string): string {
    if (this.#hostLabels.has(name)) return name
    if (this.#hostLabels.size < this.#maxHostSeries && name !== OTHER_HOST) {
      this.#hostLabels.add(name)
      return name
    }
    return OTHER_HOST
  }
}
