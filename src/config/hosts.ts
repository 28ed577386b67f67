/**
 * Who sent a datagram. netconsole carries no hostname, so a host's name and labels come from:
 *
 *   1. the inventory (`hosts.inventory`): exact addresses and CIDRs. Labels merge from the widest
 *      to the narrowest matching entry; the narrowest entry that has a name names the host;
 *   2. reverse DNS (`hosts.reverseDns`), when enabled and the inventory gave no name. A PTR
 *      record is whatever the owner of the address's reverse zone says, so a PTR name is used
 *      only when it is forward-confirmed (the name resolves back to the sender's address) and
 *      never when it equals an inventory name: a sender whose PTR says `web-01` must not write
 *      into the inventory host web-01's files as if it were that host;
 *   3. the address itself.
 *
 * `resolve()` never blocks: it returns at once, with the address as the name while a PTR lookup is
 * in flight. When the lookup finishes, the *same* HostInfo object gets the name (mutated in
 * place), so a worker's host table that cached the object sees it without a refresh, and records
 * emitted from then on carry it. Resolved objects are cached per address (LRU, `cacheSize`), and
 * at most `maxInFlight` lookups run at once; the rest wait in a bounded queue.
 */
import { Resolver } from 'node:dns/promises'
import type { Logger } from 'pino'
import type { HostInfo } from '../types.js'
import type { HostsConfig } from './types.js'
import { addressWords, maskInPlace, parseCidr, wordsKey } from './address.js'
import { formatAddress } from '../ingest/batch.js'

export interface HostResolver {
  /** Name, canonical address and labels for a sender address. Never blocks, never throws. */
  resolve (address: string): HostInfo
  /** Cancels lookups in flight and stops timers. Idempotent. */
  close (): void
  stats (): HostResolverStats
}

export interface HostResolverStats {
  cached: number
  lookups: number
  lookupFailures: number
  lookupTimeouts: number
  /** Lookups not started because the queue was full. */
  lookupsSkipped: number
  /** PTR names not used: they did not resolve back to the address, or equal an inventory name. */
  namesUnconfirmed: number
  inFlight: number
}

/** What the resolver needs from DNS; `node:dns/promises` Resolver by default, a fake in tests. */
export interface ReverseLookup {
  reverse (ip: string): Promise<string[]>
  /** Addresses (A and AAAA) of a name, to forward-confirm a PTR answer. */
  forward (name: string): Promise<string[]>
  cancel? (): void
}

/** `node:dns/promises` as a ReverseLookup: forward is A ∪ AAAA, a family that fails is empty. */
function systemLookup (r: Resolver): ReverseLookup {
  return {
    reverse: async (ip) => await r.reverse(ip),
    forward: async (name) => {
      const [a, aaaa] = await Promise.allSettled([r.resolve4(name), r.resolve6(name)])
      return [...(a.status === 'fulfilled' ? a.value : []), ...(aaaa.status === 'fulfilled' ? aaaa.value : [])]
    },
    cancel: () => r.cancel()
  }
}

export interface HostResolverOptions {
  now?: () => number
  dns?: ReverseLookup
}

interface Entry { name?: string, labels: Record<string, string> }

interface Cached { info: HostInfo, expiresAt: number, dnsPending: boolean, dnsNamed: boolean }

/** True when `name`'s A/AAAA records include `address` (compared as 16 bytes, so v4-mapped matches v4). */
async function confirms (d: ReverseLookup, name: string, address: string): Promise<boolean> {
  const want = addressWords(address)
  if (want === null) return false
  let addrs: string[]
  try {
    addrs = await d.forward(name)
  } catch {
    return false
  }
  const key = wordsKey(want)
  return addrs.some((a) => { const w = addressWords(a); return w !== null && wordsKey(w) === key })
}

export function createHostResolver (hosts: HostsConfig, logger: Logger, opts: HostResolverOptions = {}): HostResolver {
  const now = opts.now ?? Date.now
  const rd = hosts.reverseDns
  // prefix length → (masked address key → entry); checked from the widest prefix to the narrowest.
  const tables = new Map<number, Map<string, Entry>>()
  for (const [key, e] of Object.entries(hosts.inventory)) {
    const c = parseCidr(key)
    if (c === null) { logger.warn({ key }, 'Inventory key is not an address or CIDR; ignored.'); continue }
    let t = tables.get(c.prefix)
    if (t === undefined) { t = new Map(); tables.set(c.prefix, t) }
    const entry: Entry = { labels: { ...(e.labels ?? {}) } }
    if (e.name !== undefined) entry.name = e.name
    t.set(wordsKey(c.words), entry)
  }
  const prefixes = [...tables.keys()].sort((a, b) => a - b)
  // Compared case-insensitively: DNS names are, and `WEB-01` must not pass for `web-01`.
  const inventoryNames = new Set<string>()
  for (const t of tables.values()) for (const e of t.values()) if (e.name !== undefined) inventoryNames.add(e.name.toLowerCase())

  const cacheCap = Math.max(1, rd.cacheSize)
  const cache = new Map<string, Cached>() // insertion order = LRU order
  const stats: HostResolverStats = { cached: 0, lookups: 0, lookupFailures: 0, lookupTimeouts: 0, lookupsSkipped: 0, namesUnconfirmed: 0, inFlight: 0 }
  let dns: ReverseLookup | null = null
  if (rd.enabled) {
    if (opts.dns !== undefined) dns = opts.dns
    else {
      const r = new Resolver({ timeout: rd.timeoutMs, tries: 1 })
      if (rd.servers !== undefined && rd.servers.length > 0) r.setServers(rd.servers)
      dns = systemLookup(r)
    }
  }
  const queue: Cached[] = []
  const timers = new Set<NodeJS.Timeout>()
  let closed = false

  function lookupInventory (address: string, w: Uint32Array): HostInfo {
    let name: string | undefined
    let labels: Record<string, string> | undefined
    const masked = new Uint32Array(4)
    for (const p of prefixes) {
      masked.set(w)
      maskInPlace(masked, p)
      const e = tables.get(p)!.get(wordsKey(masked))
      if (e === undefined) continue
      if (e.name !== undefined) name = e.name
      labels = labels === undefined ? e.labels : { ...labels, ...e.labels }
    }
    return { name: name ?? address, address, labels: Object.freeze({ ...(labels ?? {}) }) }
  }

  function startLookups (): void {
    while (!closed && dns !== null && stats.inFlight < rd.maxInFlight && queue.length > 0) {
      const c = queue.shift()!
      stats.inFlight++
      stats.lookups++
      const d = dns
      const ip = c.info.address.startsWith('::ffff:') && c.info.address.includes('.') ? c.info.address.slice(7) : c.info.address
      let timedOut = false
      const timer = setTimeout(() => { timedOut = true; stats.lookupTimeouts++; done() }, rd.timeoutMs)
      timer.unref()
      timers.add(timer)
      let finished = false
      const done = (): void => {
        if (finished) return
        finished = true
        clearTimeout(timer)
        timers.delete(timer)
        stats.inFlight--
        c.dnsPending = false
        c.expiresAt = now() + rd.cacheTtlMs
        startLookups()
      }
      d.reverse(ip).then(async (names) => {
        if (closed || timedOut) return
        const n = names[0]
        const name = n === undefined ? '' : n.endsWith('.') ? n.slice(0, -1) : n
        if (name !== '') {
          if (!inventoryNames.has(name.toLowerCase()) && await confirms(d, name, c.info.address)) {
            if (closed || timedOut) return
            c.info.name = name
            c.dnsNamed = true
          } else {
            if (closed || timedOut) return
            stats.namesUnconfirmed++
            logger.debug({ address: c.info.address, ptr: name }, 'Reverse DNS name not used: it does not resolve back to the address, or it is an inventory name.')
          }
        }
        done()
      }).catch((err: unknown) => {
        if (closed || timedOut) return
        stats.lookupFailures++
        logger.debug({ err, address: c.info.address }, 'Reverse DNS lookup failed.')
        done()
      })
    }
  }

  function scheduleLookup (c: Cached): void {
    if (dns === null || c.dnsPending || closed) return
    if (queue.length >= cacheCap) { stats.lookupsSkipped++; return }
    c.dnsPending = true
    queue.push(c)
    startLookups()
  }

  return {
    resolve (address) {
      const hit = cache.get(address)
      if (hit !== undefined) {
        cache.delete(address); cache.set(address, hit) // refresh LRU position
        if (dns !== null && !hit.dnsPending && hit.expiresAt <= now() && (hit.dnsNamed || hit.info.name === hit.info.address)) scheduleLookup(hit)
        return hit.info
      }
      const w = addressWords(address)
      let info: HostInfo
      if (w === null) {
        info = { name: address, address, labels: Object.freeze({}) }
      } else {
        const bytes = new Uint8Array(16)
        for (let i = 0; i < 4; i++) { bytes[4 * i] = w[i]! >>> 24; bytes[4 * i + 1] = (w[i]! >>> 16) & 0xff; bytes[4 * i + 2] = (w[i]! >>> 8) & 0xff; bytes[4 * i + 3] = w[i]! & 0xff }
        info = lookupInventory(formatAddress(bytes, 0), w)
      }
      const c: Cached = { info, expiresAt: Infinity, dnsPending: false, dnsNamed: false }
      cache.set(address, c)
      if (cache.size > cacheCap) cache.delete(cache.keys().next().value!)
      stats.cached = cache.size
      if (w !== null && info.name === info.address) scheduleLookup(c)
      return info
    },
    close () {
      if (closed) return
      closed = true
      for (const t of timers) clearTimeout(t)
      timers.clear()
      queue.length = 0
      dns?.cancel?.()
    },
    stats () { return { ...stats, cached: cache.size } }
  }
}
