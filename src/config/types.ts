/**
 * The daemon's configuration after loading, defaulting and validation (deep-frozen).
 * `schemas/config.schema.json` is the source of truth (it also holds the defaults); these types
 * are written once beside it and `test/config/types.test.ts` fails when the two drift apart.
 */

export interface ListenConfig {
  /** Bind address; `::` is dual-stack (IPv4 senders appear as `::ffff:a.b.c.d`). */
  address: string
  port: number
  /** Listener sockets (SO_REUSEPORT). */
  listeners: number
  /** Requested SO_RCVBUF in bytes; the kernel may cap it (net.core.rmem_max), which is logged. */
  recvBufferBytes: number
  /** Native path: bytes of the ring each worker's reader thread fills; 0: the worker reads the socket itself. */
  receiveRingBytes: number
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
  /** Held bytes of all hosts of one worker together (fragment pieces and bookkeeping counted); beyond it the least recently seen host's oldest held data is released early (`held_bytes_global`). */
  maxHeldBytes: number
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
  reverseDns: ReverseDnsConfig
}

export interface ReverseDnsConfig {
  enabled: boolean
  /** Per-lookup timeout, ms. */
  timeoutMs: number
  /** Cached names (LRU), entries. */
  cacheSize: number
  /** How long a name (or a failed lookup) is cached, ms. */
  cacheTtlMs: number
  /** Concurrent lookups. */
  maxInFlight: number
  /** DNS servers; absent = the system's. */
  servers?: string[]
}

export interface SinkConfig {
  type: string
  [option: string]: unknown
}

/** A string or a list of strings (any of). */
export type StrList = string | string[]

/** String matcher object: operators AND-ed, each a string or a list (any of). */
export interface StringOps {
  equals?: StrList
  contains?: StrList
  startsWith?: StrList
  endsWith?: StrList
  glob?: StrList
  regex?: StrList
  flags?: string
  ignoreCase?: boolean
}

/** A glob (exact without wildcards), a matcher object, or a list of those (any of). */
export type PatternSpec = string | StringOps | Array<string | StringOps>
/** Like `PatternSpec`, but a bare string means "contains". */
export type TextSpec = PatternSpec
/** `true` present, `false` absent, or a pattern. */
export type PresenceSpec = boolean | PatternSpec
export type LevelSpec = string | number | Array<string | number>
export type CountSpec = string | number
export type HostSpec = string | string[] | { name?: PatternSpec, address?: StrList, labels?: Record<string, PatternSpec> }
export type TypedSpec = boolean | string | string[] | Record<string, PatternSpec>

/** `match` of a rule (`schemas/rule.schema.json#/definitions/match`): all fields optional, AND-ed. */
export interface RuleMatch {
  host?: HostSpec
  facility?: LevelSpec
  level?: LevelSpec
  text?: TextSpec
  dict?: Record<string, PresenceSpec>
  release?: PatternSpec
  attributes?: Record<string, PresenceSpec>
  format?: 'extended' | 'legacy'
  kind?: 'log' | 'incident' | 'event' | Array<'log' | 'incident' | 'event'>
  oos?: boolean
  seqReset?: boolean
  incomplete?: boolean
  cont?: boolean
  contStart?: boolean
  lostBefore?: CountSpec
  incident?: TypedSpec
  event?: TypedSpec
  not?: RuleMatch
  any?: RuleMatch[]
  all?: RuleMatch[]
}

export interface RuleConfig {
  id: string
  description?: string
  match?: RuleMatch
  /** Sink ids (fan-out). */
  to?: string[]
  /** Attributes set on matching records. */
  set?: Record<string, string>
  /** Discard matching records (stops evaluation). */
  drop?: boolean
  /** Stop evaluation after this rule matched (default false). */
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
  /** Rule-pack files/globs as written (resolved against `dir`); their rules are already merged into `rules`. */
  include: string[]
  /** Included packs' rules first (include order, then file name), then the config's own. */
  rules: RuleConfig[]
  /** Where records that match no rule go (`_unmatched`). */
  unmatched: { to: string[] }
  /** Output modules loaded by path (positional CLI arguments are appended here). */
  modules: string[]
  /** Ids of the sinks made from `modules` (`module:<file name>`); they receive every record not dropped. Computed. */
  moduleSinks: string[]
  /** Route test case files (absolute) that `check-config` runs. */
  tests: string[]
  log: { level: string }
  [section: string]: unknown
}

export type DeepPartial<T> = T extends ReadonlyArray<unknown>
  ? T
  : T extends object ? { [K in keyof T]?: DeepPartial<T[K]> } : T
