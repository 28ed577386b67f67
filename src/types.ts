/**
 * Records that flow from ncrx through incidents and the router to the sinks.
 *
 * One type for every stage so that a sink, a rule and an output module all see the same
 * fields. `raw` is always "the bytes `text` was decoded from": for an extended record the
 * kernel's text after reassembly and `\xNN` unescaping (before UTF-8 decoding, so invalid
 * UTF-8 is not lost); for a legacy record the datagram payload exactly as sent.
 */

/** Who sent a record. netconsole sends no hostname: `name` comes from the inventory, reverse DNS, or the address. */
export interface HostInfo {
  /** Inventory or reverse-DNS name; the address when neither is known. */
  name: string
  /** Sender address as an IPv6 string (IPv4 senders as `::ffff:a.b.c.d`). */
  address: string
  /** Inventory labels (`rack`, `role`, ...). */
  labels: Readonly<Record<string, string>>
}

export type RecordFormat = 'extended' | 'legacy'
export type RecordKind = 'log' | 'incident' | 'event'

/** A kernel incident (oops, panic, WARN, ...) grouped from many log lines. Filled by `src/incidents`. */
export interface IncidentInfo {
  /** `oops` | `panic` | `warn` | `bug` | `gpf` | `soft_lockup` | `hard_lockup` | `rcu_stall` | `hung_task` | `oom` | `ubsan` | `kasan` | ... */
  type: string
  title: string
  /** Stable grouping key: type + top frames without addresses or offsets. */
  signature: string
  function: string | null
  frames: string[]
  /** Fields below are always set by `src/incidents` (optional here so tests can build small records). */
  /** Unique per incident (host, boot time, first line): the pager pages an id at most once. */
  id?: string
  /** Short human title, syzbot style: `WARNING in knc_write`, `Kernel panic: Fatal exception`. */
  summary?: string
  /** First 16 hex digits of SHA-256(signature). */
  signatureId?: string
  /** Wall-clock arrival of the first / last line, ms since the epoch. */
  firstAt?: number
  lastAt?: number
  /** Kernel time of the first / last line, µs since the sender booted. */
  firstTsUsec?: number | null
  lastTsUsec?: number | null
  firstSeq?: number | null
  lastSeq?: number | null
  cpu?: number | null
  pid?: number | null
  comm?: string | null
  /** Taint letters as printed, padding removed (`GDWOE`); `''` when "Not tainted". */
  taint?: string | null
  release?: string | null
  hardware?: string | null
  modules?: string[]
  /** WARN() message (the lines between `cut here` and `WARNING:`), or the panic message. */
  message?: string | null
  /** The report's lines, `\n`-joined (capped, see `droppedLines`). */
  text?: string
  /** Lines the report had, kept or not. */
  lines?: number
  droppedLines?: number
  /** Emitted before the report's end marker (shutdown, eviction, duration cap, idle before the marker). */
  partial?: boolean
  /** `end_marker` | `idle` | `superseded` | `max_duration` | `evicted` | `shutdown`. */
  endReason?: string
  /** Sequence numbers missing between the report's first and last line. */
  lost?: number
  /** `sysrq` when the line just before the report was a sysrq action (someone asked for it). */
  trigger?: string | null
  /** Per-type facts: OOM victim, lockup duration, die counter, KASAN access... */
  details?: Record<string, string | number>
  [key: string]: unknown
}

/** A host lifecycle event (`reboot`, `silent_after_panic`, `loss`, `new_host`). Filled by `src/incidents`. */
export interface HostEvent {
  type: string
  [key: string]: unknown
}

export interface NetconsRecord {
  kind: RecordKind
  format: RecordFormat
  /** Sender address as an IPv6 string, the key of the host's ncrx state. */
  src: string
  /** Sender UDP port of the (last) datagram. */
  srcPort: number
  host: HostInfo
  /** 0-based index of the worker thread that handled the record. */
  thread: number
  /** printk sequence number; null for legacy records. */
  seq: number | null
  /** syslog facility (prefix >> 3); kernel messages are 0 (`kern`), /dev/kmsg writes 1 (`user`). */
  facility: number
  /** syslog level 0..7 (prefix & 7); null for legacy records (the console format carries none). */
  level: number | null
  /** Kernel timestamp in microseconds since the sender booted; null when unknown. */
  tsUsec: number | null
  /** Message text, UTF-8 decoded (invalid bytes replaced by U+FFFD). */
  text: string
  /** The bytes `text` was decoded from (see the file comment). */
  raw: Buffer
  /** Dictionary and userdata/sysdata lines as `[key, value]` pairs, in wire order; keys may repeat. */
  dict: Array<[string, string]>
  /** Kernel release when the sender prepends it (netconsole `r` flag), else null. */
  release: string | null
  /** Header flag `c`. */
  contStart: boolean
  /** Header flag `+`. */
  cont: boolean
  /** Delivered outside the ordered stream (too old, or before a stream reset). */
  oos: boolean
  /** The stream (re)started here: first message from a host, a reboot, or a reset after GC. */
  seqReset: boolean
  /** A fragmented record whose fragments did not all arrive before the timeout. */
  incomplete: boolean
  /** Sequence numbers skipped just before this record (0 when none). */
  lostBefore: number
  /** Wall-clock arrival time of the (last) datagram, ms since the epoch. */
  receivedAt: number
  /** Attributes set by router rules (`set`). */
  attributes: Record<string, string>
  incident?: IncidentInfo
  event?: HostEvent
}
