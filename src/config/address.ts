/**
 * Addresses and CIDRs for the host inventory and `match.host`. Everything is compared as IPv6:
 * IPv4 `a.b.c.d` is `::ffff:a.b.c.d` (what a dual-stack socket reports), so `10.1.2.3`,
 * `::ffff:10.1.2.3` and `10.0.0.0/8` vs `::ffff:10.0.0.0/104` are the same thing.
 */
import { parseAddress } from '../ingest/batch.js'

export interface Cidr {
  /** Network address, four big-endian 32-bit words, host bits cleared. */
  words: Uint32Array
  /** Prefix length in IPv6 terms (0..128); an IPv4 `/8` is 104. */
  prefix: number
  /** As written. */
  text: string
}

const scratch = new Uint8Array(16)

/** 16 address bytes → 4 words; null when `s` is not an address. */
export function addressWords (s: string): Uint32Array | null {
  if (!parseAddress(s, scratch, 0)) return null
  const w = new Uint32Array(4)
  for (let i = 0; i < 4; i++) w[i] = ((scratch[4 * i]! << 24) | (scratch[4 * i + 1]! << 16) | (scratch[4 * i + 2]! << 8) | scratch[4 * i + 3]!) >>> 0
  return w
}

/** Parses `addr` or `addr/len` (IPv4 lengths 0..32 are shifted by 96). Null when invalid. */
export function parseCidr (s: string): Cidr | null {
  const slash = s.indexOf('/')
  const addr = slash < 0 ? s : s.slice(0, slash)
  const words = addressWords(addr)
  if (words === null) return null
  const isV4Text = /^\d{1,3}(\.\d{1,3}){3}$/.test(addr)
  let prefix = 128
  if (slash >= 0) {
    const lenText = s.slice(slash + 1)
    if (!/^\d{1,3}$/.test(lenText)) return null
    const len = Number(lenText)
    if (isV4Text ? len > 32 : len > 128) return null
    prefix = isV4Text ? 96 + len : len
  }
  maskInPlace(words, prefix)
  return { words, prefix, text: s }
}

export function maskInPlace (w: Uint32Array, prefix: number): void {
  for (let i = 0; i < 4; i++) {
    const bits = Math.max(0, Math.min(32, prefix - 32 * i))
    w[i] = bits === 0 ? 0 : bits === 32 ? w[i]! : (w[i]! & (0xffffffff << (32 - bits))) >>> 0
  }
}

export function cidrContains (net: Cidr, w: Uint32Array): boolean {
  for (let i = 0; i < 4; i++) {
    const bits = Math.max(0, Math.min(32, net.prefix - 32 * i))
    if (bits === 0) return true
    const mask = bits === 32 ? 0xffffffff : (0xffffffff << (32 - bits)) >>> 0
    if (((w[i]! & mask) >>> 0) !== net.words[i]) return false
  }
  return true
}

/** A map key for words (used for exact and per-prefix lookups). */
export function wordsKey (w: Uint32Array): string {
  return `${w[0]!}.${w[1]!}.${w[2]!}.${w[3]!}`
}
