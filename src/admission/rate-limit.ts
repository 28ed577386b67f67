/**
 * Per-source token buckets, so one host's printk storm cannot starve the others.
 *
 * Each source gets `burst` tokens, refilled at `ratePerSec`; one call to `rateLimit` takes one
 * token (call it per datagram: see docs/operations.md "Admission"). A call without a token is
 * refused and counted, unless the message is emergency-level (syslog level <= `exemptMaxLevel`,
 * default 0 = KERN_EMERG) or a panic: those are always admitted, because they are the messages
 * an operator needs most and a dying kernel sends them once. Exempt messages still take a token,
 * going into debt down to `-burst`, so a host cannot flood with fake emergencies and keep its
 * normal budget too.
 *
 * The table of sources is bounded (`maxSources`, see `BoundedMap`): sources not seen recently
 * are evicted (counted). Spoofing millions of addresses therefore costs a bounded amount of memory; an
 * evicted real host only comes back with a full bucket, which errs on the side of keeping logs.
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
}

interface Bucket { tokens: number, lastMs: number }

export class RateLimiter {
  #rate: number
  #burst: number
  #maxSources: number
  #exemptMaxLevel: number
  #exemptPanics: boolean
  #buckets = new BoundedMap<string, Bucket>(65_536)
  #evictedBefore = 0
  /** Bucket of the last take(), for overRate(). */
  #last: Bucket | null = null
  limited = 0
  exempted = 0

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
    if (b === undefined) {
      b = { tokens: this.#burst, lastMs: nowMs }
      this.#buckets.set(src, b)
    } else {
      // A clock step backwards must not add tokens or poison the bucket.
      const elapsed = nowMs - b.lastMs
      if (elapsed > 0) {
        b.tokens = Math.min(this.#burst, b.tokens + elapsed * this.#rate / 1000)
        b.lastMs = nowMs
      }
    }
    this.#last = b
    if (b.tokens >= 1) {
      b.tokens -= 1
      return true
    }
    return false
  }

  /** The source of the last `take()` had no token: admit it anyway when exempt (counted, in debt), else count it refused. */
  overRate (level: number | null | (() => number | null), isPanicText: boolean | (() => boolean)): boolean {
    const b = this.#last!
    const lvl = typeof level === 'function' ? level() : level
    const exempt = (lvl !== null && lvl <= this.#exemptMaxLevel) ||
      (this.#exemptPanics && (typeof isPanicText === 'function' ? isPanicText() : isPanicText))
    if (exempt) {
      b.tokens = Math.max(-this.#burst, b.tokens - 1)
      this.exempted++
      return true
    }
    this.limited++
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
