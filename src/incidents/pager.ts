/**
 * Paging: one page per incident, not per line, not per worker, with suppression and fleet
 * summaries. Lives on the MAIN thread, because a fleet-wide view needs every worker's incidents.
 *
 *   worker k: router ─(rule: match incident, to: [<pager sink id>])─► pager forwarder sink ─┐
 *                                                                        postMessage         │
 *   main:  Pager(<pager sink id>).offer(rec) ◄───────────────────────────────────────────────┘
 *            ├─ already paged this incident id ─────────────────────► duplicate (dropped)
 *            ├─ signature's fleet summary active, type not exempt ───► folded (counted in the summary)
 *            ├─ ≥ fleetThresholdHosts hosts with this signature in fleetWindowMs ─► summary page
 *            ├─ same host + signature paged within suppressWindowMs ─► suppressed (counted)
 *            └─ else ─────────────────────────────────────────────────► page: target sinks' write()
 *
 * Types in `neverSuppressTypes` (default: panic) always page, one page per incident: a dead host
 * is never hidden behind a summary. The decisions are values (`PageDecision`) so tests and
 * metrics see them; the target sinks (webhook presets) own delivery and retries.
 */
import type { Logger } from 'pino'
import type { Sink } from '../sinks/types.js'
import type { HostInfo, NetconsRecord } from '../types.js'
import { type PagerConfig, resolvePagerConfig } from './config.js'

export type PageDecision = 'page' | 'summary' | 'suppressed' | 'folded' | 'duplicate' | 'ignored'

export interface PagerStats {
  /** Individual pages sent. */
  paged: number
  /** Fleet summary pages sent (first ones and updates). */
  summaries: number
  /** Same host + signature within the suppression window. */
  suppressed: number
  /** Held back because a fleet summary for the signature covers them. */
  folded: number
  /** The same incident offered again. */
  duplicates: number
  /** Not an incident or event record. */
  ignored: number
  /** Signatures currently tracked. */
  signatures: number
}

export interface PagerOptions {
  config?: Partial<PagerConfig>
  /** Where pages go (webhook sinks created on the main thread). */
  sinks: readonly Sink[]
  logger?: Logger
  /** Clock, ms (tests); default Date.now. */
  now?: () => number
}

interface FleetState {
  /** Host → last time it hit this signature, within the window. */
  hosts: Map<string, number>
  /** When the current summary episode began (null: none). */
  summaryAt: number | null
  /** Hosts counted in the last summary sent. */
  summarizedHosts: number
  /** Incidents folded since the last summary. */
  foldedSince: number
  sample: NetconsRecord
  firstAt: number
  timer: NodeJS.Timeout | null
}

const MAX_SAMPLE_HOSTS = 10

export class Pager {
  readonly #cfg: PagerConfig
  readonly #sinks: readonly Sink[]
  readonly #logger: Logger | undefined
  readonly #now: () => number
  readonly #exempt: Set<string>
  /** host+signature → { last page time, incidents suppressed since }. */
  readonly #perHost = new Map<string, { at: number, suppressed: number }>()
  readonly #fleet = new Map<string, FleetState>()
  readonly #pagedIds = new Set<string>()
  readonly #stats: Omit<PagerStats, 'signatures'> = { paged: 0, summaries: 0, suppressed: 0, folded: 0, duplicates: 0, ignored: 0 }
  #closed = false

  constructor (opts: PagerOptions) {
    this.#cfg = resolvePagerConfig(opts.config)
    this.#sinks = opts.sinks
    this.#logger = opts.logger
    this.#now = opts.now ?? Date.now
    this.#exempt = new Set(this.#cfg.neverSuppressTypes)
  }

  /** An incident or event record routed to this pager by a worker. Decides, and pages when it should. Never throws. */
  offer (rec: NetconsRecord): PageDecision {
    if (this.#closed) return 'ignored'
    try {
      return this.#offer(rec)
    } catch (err) {
      this.#logger?.error({ err }, 'Pager failed on a record; it was not paged.')
      return 'ignored'
    }
  }

  stats (): PagerStats {
    return { ...this.#stats, signatures: this.#fleet.size }
  }

  /** Sends the fleet summary updates still owed, stops the timers. Idempotent. The target sinks are the caller's to flush and close. */
  close (): void {
    if (this.#closed) return
    for (const [sig, f] of this.#fleet) {
      if (f.timer !== null) clearTimeout(f.timer)
      f.timer = null
      if (f.summaryAt !== null && f.foldedSince > 0) this.#sendSummary(sig, f, this.#now(), true)
    }
    this.#closed = true
  }

  #offer (rec: NetconsRecord): PageDecision {
    const now = this.#now()
    let type: string
    let signature: string
    let id: string | undefined
    if (rec.kind === 'incident' && rec.incident !== undefined) {
      type = rec.incident.type
      signature = rec.incident.signature
      id = rec.incident.id
    } else if (rec.kind === 'event' && rec.event !== undefined) {
      // Lifecycle events page per host and type; they have no fleet signature.
      type = `event:${rec.event.type}`
      signature = type
      id = undefined
    } else {
      this.#stats.ignored++
      return 'ignored'
    }
    if (id !== undefined) {
      if (this.#pagedIds.has(id)) { this.#stats.duplicates++; return 'duplicate' }
      remember(this.#pagedIds, id, this.#cfg.maxKeys)
    }
    const exempt = this.#exempt.has(type)
    const host = hostKey(rec)

    if (rec.kind === 'incident') {
      const f = this.#fleetState(signature, rec, now)
      f.hosts.delete(host)
      f.hosts.set(host, now)
      if (f.summaryAt !== null) {
        if (exempt) return this.#page(rec, host, signature, now)
        f.foldedSince++
        this.#stats.folded++
        return 'folded'
      }
      if (f.hosts.size >= this.#cfg.fleetThresholdHosts) {
        this.#sendSummary(signature, f, now, false)
        if (exempt) this.#page(rec, host, signature, now)
        return 'summary'
      }
    }

    const key = `${host}\u0000${signature}`
    const last = this.#perHost.get(key)
    if (!exempt && last !== undefined && now - last.at < this.#cfg.suppressWindowMs) {
      last.suppressed++
      this.#stats.suppressed++
      return 'suppressed'
    }
    return this.#page(rec, host, signature, now)
  }

  #page (rec: NetconsRecord, host: string, signature: string, now: number): PageDecision {
    const key = `${host}\u0000${signature}`
    const last = this.#perHost.get(key)
    const suppressed = last?.suppressed ?? 0
    this.#perHost.delete(key)
    this.#perHost.set(key, { at: now, suppressed: 0 })
    trim(this.#perHost, this.#cfg.maxKeys)
    const attributes: Record<string, string> = { ...rec.attributes, page: 'incident' }
    if (suppressed > 0) attributes.pageSuppressed = String(suppressed)
    this.#write({ ...rec, attributes })
    this.#stats.paged++
    return 'page'
  }

  #fleetState (signature: string, rec: NetconsRecord, now: number): FleetState {
    let f = this.#fleet.get(signature)
    if (f === undefined) {
      f = { hosts: new Map(), summaryAt: null, summarizedHosts: 0, foldedSince: 0, sample: rec, firstAt: now, timer: null }
      this.#fleet.set(signature, f)
      if (this.#fleet.size > this.#cfg.maxKeys) {
        const oldest = this.#fleet.entries().next().value
        if (oldest !== undefined) {
          if (oldest[1].timer !== null) clearTimeout(oldest[1].timer)
          this.#fleet.delete(oldest[0])
        }
      }
    }
    // Hosts outside the window no longer count toward a fleet-wide problem.
    const horizon = now - this.#cfg.fleetWindowMs
    for (const [h, at] of f.hosts) {
      if (at > horizon) break
      f.hosts.delete(h)
    }
    if (f.hosts.size === 0) { f.firstAt = now; f.sample = rec }
    return f
  }

  #sendSummary (signature: string, f: FleetState, now: number, update: boolean): void {
    const s = f.sample
    const inc = s.incident!
    const n = f.hosts.size
    const hosts = [...f.hosts.keys()]
    const what = inc.summary ?? inc.title
    const title = update
      ? `Fleet: ${what}: ${f.foldedSince} more incidents, ${n} hosts in the last ${minutes(this.#cfg.fleetWindowMs)}`
      : `Fleet: ${what} on ${n} hosts in ${minutes(this.#cfg.fleetWindowMs)}`
    const fleetHost: HostInfo = { name: 'fleet', address: '', labels: {} }
    const rec: NetconsRecord = {
      ...s,
      host: fleetHost,
      src: '',
      text: title,
      raw: Buffer.from(title, 'utf8'),
      receivedAt: now,
      attributes: { page: 'fleet_summary', fleetHosts: String(n) },
      incident: {
        ...inc,
        id: `fleet/${inc.signatureId ?? signature}/${now}`,
        title,
        fleet: {
          hosts: n,
          sampleHosts: hosts.slice(-MAX_SAMPLE_HOSTS),
          firstAt: f.firstAt,
          windowMs: this.#cfg.fleetWindowMs,
          folded: f.foldedSince,
          update
        }
      }
    }
    this.#write(rec)
    this.#stats.summaries++
    f.summaryAt = now
    f.summarizedHosts = n
    f.foldedSince = 0
    if (f.timer !== null) clearTimeout(f.timer)
    // At the end of the window: an update if more came in meanwhile (and a new window), else the episode ends.
    f.timer = setTimeout(() => {
      f.timer = null
      if (this.#closed) return
      if (f.foldedSince > 0) {
        this.#sendSummary(signature, f, this.#now(), true)
      } else {
        f.summaryAt = null
      }
    }, this.#cfg.fleetWindowMs)
    f.timer.unref?.()
  }

  #write (rec: NetconsRecord): void {
    for (const s of this.#sinks) {
      try {
        s.write(rec)
      } catch (err) {
        // Sinks must not throw (contract); if one does, the others still get the page.
        this.#logger?.error({ err }, 'Pager target sink threw on write.')
      }
    }
  }
}

function hostKey (rec: NetconsRecord): string {
  return rec.host.name !== '' ? rec.host.name : rec.src
}

function minutes (ms: number): string {
  return ms % 60_000 === 0 ? `${ms / 60_000} min` : `${Math.round(ms / 1000)} s`
}

function remember (set: Set<string>, key: string, max: number): void {
  set.add(key)
  if (set.size > max) {
    const first = set.values().next().value
    if (first !== undefined) set.delete(first)
  }
}

function trim<K, V> (map: Map<K, V>, max: number): void {
  while (map.size > max) {
    const first = map.keys().next()
    if (first.done === true) return
    map.delete(first.value)
  }
}
