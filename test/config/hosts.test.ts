import { test } from 'node:test'
import assert from 'node:assert/strict'
import { pino } from 'pino'
import { createHostResolver } from '../../src/config/hosts.js'
import type { ReverseLookup } from '../../src/config/hosts.js'
import type { HostsConfig } from '../../src/config/types.js'

const logger = pino({ level: 'silent' })
const rd = { enabled: false, timeoutMs: 1000, cacheSize: 100, cacheTtlMs: 60_000, maxInFlight: 2 }

const inventory: HostsConfig['inventory'] = {
  '10.0.0.0/8': { labels: { corp: 'yes', dc: 'any' } },
  '10.1.0.0/16': { labels: { dc: 'ams1' } },
  '10.1.12.0/24': { name: 'rack-default', labels: { rack: 'r12' } },
  '10.1.12.3': { name: 'web-01', labels: { role: 'web' } },
  '::ffff:10.1.12.4': { name: 'db-01' },
  '2001:db8::/32': { labels: { dc: 'v6' } },
  '2001:db8:0:1::5': { name: 'v6-host' }
}

test('inventory: exact beats CIDR, labels merge from widest to narrowest, v4 and v4-mapped are equal', () => {
  const r = createHostResolver({ inventory, reverseDns: rd }, logger)
  assert.deepEqual(r.resolve('::ffff:10.1.12.3'), { name: 'web-01', address: '::ffff:10.1.12.3', labels: { corp: 'yes', dc: 'ams1', rack: 'r12', role: 'web' } })
  assert.deepEqual(r.resolve('10.1.12.3'), { name: 'web-01', address: '::ffff:10.1.12.3', labels: { corp: 'yes', dc: 'ams1', rack: 'r12', role: 'web' } })
  assert.equal(r.resolve('10.1.12.4').name, 'db-01')
  assert.equal(r.resolve('::ffff:10.1.12.9').name, 'rack-default')
  assert.deepEqual(r.resolve('::ffff:10.2.0.1'), { name: '::ffff:10.2.0.1', address: '::ffff:10.2.0.1', labels: { corp: 'yes', dc: 'any' } })
  assert.deepEqual(r.resolve('2001:db8:0:1:0:0:0:5'), { name: 'v6-host', address: '2001:db8:0:1::5', labels: { dc: 'v6' } })
  assert.deepEqual(r.resolve('192.168.1.1').labels, {})
  assert.equal(r.resolve('not an address').name, 'not an address')
  // cached: the same object for the same address
  assert.equal(r.resolve('::ffff:10.1.12.3'), r.resolve('::ffff:10.1.12.3'))
  r.close()
})

test('reverse DNS: never blocks, fills the name in place, caches, caps concurrency, times out', async (t) => {
  t.mock.timers.enable({ apis: ['setTimeout'] })
  const pending = new Map<string, { resolve: (n: string[]) => void, reject: (e: Error) => void }>()
  let calls = 0
  const dns: ReverseLookup = {
    reverse: async (ip) => await new Promise<string[]>((resolve, reject) => { calls++; pending.set(ip, { resolve, reject }) }),
    forward: async (name) => name === 'a.example.net' ? ['192.0.2.1'] : []
  }
  let now = 0
  const r = createHostResolver({ inventory: { '10.1.12.3': { name: 'web-01' } }, reverseDns: { ...rd, enabled: true, maxInFlight: 2 } }, logger, { dns, now: () => now })
  assert.equal(r.resolve('10.1.12.3').name, 'web-01') // inventory name: no lookup
  const a = r.resolve('::ffff:192.0.2.1')
  const b = r.resolve('2001:db8::1')
  const c = r.resolve('::ffff:192.0.2.3')
  assert.equal(a.name, '::ffff:192.0.2.1')
  assert.equal(calls, 2) // third waits for a free slot
  assert.deepEqual([...pending.keys()], ['192.0.2.1', '2001:db8::1'])
  pending.get('192.0.2.1')!.resolve(['a.example.net.'])
  await new Promise((resolve) => setImmediate(resolve))
  assert.equal(a.name, 'a.example.net')
  assert.equal(calls, 3)
  pending.get('2001:db8::1')!.reject(Object.assign(new Error('ENOTFOUND'), { code: 'ENOTFOUND' }))
  await new Promise((resolve) => setImmediate(resolve))
  assert.equal(b.name, '2001:db8::1')
  t.mock.timers.tick(1000) // 192.0.2.3 never answers
  assert.equal(c.name, '::ffff:192.0.2.3')
  const s = r.stats()
  assert.equal(s.lookups, 3)
  assert.equal(s.lookupFailures, 1)
  assert.equal(s.lookupTimeouts, 1)
  assert.equal(s.inFlight, 0)
  // cached until the TTL: no new lookup, then a refresh
  r.resolve('::ffff:192.0.2.1')
  assert.equal(calls, 3)
  now += 60_001
  r.resolve('::ffff:192.0.2.1')
  assert.equal(calls, 4)
  r.close()
})

test('reverse DNS names are used only when forward-confirmed and never equal an inventory name (issue 14, item 7)', async () => {
  const ptr: Record<string, string> = { '192.0.2.10': 'web-01.', '192.0.2.11': 'liar.example.net.', '192.0.2.12': 'ok.example.net.', '2001:db8::12': 'v6.example.net.', '192.0.2.13': 'WEB-01.' }
  // liar.example.net resolves elsewhere; web-01 "resolves" back to its spoofer, which must not matter.
  const fwd: Record<string, string[]> = { 'web-01': ['192.0.2.10'], 'WEB-01': ['192.0.2.13'], 'liar.example.net': ['198.51.100.1'], 'ok.example.net': ['192.0.2.12'], 'v6.example.net': ['2001:db8:0:0::12'] }
  const dns: ReverseLookup = {
    reverse: async (ip) => ptr[ip] !== undefined ? [ptr[ip]] : [],
    forward: async (name) => fwd[name] ?? []
  }
  const r = createHostResolver({ inventory: { '10.1.12.3': { name: 'web-01' } }, reverseDns: { ...rd, enabled: true } }, logger, { dns })
  const spoof = r.resolve('::ffff:192.0.2.10')
  const shout = r.resolve('192.0.2.13')
  const liar = r.resolve('192.0.2.11')
  const ok = r.resolve('::ffff:192.0.2.12')
  const v6 = r.resolve('2001:db8::12')
  for (let i = 0; i < 5; i++) await new Promise((resolve) => setImmediate(resolve))
  assert.equal(spoof.name, '::ffff:192.0.2.10', 'a PTR name equal to an inventory name is never used')
  assert.equal(shout.name, '::ffff:192.0.2.13', 'compared without case')
  assert.equal(liar.name, '::ffff:192.0.2.11', 'a PTR name that does not resolve back is not used')
  assert.equal(ok.name, 'ok.example.net')
  assert.equal(v6.name, 'v6.example.net')
  assert.equal(r.stats().namesUnconfirmed, 3)
  r.close()
})

test('cache is bounded (LRU)', () => {
  const r = createHostResolver({ inventory: {}, reverseDns: { ...rd, cacheSize: 3 } }, logger)
  const first = r.resolve('10.0.0.1')
  for (let i = 2; i <= 10; i++) r.resolve(`10.0.0.${i}`)
  assert.equal(r.stats().cached, 3)
  assert.notEqual(r.resolve('10.0.0.1'), first)
  r.close()
})
