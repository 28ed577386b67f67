/**
 * Admission control: which datagrams get parsed at all.
 *
 *   datagram ─► SourceFilter (allow/deny CIDR) ─► RateLimiter (per-source token bucket) ─► ncrx
 *                  │ denied / not_allowed           │ rate_limited, new_source_limited, emergency_limited
 *                  ▼ counted, never parsed          ▼ counted
 *
 * Both run per datagram, before parsing: on the main thread for the JS receive path (before
 * the batch is handed to a worker, so a flood never reaches a worker queue), in the worker
 * for the native path. Every source hashes to one worker, so per-source state stays in one
 * place either way. Config: `admission` (schemas/admission.schema.json).
 */
import type { AdmissionCounters } from '../metrics/snapshot.js'
import { SourceFilter } from './cidr.js'
import { RateLimiter } from './rate-limit.js'
import { containsPanic, peekLevel } from './peek.js'

export { SourceFilter } from './cidr.js'
export { RateLimiter } from './rate-limit.js'

export interface RateLimitConfig {
  enabled: boolean
  /** Sustained datagrams per second per source. */
  datagramsPerSec: number
  /** Datagrams a source may send at once after a quiet period. */
  burstDatagrams: number
  /** Sources tracked; least recently seen evicted beyond it. */
  maxSources: number
  /** Syslog levels at or below this are never rate-limited (0 = emerg only; -1 = none). */
  exemptMaxLevel: number
  /** Datagrams containing the kernel panic banner are never rate-limited. */
  exemptPanics: boolean
  /** Exempt datagrams a source may send over its rate at once (then emergencyPerSec). */
  emergencyBurst: number
  /** Refill of the emergency allowance, per second. */
  emergencyPerSec: number
}

export interface AdmissionConfig {
  /** CIDRs or addresses; if non-empty, only these sources are accepted. */
  allow: string[]
  /** CIDRs or addresses never accepted; wins over `allow`. */
  deny: string[]
  /** Address-string verdicts cached (JS receive path). */
  cacheEntries: number
  rateLimit: RateLimitConfig
}

export const ADMISSION_DEFAULTS: Readonly<AdmissionConfig> = Object.freeze({
  allow: [],
  deny: [],
  cacheEntries: 65_536,
  rateLimit: Object.freeze({
    enabled: true,
    // A booting kernel replays its whole log buffer (thousands of lines) at once: the burst
    // covers that; the sustained rate is far above any healthy host.
    datagramsPerSec: 2000,
    burstDatagrams: 20_000,
    maxSources: 65_536,
    exemptMaxLevel: 0,
    exemptPanics: true,
    // A real panic sends 3-5 exempt datagrams (test/fixtures/kernel): 256 passes any real one
    // whole, while a source faking emergencies gets 256 and then 10/s.
    emergencyBurst: 256,
    emergencyPerSec: 10
  })
})

/** Fills defaults into a partial `admission` config section (already schema-validated). */
export function resolveAdmissionConfig (c: Partial<Omit<AdmissionConfig, 'rateLimit'>> & { rateLimit?: Partial<RateLimitConfig> } = {}): AdmissionConfig {
  return {
    allow: [...(c.allow ?? ADMISSION_DEFAULTS.allow)],
    deny: [...(c.deny ?? ADMISSION_DEFAULTS.deny)],
    cacheEntries: c.cacheEntries ?? ADMISSION_DEFAULTS.cacheEntries,
    rateLimit: { ...ADMISSION_DEFAULTS.rateLimit, ...c.rateLimit }
  }
}

export type AdmissionVerdict = 'ok' | 'denied' | 'not_allowed' | 'rate_limited'

export class Admission {
  #filter: SourceFilter
  readonly #limiter: RateLimiter
  #rateLimitOn: boolean
  // Counts of filters replaced by reloads, so counters stay monotonic.
  #deniedBefore = 0
  #notAllowedBefore = 0

  /** Throws NETCONSD_ERR_ADMISSION_CIDR on a bad list entry. */
  constructor (config: AdmissionConfig = resolveAdmissionConfig()) {
    this.#filter = new SourceFilter(config)
    this.#limiter = new RateLimiter(limiterOptions(config.rateLimit))
    this.#rateLimitOn = config.rateLimit.enabled
  }

  /** Applies a reloaded config. Builds the new filter first, so a bad list throws and changes nothing. */
  reconfigure (config: AdmissionConfig): void {
    const filter = new SourceFilter(config)
    this.#deniedBefore += this.#filter.denied
    this.#notAllowedBefore += this.#filter.notAllowed
    this.#filter = filter
    this.#limiter.reconfigure(limiterOptions(config.rateLimit))
    if (!config.rateLimit.enabled) this.#limiter.clear()
    this.#rateLimitOn = config.rateLimit.enabled
  }

  /** Allow/deny only (per datagram, before parsing). Counted. */
  allowDatagram (src: string): boolean {
    return this.#filter.allowDatagram(src)
  }

  /** Rate limit only, when the caller already knows the level (e.g. after parsing). Counted. */
  rateLimit (src: string, level: number | null | (() => number | null), isPanicText: boolean | (() => boolean), nowMs: number): boolean {
    return !this.#rateLimitOn || this.#limiter.rateLimit(src, level, isPanicText, nowMs)
  }

  /**
   * Both checks for one datagram: `src` is its sender (as formatted by `formatAddress`), the
   * payload is `data[off, off+len)`. The header (for the level) and the payload (for a panic)
   * are only looked at when the source is over its rate.
   */
  admitDatagram (src: string, data: Uint8Array, off: number, len: number, nowMs: number): AdmissionVerdict {
    if (!this.#filter.passThrough) {
      const v = this.#filter.admit(src)
      if (v !== 'allow') return v
    }
    if (!this.#rateLimitOn) return 'ok'
    // Within its rate (the common case) a datagram costs one table lookup and no allocation; the
    // payload is only looked at (level, panic text) when the source is over its rate.
    if (this.#limiter.take(src, nowMs)) return 'ok'
    return this.#limiter.overRate(() => peekLevel(data, off, len), () => containsPanic(data, off, len)) ? 'ok' : 'rate_limited'
  }

  counters (): AdmissionCounters {
    return {
      denied: this.#deniedBefore + this.#filter.denied,
      notAllowed: this.#notAllowedBefore + this.#filter.notAllowed,
      rateLimited: this.#limiter.limited,
      emergencyLimited: this.#limiter.emergencyLimited,
      newSourceLimited: this.#limiter.newSourceLimited,
      exempted: this.#limiter.exempted,
      sourceEvictions: this.#limiter.evictions,
      sources: this.#limiter.sources
    }
  }
}

function limiterOptions (r: RateLimitConfig): ConstructorParameters<typeof RateLimiter>[0] {
  return {
    ratePerSec: r.datagramsPerSec,
    burst: r.burstDatagrams,
    maxSources: r.maxSources,
    exemptMaxLevel: r.exemptMaxLevel,
    exemptPanics: r.exemptPanics,
    emergencyBurst: r.emergencyBurst,
    emergencyPerSec: r.emergencyPerSec
  }
}
