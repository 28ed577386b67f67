/**
 * Per-key token buckets for webhook sinks (e.g. at most 6 messages a minute per host). Records
 * over the limit are dropped and counted (`rate_limited`); the next record of that key that goes
 * through carries how many were suppressed. Emergency-level records (level 0) and panics are
 * never limited: a flood control must not hide the crash it is flooding about (rsyslog's
 * ratelimit `severity` exemption does the same).
 */
import type { NetconsRecord } from '../../types.js'
import { lookup } from './template.js'
import { recordView } from './presets.js'

export interface RateLimitOptions {
  /** `host` (default), `signature` (incident signature, else the text), `hostSignature`, or a `{{field.path}}` template. */
  key?: string
  perMinute: number
  /** Bucket size: records that may go at once after a quiet period. Default: `perMinute`. */
  burst?: number
  /** Keys tracked; the least recently seen is forgotten beyond it. Default 10000. */
  maxKeys?: number
}

/** Never rate-limited: emergency level, or a panic incident. */
export function isExempt (rec: NetconsRecord): boolean {
  return (rec.level !== null && rec.level <= 0) || rec.incident?.type === 'panic'
}

interface Bucket { tokens: number, at: number, suppressed: number }

export class RateLimiter {
  readonly #buckets = new Map<string, Bucket>()
  readonly #ratePerMs: number
  readonly #burst: number
  readonly #maxKeys: number
  readonly #keyOf: (rec: NetconsRecord) => string

  constructor (opts: RateLimitOptions) {
    this.#ratePerMs = opts.perMinute / 60_000
    this.#burst = Math.max(1, opts.burst ?? opts.perMinute)
    this.#maxKeys = opts.maxKeys ?? 10_000
    this.#keyOf = keyFunction(opts.key ?? 'host')
  }

  get size (): number { return this.#buckets.size }

  /**
   * Takes a token for the record's key. Returns -1 when the record is over the limit (drop it),
   * else the number of records of this key suppressed since the last one let through.
   */
  take (rec: NetconsRecord, now = Date.now()): number {
    if (isExempt(rec)) return 0
    const key = this.#keyOf(rec)
    let b = this.#buckets.get(key)
    if (b === undefined) {
      b = { tokens: this.#burst, at: now, suppressed: 0 }
    } else {
      this.#buckets.delete(key) // re-insert: Map order = least recently used first
      b.tokens = Math.min(this.#burst, b.tokens + (now - b.at) * this.#ratePerMs)
      b.at = now
    }
    this.#buckets.set(key, b)
    if (this.#buckets.size > this.#maxKeys) {
      const oldest = this.#buckets.keys().next()
      if (oldest.done !== true) this.#buckets.delete(oldest.value)
    }
    if (b.tokens >= 1) {
      b.tokens -= 1
      const s = b.suppressed
      b.suppressed = 0
      return s
    }
    b.suppressed++
    return -1
  }
}

function keyFunction (key: string): (rec: NetconsRecord) => string {
  switch (key) {
    case 'host': return (r) => r.host.name
    case 'signature': return (r) => r.incident?.signature ?? r.text
    case 'hostSignature': return (r) => `${r.host.name}\n${r.incident?.signature ?? r.text}`
    default: {
      const paths = [...key.matchAll(/\{\{\s*([^{}]*?)\s*\}\}/g)].map((m) => m[1]!)
      return (r) => {
        const view = recordView(r, { sinkId: '' })
        return paths.map((p) => JSON.stringify(lookup(view, p) ?? null)).join('\n')
      }
    }
  }
}
