/**
 * The daemon's configuration after loading, defaulting and validation.
 * Initial hand-written shape shared by all stages; `schemas/config.schema.json` is the source of
 * truth and `test/config` checks that the two agree.
 */

export interface ListenConfig {
  /** Bind address; `::` is dual-stack (IPv4 senders appear as `::ffff:a.b.c.d`). */
  address: string
  port: number
  /** Listener sockets (SO_REUSEPORT). */
  listeners: number
  /** Requested SO_RCVBUF in bytes; the kernel may cap it (net.core.rmem_max), which is logged. */
  recvBufferBytes: number
  /** `auto` uses the native recvmmsg addon when it loads, else the JS dgram path. */
  receivePath: 'auto' | 'native' | 'js'
}

export interface WorkersConfig {
  count: number
  /** Max datagrams per receive batch (netconsd `-b`). */
  batchSize: number
}

export interface NcrxConfig {
  /** Reorder ring size (netconsd: 512). */
  slots: number
  /** How long a gap or incomplete fragment may hold the stream (netconsd: 200). */
  gapTimeoutMs: number
  /** A gap is never held behind more than this many newer messages (netconsd: 256). */
  retxStride: number
  /** Stream reset after this many of the last 32 packets were out of sequence (netconsd: 19). */
  oosThreshold: number
  /** A seq older than the window is a duplicate if its slot saw activity this recently (netconsd: 5000). */
  oosWindowMs: number
  /** How long an out-of-sequence message is held before delivery (netconsd: 200). */
  oosTimeoutMs: number
  /** Largest reassembled record accepted (`ncfrag` total), bytes. */
  maxMessageBytes: number
  /** Hosts tracked per worker; beyond it the least recently seen host is evicted (counted). */
  maxHosts: number
  /** Bytes of held (reorder/fragment) data per host; beyond it the oldest is released early (counted). */
  maxHeldBytesPerHost: number
  /** Idle-host GC: every `intervalMs` forget hosts idle for more than `ageMs` (0 = off). */
  gcIntervalMs: number
  gcAgeMs: number
}

export interface HostEntry {
  name?: string
  labels?: Record<string, string>
}

export interface HostsConfig {
  /** Address or CIDR → name and labels. */
  inventory: Record<string, HostEntry>
  reverseDns: { enabled: boolean, timeoutMs: number, cacheSize: number, cacheTtlMs: number }
}

export interface SinkConfig {
  type: string
  [option: string]: unknown
}

export interface RuleConfig {
  id: string
  match?: Record<string, unknown>
  to?: string[]
  set?: Record<string, string>
  drop?: boolean
  final?: boolean
}

export interface Config {
  version: number
  /** Absolute path of the file this came from, or `<built-in>`. */
  file: string
  /** Directory for resolving relative paths. */
  dir: string
  listen: ListenConfig
  workers: WorkersConfig
  ncrx: NcrxConfig
  hosts: HostsConfig
  sinks: Record<string, SinkConfig>
  rules: RuleConfig[]
  /** Where records that match no rule go (`_unmatched`). */
  unmatched: { to: string[] }
  /** Output modules loaded by path (positional CLI arguments are appended here). */
  modules: string[]
  log: { level: string }
  [section: string]: unknown
}
