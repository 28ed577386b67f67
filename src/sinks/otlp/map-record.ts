/**
 * NetconsRecord → OpenTelemetry log record (the mapping documented in docs/sinks-otlp-webhook.md).
 *
 * Severity follows the OpenTelemetry log data model, Appendix B (syslog), exactly as the
 * Collector's syslog parser does: emerg→21 FATAL … debug→5 DEBUG, text = the syslog keyword.
 * Legacy records carry no level (the console format has none): severity is left unset rather
 * than invented, so nothing turns "unknown" into kern.emerg.
 */
import type { AttributeValue, HrTime } from '@opentelemetry/api'
import type { LogAttributes, SeverityNumber } from '@opentelemetry/api-logs'
import { resourceFromAttributes, type Resource } from '@opentelemetry/resources'
import type { ReadableLogRecord } from '@opentelemetry/sdk-logs'
import type { NetconsRecord } from '../../types.js'
import type { BootClock } from './boot-clock.js'

/** syslog severity 0..7 → OTel SeverityNumber (data model Appendix B). */
export const SEVERITY_NUMBER: readonly number[] = [21, 19, 18, 17, 13, 10, 9, 5]
/** syslog severity 0..7 → SeverityText, the keywords the Collector's syslog parser emits. */
export const SEVERITY_TEXT: readonly string[] = ['emerg', 'alert', 'crit', 'err', 'warning', 'notice', 'info', 'debug']
/** RFC 5424 §6.2.1 facility keywords, 0..23. */
export const FACILITY_NAMES: readonly string[] = [
  'kern', 'user', 'mail', 'daemon', 'auth', 'syslog', 'lpr', 'news', 'uucp', 'cron', 'authpriv', 'ftp',
  'ntp', 'security', 'console', 'solaris-cron', 'local0', 'local1', 'local2', 'local3', 'local4', 'local5', 'local6', 'local7'
]

export const SCOPE_NAME = 'netconsd'

/** Host address for `host.ip`: IPv4 senders shown dotted, not as `::ffff:a.b.c.d`. */
export function displayAddress (address: string): string {
  return address.toLowerCase().startsWith('::ffff:') && address.includes('.') ? address.slice(7) : address
}

function usToHrTime (us: number): HrTime {
  const sec = Math.floor(us / 1_000_000)
  return [sec, (us - sec * 1_000_000) * 1000]
}

function msToHrTime (ms: number): HrTime {
  return usToHrTime(Math.round(ms * 1000))
}

const ZERO_TIME: HrTime = [0, 0]

/**
 * One Resource per (host, kernel release), reused across batches: the OTLP serializer groups
 * records into ResourceLogs by Resource object identity. Bounded, least recently used out.
 */
export class ResourceCache {
  readonly #entries = new Map<string, { labels: Readonly<Record<string, string>>, labelsKey: string, resource: Resource }>()
  readonly #extra: Readonly<Record<string, AttributeValue>>
  readonly #max: number

  constructor (extra: Readonly<Record<string, AttributeValue>> = {}, max = 10_000) {
    this.#extra = extra
    this.#max = max
  }

  get size (): number { return this.#entries.size }

  /**
   * The last Resource per host object: the usual lookup (same host, same release as its previous
   * record) costs no key string and no Map reordering. Checked against every field the Resource is
   * built from, since resolvers update a host's name and labels in place.
   */
  readonly #byHost = new WeakMap<object, { src: string, name: string, release: string | null, labels: Readonly<Record<string, string>>, resource: Resource }>()

  get (rec: NetconsRecord): Resource {
    const m = this.#byHost.get(rec.host)
    if (m !== undefined && m.src === rec.src && m.name === rec.host.name && m.release === rec.release && m.labels === rec.host.labels) return m.resource
    const resource = this.#lookup(rec)
    this.#byHost.set(rec.host, { src: rec.src, name: rec.host.name, release: rec.release, labels: rec.host.labels, resource })
    return resource
  }

  #lookup (rec: NetconsRecord): Resource {
    const key = `${rec.src}\n${rec.host.name}\n${rec.release ?? ''}`
    const hit = this.#entries.get(key)
    if (hit !== undefined) {
      this.#entries.delete(key)
      if (hit.labels === rec.host.labels || hit.labelsKey === JSON.stringify(rec.host.labels)) {
        hit.labels = rec.host.labels
        this.#entries.set(key, hit)
        return hit.resource
      }
    }
    const resource = resourceFromAttributes(this.#attributes(rec))
    this.#entries.set(key, { labels: rec.host.labels, labelsKey: JSON.stringify(rec.host.labels), resource })
    if (this.#entries.size > this.#max) {
      const oldest = this.#entries.keys().next()
      if (oldest.done !== true) this.#entries.delete(oldest.value)
    }
    return resource
  }

  #attributes (rec: NetconsRecord): Record<string, AttributeValue> {
    // Defaults < user `resource` option < what we know about this host.
    const attrs: Record<string, AttributeValue> = { 'service.name': 'kernel', 'os.type': 'linux', ...this.#extra }
    attrs['host.name'] = rec.host.name
    attrs['host.ip'] = [displayAddress(rec.host.address || rec.src)]
    if (rec.release !== null && rec.release !== '') attrs['os.version'] = rec.release
    // Inventory labels, named like semconv's `k8s.node.label.<key>`.
    for (const [k, v] of Object.entries(rec.host.labels)) attrs[`host.label.${k}`] = v
    return attrs
  }
}

export interface MapContext {
  resources: ResourceCache
  bootClock: BootClock
  scope: { name: string, version?: string }
}

/** Scalar or string-array incident/event fields become attributes; nested objects are skipped. */
function putExtra (attrs: LogAttributes, prefix: string, obj: Readonly<Record<string, unknown>>, skip: ReadonlySet<string>): void {
  for (const [k, v] of Object.entries(obj)) {
    if (skip.has(k) || v === null || v === undefined) continue
    if (typeof v === 'string' || typeof v === 'boolean' || (typeof v === 'number' && Number.isFinite(v))) attrs[`${prefix}${k}`] = v
    else if (Array.isArray(v) && v.every((x) => typeof x === 'string')) attrs[`${prefix}${k}`] = v
  }
}

const INCIDENT_CORE = new Set(['type', 'title', 'signature', 'function', 'frames'])
const EVENT_CORE = new Set(['type'])

export function recordAttributes (rec: NetconsRecord): LogAttributes {
  const a: LogAttributes = {}
  a['syslog.facility'] = rec.facility
  a['syslog.facility.name'] = FACILITY_NAMES[rec.facility] ?? String(rec.facility)
  if (rec.level !== null) a['syslog.severity'] = rec.level
  a['netconsole.format'] = rec.format
  if (rec.seq !== null) a['netconsole.seq'] = rec.seq
  if (rec.tsUsec !== null) a['netconsole.ts_usec'] = rec.tsUsec
  // ncrx flags only when set, to keep every record small.
  if (rec.contStart) a['netconsole.cont_start'] = true
  if (rec.cont) a['netconsole.cont'] = true
  if (rec.oos) a['netconsole.oos'] = true
  if (rec.seqReset) a['netconsole.seq_reset'] = true
  if (rec.incomplete) a['netconsole.incomplete'] = true
  if (rec.lostBefore > 0) a['netconsole.lost_before'] = rec.lostBefore
  // Dictionary (SUBSYSTEM=, DEVICE=) and userdata/sysdata lines; a repeated key becomes an array.
  for (const [k, v] of rec.dict) {
    const key = `netconsole.dict.${k}`
    const prev = a[key]
    if (prev === undefined) a[key] = v
    else if (Array.isArray(prev)) (prev as string[]).push(v)
    else a[key] = [prev, v]
  }
  if (rec.kind === 'incident' && rec.incident !== undefined) {
    const inc = rec.incident
    a['netconsd.incident.type'] = inc.type
    a['netconsd.incident.title'] = inc.title
    a['netconsd.incident.signature'] = inc.signature
    if (inc.function !== null) a['netconsd.incident.function'] = inc.function
    a['netconsd.incident.frames'] = [...inc.frames]
    putExtra(a, 'netconsd.incident.', inc, INCIDENT_CORE)
  }
  if (rec.kind === 'event' && rec.event !== undefined) {
    a['netconsd.event.type'] = rec.event.type
    putExtra(a, 'netconsd.event.', rec.event, EVENT_CORE)
  }
  // Router `set` attributes last: the user's rules win.
  for (const [k, v] of Object.entries(rec.attributes)) a[k] = v
  return a
}

/** Maps one record. Feeds the boot clock: call in record order. */
export function toLogRecord (rec: NetconsRecord, ctx: MapContext): ReadableLogRecord {
  const wallUs = ctx.bootClock.observe(rec.src, rec.tsUsec, rec.receivedAt, rec.seqReset, rec.oos)
  const level = rec.level
  const out: {
    -readonly [K in keyof ReadableLogRecord]: ReadableLogRecord[K]
  } = {
    // Timestamp unknown (no kernel time) → 0, which OTLP defines as "unset"; observed is always set.
    hrTime: wallUs === null ? ZERO_TIME : usToHrTime(wallUs),
    hrTimeObserved: msToHrTime(rec.receivedAt),
    body: rec.text,
    resource: ctx.resources.get(rec),
    instrumentationScope: ctx.scope,
    attributes: recordAttributes(rec),
    droppedAttributesCount: 0
  }
  if (level !== null && level >= 0 && level <= 7) {
    out.severityNumber = SEVERITY_NUMBER[level] as SeverityNumber
    out.severityText = SEVERITY_TEXT[level]!
  }
  if (rec.kind === 'incident') out.eventName = 'netconsd.incident'
  else if (rec.kind === 'event') out.eventName = 'netconsd.host_event'
  return out
}
