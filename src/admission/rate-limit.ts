/**
 * Per-source token buckets, so one host's printk storm cannot starve the others.
 *
 * Each source gets `burst` tokens, refilled at `ratePerSec`; one call to `rateLimit` takes one
 * token (call it per datagram: see docs/operations.md "Admission"). A call without a token is
 * refused and counted, unless the message is emergency-level (syslog level <= `exemptMaxLevel`,
 * default 0 = KERN_EMERG) or a panic: those are admitted from a second, separate per-source
 * bucket (`emergencyBurst`, refilled at `emergencyPerSec`), because they are the messages an
 * operator needs most and a dying kernel sends them once: a real panic sends a handful of such
 * datagrams (3–4 in the captures under test/fixtures/kernel), far below the default burst of 256,
 * while a host faking emergencies at 4000/s gets 256 and then 10/s (`emergency_limited`).
 * Exempt messages also take a normal token, going into debt down to `-burst`, so a host cannot
 * flood with fake emergencies and keep its normal budget too.
 *
 * The table of sources is bounded (`maxSources`, see `BoundedMap`): sources not seen recently
 * are evicted (counted). Spoofing millions of addresses therefore costs a bounded amount of
 * memory. Eviction must not refill a bucket, or cycling through more addresses than the table
 * holds bypasses the limit: while the table is under pressure (it evicted within the last
 * PRESSURE_MS), a source it does not know starts with an empty bucket, and until that bucket
 * refills its datagrams draw from one bucket shared by all such newcomers (`ratePerSec`/`burst`:
 * all unknown sources together get one source's allowance; refusals counted as
 * `new_source_limited`). Without pressure a new source starts with a full bucket, as before, so
 * a booting kernel's replay passes.
 */
import { BoundedMap } from './bounded-map.js'

export interface RateLimiterOptions {
  /** Sustained tokens per second per source. */
  ratePerSec: number
  /** Bucket size: how many may arrive at once after a quiet period. */
  burst: number
  /** Sources tracked; those not seen recently are evicted beyond it. Default 65536. */
  maxSources?: number
  /** Messages at this syslog level or more severe are never refused. Default 0 (emerg); -1 exempts none. */
  exemptMaxLevel?: number
  /** Never refuse a message that is (part of) a kernel panic. Default true. */
  exemptPanics?: boolean
  /** Exempt (emergency / panic) datagrams a source may send over its rate at once. Default 256. */
  emergencyBurst?: number
  /** Refill of that allowance per second. Default 10. */
  emergencyPerSec?: number
}

interface Bucket {
  tokens: number
  lastMs: number
  /** Emergency allowance (refilled lazily, at emergencyPerSec, only when used). */
  emg: number
  emgMs: number
  /** Created empty under pressure: draws on the shared newcomer bucket until its own refills. */
  fresh: boolean
}

/** How long after an eviction the table counts as under pressure (new sources start empty). */
const PRESSURE_MS = 10_000

export class RateLimiter {
  #rate: number
  #burst: number
  #maxSources: number
  #exemptMaxLevel: number
  #exemptPanics: boolean
  #emgBurst = 256
  #emgRate = 10
  #buckets = new BoundedMap<string, Bucket>(65_536)
  /** Shared by every source created empty under pressure. */
  #newcomers: Bucket = { tokens: 0, lastMs: 0, emg: 0, emgMs: 0, fresh: false }
  #seenEvictions = 0
  #lastEvictionMs = -Infinity
  #evictedBefore = 0
  /** Bucket of the last take(), for overRate(). */
  #last: Bucket | null = null
  limited = 0
  exempted = 0
  /** Exempt datagrams refused because the source's emergency allowance was spent. */
  emergencyLimited = 0
  /** Datagrams of sources new under pressure refused because the shared newcomer bucket was empty. */
  newSourceLimited = 0
  #lastRefusedNew = false

  constructor (opts: RateLimiterOptions) {
    this.#rate = 0
    this.#burst = 0
    this.#maxSources = 0
    this.#exemptMaxLevel = 0
    this.#exemptPanics = true
    this.reconfigure(opts)
  }

  /** New limits (config reload); buckets keep their state, clamped to the new burst. */
  reconfigure (opts: RateLimiterOptions): void {
    this.#rate = Math.max(0, opts.ratePerSec)
    this.#burst = Math.max(1, opts.burst)
    this.#maxSources = Math.max(2, Math.floor(opts.maxSources ?? 65_536))
    this.#exemptMaxLevel = opts.exemptMaxLevel ?? 0
    this.#exemptPanics = opts.exemptPanics ?? true
    this.#emgBurst = Math.max(0, opts.emergencyBurst ?? 256)
    this.#emgRate = Math.max(0, opts.emergencyPerSec ?? 10)
    if (this.#newcomers.tokens > this.#burst) this.#newcomers.tokens = this.#burst
    for (const b of this.#buckets.values()) if (b.tokens > this.#burst) b.tokens = this.#burst
    if (this.#buckets.maxEntries !== evenCap(this.#maxSources)) {
      // A new cap: start a new table. Dropped sources come back with a full bucket.
      this.#evictedBefore += this.#buckets.evictions + this.#buckets.size
      this.#buckets = new BoundedMap(this.#maxSources)
    }
  }

  /** Sources evicted from the table because of the cap. */
  get evictions (): number { return this.#evictedBefore + this.#buckets.evictions }

  /**
   * Takes a token for `src`. True = admit. `level` is the syslog level (null when unknown, as
   * for legacy text). Both `level` and `isPanicText` may be functions: they are only called when
   * the source is over its rate, so the hot path never looks at the payload.
   */
  rateLimit (src: string, level: number | null | (() => number | null), isPanicText: boolean | (() => boolean), nowMs: number): boolean {
    return this.take(src, nowMs) || this.overRate(level, isPanicText)
  }

  /**
   * The hot path of `rateLimit`, split so the caller allocates nothing per datagram: takes a token
   * for `src` and returns true, or returns false when the source has none left. After false, call
   * `overRate()` (before any other `take`) to apply the exemptions.
   */
  take (src: string, nowMs: number): boolean {
    let b = this.#buckets.get(src)
    this.#lastRefusedNew = false
    if (b === undefined) {
      const pressure = nowMs - this.#lastEvictionMs < PRESSURE_MS
      b = { tokens: pressure ? 0 : this.#burst, lastMs: nowMs, emg: pressure ? 0 : this.#emgBurst, emgMs: nowMs, fresh: pressure }
      this.#buckets.set(src, b)
      const ev = this.#buckets.evictions
      if (ev !== this.#seenEvictions) { this.#seenEvictions = ev; this.#lastEvictionMs = nowMs }
    } else {
      this.#refill(b, nowMs)
    }
    this.#last = b
    if (b.tokens >= 1) {
      b.tokens -= 1
      b.fresh = false
      return true
    }
    if (b.fresh) {
      const n = this.#newcomers
      this.#refill(n, nowMs)
      if (n.tokens >= 1) { n.tokens -= 1; return true }
      this.#lastRefusedNew = true
    }
    return false
  }

  #takeEmergency (b: Bucket, nowMs: number): boolean {
    const elapsed = nowMs - b.emgMs
    if (elapsed > 0) {
      b.emg = Math.min(this.#emgBurst, b.emg + elapsed * this.#emgRate / 1000)
      b.emgMs = nowMs
    }
    if (b.emg < 1) return false
    b.emg -= 1
    return true
  }

  #refill (b: Bucket, nowMs: number): void {
    // A clock step backwards must not add tokens or poison the bucket.
    const elapsed = nowMs - b.lastMs
    if (elapsed > 0) {
      b.tokens = Math.min(this.#burst, b.tokens + elapsed * this.#rate / 1000)
      b.lastMs = nowMs
    }
  }

  /** The source of the last `take()` had no token: admit it anyway when exempt (counted, in debt), else count it refused. */
  overRate (level: number | null | (() => number | null), isPanicText: boolean | (() => boolean)): boolean {
    const b = this.#last!
    const lvl = typeof level === 'function' ? level() : level
    const exempt = (lvl !== null && lvl <= this.#exemptMaxLevel) ||
      (this.#exemptPanics && (typeof isPanicText === 'function' ? isPanicText() : isPanicText))
    if (exempt) {
      const now = b.lastMs
      b.tokens = Math.max(-this.#burst, b.tokens - 1)
      // A source new under pressure has no allowance of its own yet: it shares the newcomers'.
      if (this.#takeEmergency(b, now) || (b.fresh && this.#takeEmergency(this.#newcomers, now))) {
        this.exempted++
        return true
      }
      this.emergencyLimited++
      return false
    }
    if (this.#lastRefusedNew) this.newSourceLimited++
    else this.limited++
    return false
  }

  /** Sources currently tracked. */
  get sources (): number { return this.#buckets.size }

  /** Forget every source (e.g. when rate limiting is switched off by a reload). */
  clear (): void { this.#buckets.clear() }
}

function evenCap (n: number): number {
  return Math.max(1, Math.floor(Math.max(2, n) / 2)) * 2
}
