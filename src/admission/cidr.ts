/**
 * Source allow/deny lists by CIDR, checked per datagram before anything parses it.
 *
 * Every address is handled as 16 bytes of IPv6, IPv4 as v4-mapped `::ffff:a.b.c.d` (how a
 * dual-stack socket reports IPv4 senders, RFC 4291 §2.5.5.2), so `10.0.0.0/8`,
 * `::ffff:10.0.0.0/104` and a sender `10.1.2.3` or `::ffff:10.1.2.3` all agree.
 *
 * Matching keeps, per prefix length in use, a set of masked prefixes: a lookup is one set probe
 * per distinct length (IPv4 entries are probed as 32-bit numbers, no allocation). The
 * string-keyed entry point caches verdicts in a bounded map, because parsing the address text
 * costs more than the match; the byte-keyed one needs no cache.
 */
import { NetconsdError } from '../errors.js'
import { parseAddress } from '../ingest/batch.js'
import { BoundedMap } from './bounded-map.js'

export type SourceVerdict = 'allow' | 'denied' | 'not_allowed'

interface Cidr { bytes: Uint8Array, prefix: number }

/** Parses `a.b.c.d[/n]`, `v6[/n]` or `::ffff:a.b.c.d[/n]` (IPv4 prefixes are shifted by 96). */
export function parseCidr (text: string): Cidr | null {
  const slash = text.indexOf('/')
  const addr = (slash < 0 ? text : text.slice(0, slash)).trim()
  const bytes = new Uint8Array(16)
  if (!parseAddress(addr, bytes, 0)) return null
  const isV4Text = /^\d{1,3}(\.\d{1,3}){3}$/.test(addr)
  let prefix = 128
  if (slash >= 0) {
    const p = text.slice(slash + 1).trim()
    if (!/^\d{1,3}$/.test(p)) return null
    prefix = Number(p) + (isV4Text ? 96 : 0)
    if (prefix > 128 || (isV4Text && Number(p) > 32)) return null
  }
  mask(bytes, prefix)
  return { bytes, prefix }
}

function mask (b: Uint8Array, prefix: number): void {
  for (let i = 0; i < 16; i++) {
    const bits = Math.min(8, Math.max(0, prefix - i * 8))
    b[i] = b[i]! & (0xff << (8 - bits)) & 0xff
  }
}

function isV4Mapped (b: Uint8Array, off: number): boolean {
  for (let i = 0; i < 10; i++) if (b[off + i] !== 0) return false
  return b[off + 10] === 0xff && b[off + 11] === 0xff
}

function v4Word (b: Uint8Array, off: number): number {
  return ((b[off + 12]! << 24) | (b[off + 13]! << 16) | (b[off + 14]! << 8) | b[off + 15]!) >>> 0
}

function hexKey (b: Uint8Array, off: number, prefix: number): string {
  let s = ''
  const n = Math.ceil(prefix / 8)
  for (let i = 0; i < n; i++) {
    const bits = Math.min(8, prefix - i * 8)
    s += ((b[off + i]! & (0xff << (8 - bits)) & 0xff) + 256).toString(16)
  }
  return s
}

/** A set of CIDRs; `has()` tells whether an address lies in any of them. Immutable. */
export class CidrSet {
  readonly size: number
  /** Prefix lengths 96..128 that lie inside ::ffff:0:0/96, keyed by the masked IPv4 word. */
  readonly #v4: Array<{ shift: number, keys: Set<number> }> = []
  /** Every other prefix length, keyed by the masked bytes as hex. */
  readonly #v6: Array<{ prefix: number, keys: Set<string> }> = []

  /** Throws NETCONSD_ERR_ADMISSION_CIDR naming every invalid entry (and `field`, for the config path). */
  constructor (entries: readonly string[], field = 'admission') {
    const bad: string[] = []
    const v4 = new Map<number, Set<number>>()
    const v6 = new Map<number, Set<string>>()
    for (const e of entries) {
      const c = parseCidr(e)
      if (c === null) { bad.push(e); continue }
      if (c.prefix >= 96 && isV4Mapped(c.bytes, 0)) {
        const shift = 128 - c.prefix
        let s = v4.get(shift)
        if (s === undefined) v4.set(shift, s = new Set())
        s.add(shift === 32 ? 0 : v4Word(c.bytes, 0) >>> shift)
      } else {
        let s = v6.get(c.prefix)
        if (s === undefined) v6.set(c.prefix, s = new Set())
        s.add(hexKey(c.bytes, 0, c.prefix))
      }
    }
    if (bad.length > 0) {
      throw new NetconsdError('NETCONSD_ERR_ADMISSION_CIDR',
        `${field}: ${bad.map((b) => JSON.stringify(b)).join(', ')} ${bad.length === 1 ? 'is' : 'are'} not an IP address or CIDR (examples: "10.0.0.0/8", "2001:db8::/32").`,
        { field, entries: bad })
    }
    // Longer (more specific) prefixes first: no semantic difference, but typical lists are hosts.
    for (const [shift, keys] of [...v4].sort((a, b) => a[0] - b[0])) this.#v4.push({ shift, keys })
    for (const [prefix, keys] of [...v6].sort((a, b) => b[0] - a[0])) this.#v6.push({ prefix, keys })
    this.size = entries.length
  }

  /** `b[off..off+16]` is an IPv6 address (IPv4 v4-mapped), as in a PacketBatch. */
  hasBytes (b: Uint8Array, off: number): boolean {
    if (this.#v4.length > 0 && isV4Mapped(b, off)) {
      const w = v4Word(b, off)
      for (const { shift, keys } of this.#v4) {
        if (keys.has(shift === 32 ? 0 : w >>> shift)) return true
      }
    }
    for (const { prefix, keys } of this.#v6) {
      if (keys.has(hexKey(b, off, prefix))) return true
    }
    return false
  }
}

export interface SourceFilterOptions {
  /** If non-empty, only these sources are accepted. */
  allow?: readonly string[]
  /** Never accepted; wins over `allow`. */
  deny?: readonly string[]
  /** Verdicts cached for address strings (0 = no cache); least recently used evicted beyond it. Default 65536. */
  cacheEntries?: number
}

/**
 * Allow/deny decision for a datagram's source. `deny` wins over `allow`; an empty `allow`
 * accepts everyone not denied. Counts what it rejects.
 */
export class SourceFilter {
  readonly #allow: CidrSet
  readonly #deny: CidrSet
  readonly #cache: BoundedMap<string, SourceVerdict> | null
  readonly #scratch = new Uint8Array(16)
  denied = 0
  notAllowed = 0

  constructor (opts: SourceFilterOptions = {}) {
    this.#allow = new CidrSet(opts.allow ?? [], 'admission.allow')
    this.#deny = new CidrSet(opts.deny ?? [], 'admission.deny')
    const entries = opts.cacheEntries ?? 65_536
    this.#cache = entries > 0 ? new BoundedMap(entries) : null
  }

  /** True when there is nothing to check (no lists): callers may skip the call entirely. */
  get passThrough (): boolean { return this.#allow.size === 0 && this.#deny.size === 0 }

  /** Verdict for 16 address bytes; not counted (see `allowDatagram*`). */
  checkBytes (b: Uint8Array, off: number): SourceVerdict {
    if (this.#deny.size > 0 && this.#deny.hasBytes(b, off)) return 'denied'
    if (this.#allow.size > 0 && !this.#allow.hasBytes(b, off)) return 'not_allowed'
    return 'allow'
  }

  /** Verdict for an address string (`10.1.2.3`, `::ffff:10.1.2.3`, `2001:db8::1`); unparsable text is `not_allowed` when an allow list exists. */
  check (src: string): SourceVerdict {
    if (this.passThrough) return 'allow'
    const hit = this.#cache?.get(src)
    if (hit !== undefined) return hit
    const v = parseAddress(src, this.#scratch, 0)
      ? this.checkBytes(this.#scratch, 0)
      : (this.#allow.size > 0 ? 'not_allowed' : 'allow')
    // Bounded: a spoofed-source flood can only churn the cache, not grow it.
    this.#cache?.set(src, v)
    return v
  }

  /** Per datagram, before parsing: the verdict, counting `denied` / `notAllowed`. */
  admit (src: string): SourceVerdict {
    return this.#count(this.check(src))
  }

  /** Per datagram, before parsing: true to keep it (counted like `admit`). */
  allowDatagram (src: string): boolean {
    return this.#count(this.check(src)) === 'allow'
  }

  allowDatagramBytes (b: Uint8Array, off: number): boolean {
    return this.#count(this.checkBytes(b, off)) === 'allow'
  }

  get cacheSize (): number { return this.#cache?.size ?? 0 }

  #count (v: SourceVerdict): SourceVerdict {
    if (v === 'denied') this.denied++
    else if (v === 'not_allowed') this.notAllowed++
    return v
  }
}
