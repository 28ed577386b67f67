/**
 * What a thread tells the metrics registry about itself.
 *
 * Worker threads cannot share prom-client objects with the main thread, so each worker keeps
 * plain counters and periodically posts a `WorkerSnapshot` (a structured-cloneable plain
 * object). The main thread feeds it to `Metrics.update(thread, snapshot)`. The main thread
 * itself (JS receive path, admission) reports with the same type under the source `'main'`.
 *
 * Rules for producers:
 * - Counters are cumulative since the thread (re)started: never reset them, never send deltas.
 *   When a worker is restarted, give the new incarnation a different `incarnation` value; the
 *   registry then folds the old totals in, so exported counters stay monotonic.
 * - Every section is optional: send only what this thread owns.
 * - Maps keyed by reason / rule / sink / incident type must have bounded key sets (reason
 *   enums, config ids), because every key becomes a Prometheus series.
 */
import type { SinkStats } from '../sinks/types.js'
import type { LatencySummary } from '../sinks/delivery/stats.js'

/** Datagrams read from a socket (main thread on the JS path, a worker on the native path). */
export interface IngestCounters {
  datagrams: number
  bytes: number
  /** Datagrams discarded before parsing, by reason (`worker_queue_full`, `truncated`, ...). */
  dropped: Record<string, number>
}

/** Counters of `src/admission` (allow/deny and per-source rate limiting). */
export interface AdmissionCounters {
  /** Datagrams from a source that matched the deny list. */
  denied: number
  /** Datagrams from a source outside a non-empty allow list. */
  notAllowed: number
  /** Datagrams (or records) over their source's rate. */
  rateLimited: number
  /** Emergency-level or panic datagrams over the source's separate emergency allowance. */
  emergencyLimited?: number
  /** Datagrams of sources new while the source table was evicting, refused by the shared newcomer bucket. */
  newSourceLimited?: number
  /** Admitted over the rate because they were emergency-level or a panic. */
  exempted: number
  /** Sources evicted from the bounded rate-limit table. */
  sourceEvictions: number
  /** Sources currently tracked by the rate limiter (gauge). */
  sources: number
}

/** Counters of one worker's ncrx layer (all hosts of that worker together). */
export interface NcrxCounters {
  /** Datagrams handed to ncrx. */
  datagrams: number
  /** Messages parsed as extended netconsole. */
  extended: number
  /** Extended datagrams carrying `ncfrag` (optional). */
  fragments?: number
  /** Messages handled as legacy (plain text) netconsole. */
  legacy: number
  /** Datagrams that could not be parsed, by reason. */
  malformed: Record<string, number>
  /** Records delivered downstream. */
  delivered: number
  duplicates: number
  /** Records delivered outside the ordered stream. */
  oos: number
  /** Sequence numbers never received (skipped after the gap timeout). */
  lost: number
  /** Stream resets (reboot, or too many out-of-sequence packets). */
  resets: number
  /** Fragmented records delivered with fragments missing. */
  incomplete: number
  /** Messages or fragments discarded, by reason (`host_evicted`, `held_bytes_cap`, `message_too_big`, ...). */
  drops: Record<string, number>
  /** Host states created; a host forgotten and seen again counts again (optional). */
  hostsSeen?: number
  /** Hosts forgotten by idle GC (optional). */
  hostsForgotten?: number
  /** Hosts currently tracked (gauge). */
  hosts: number
  /** Messages held in reorder windows and fragment buffers (gauge). */
  heldMessages: number
  /** Bytes of those messages (gauge). */
  heldBytes: number
}

/** Per-host stream counters, cumulative since ncrx created the host's state. */
export interface HostStats {
  /** Sender address (`::ffff:a.b.c.d` for IPv4). */
  address: string
  /** Inventory / reverse-DNS name, when known; used as the metric label instead of the address. */
  name?: string
  lost: number
  duplicates: number
  oos: number
  /** Stream resets after the host's first message (the first message itself is not a reset). */
  resets: number
}

/** Occupancy of a sink's on-disk buffer (`src/sinks/delivery/buffer`). */
export interface BufferSnapshot {
  records: number
  bytes: number
  maxBytes: number
}

/**
 * `SinkStats` (the sink contract) plus what the delivery runner and the disk buffer add. A
 * runner's `stats()` (`DeliveryStats`) can be passed as it is.
 */
export interface SinkSnapshot extends SinkStats {
  /** Send-attempt latency; cumulative bucket counts over the runner's `LATENCY_BUCKETS_MS`, then +Inf. */
  latencyMs?: Pick<LatencySummary, 'count' | 'sumMs' | 'buckets'>
  buffer?: BufferSnapshot
}

export interface WorkerSnapshot {
  /**
   * Identifies this incarnation of the thread (e.g. its restart count or start time). When it
   * changes, the previous incarnation's counters are kept and the new ones counted from zero.
   */
  incarnation?: number
  ingest?: IngestCounters
  admission?: AdmissionCounters
  /** Datagrams a worker dropped unparsed while its sinks pushed back (JS receive path). */
  shed?: number
  ncrx?: NcrxCounters
  /**
   * Every host this worker currently tracks. A host missing from the next snapshot is taken as
   * forgotten (GC or eviction): its increments since the previous snapshot are not counted.
   */
  hosts?: HostStats[]
  /** Matches per rule id (including `_unmatched`). */
  rules?: Record<string, number>
  /** Per sink id. */
  sinks?: Record<string, SinkSnapshot>
  /** Incidents detected, by incident type (`oops`, `panic`, ...). */
  incidents?: Record<string, number>
  /** Bytes of the datagrams waiting in this worker's input queue (gauge). */
  queueBytes?: number
}

/** All-zero ncrx counters, for producers that build snapshots incrementally. */
export function emptyNcrxCounters (): NcrxCounters {
  return {
    datagrams: 0,
    extended: 0,
    legacy: 0,
    malformed: {},
    delivered: 0,
    duplicates: 0,
    oos: 0,
    lost: 0,
    resets: 0,
    incomplete: 0,
    drops: {},
    hosts: 0,
    heldMessages: 0,
    heldBytes: 0
  }
}
