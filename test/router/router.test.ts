import { test } from 'node:test'
import assert from 'node:assert/strict'
import fc from 'fast-check'
import { buildRouter, compileRouter, moduleSinkIds } from '../../src/router/router.js'
import type { RouterSpec } from '../../src/router/router.js'
import { compileNumSet, LEVELS, globToRegExp } from '../../src/router/match.js'
import { loadConfig } from '../../src/config/load.js'
import type { NetconsRecord } from '../../src/types.js'
import { HostTable, defaultNcrxConfig } from '../../src/ncrx/hosts.js'
import { NO_ATTRIBUTES } from '../../src/ncrx/record.js'
import type { RuleConfig } from '../../src/config/types.js'

function rec (over: Partial<NetconsRecord> = {}): NetconsRecord {
  return {
    kind: 'log', format: 'extended', src: '::ffff:10.0.0.1', srcPort: 6665,
    host: { name: 'web-01', address: '::ffff:10.0.0.1', labels: {} }, thread: 0, seq: 1, facility: 0, level: 6,
    tsUsec: 0, text: 'hello', raw: Buffer.from('hello'), dict: [], release: null, contStart: false, cont: false,
    oos: false, seqReset: false, incomplete: false, lostBefore: 0, receivedAt: 0, attributes: {}, ...over
  }
}

const noIssue = (i: number, p: string, m: string): void => { assert.fail(`rule ${i} ${p}: ${m}`) }

function router (rules: RuleConfig[], extra: Partial<RouterSpec> = {}): ReturnType<typeof buildRouter> {
  return buildRouter({ rules, sinkIds: ['a', 'b', 'c', 'u', 'module:m'], unmatchedTo: [], taps: [], ...extra }, noIssue)
}

test('order: all matching rules contribute, first appearance decides the order, duplicates removed', () => {
  const r = router([
    { id: 'one', match: { level: '<=err' }, to: ['b', 'a'] },
    { id: 'two', to: ['a', 'c', 'b'] }
  ])
  assert.deepEqual(r.route(rec({ level: 3 })), ['b', 'a', 'c'])
  assert.deepEqual(r.route(rec({ level: 6 })), ['a', 'c', 'b'])
  assert.deepEqual(r.matchCounts(), { one: 1, two: 2 })
  assert.equal(r.unmatchedCount(), 0)
})

test('final stops evaluation; drop discards, stops and counts', () => {
  const r = router([
    { id: 'noise', match: { text: 'noise' }, drop: true },
    { id: 'vip', match: { text: 'vip' }, to: ['a'], final: true },
    { id: 'rest', to: ['b'] }
  ])
  assert.deepEqual(r.route(rec({ text: 'vip noise' })), [])
  assert.deepEqual(r.route(rec({ text: 'vip' })), ['a'])
  assert.deepEqual(r.route(rec({ text: 'x' })), ['b'])
  assert.deepEqual(r.matchCounts(), { noise: 1, vip: 1, rest: 1 })
  assert.equal(r.droppedCount(), 1)
  const t = r.trace(rec({ text: 'vip' }))
  assert.deepEqual(t, { sinks: ['a'], rules: ['vip'], dropped: false, unmatched: false })
})

test('unmatched: set-only rules do not route; unmatched.to is used and counted; taps get everything not dropped', () => {
  const r = router([
    { id: 'tag', match: { level: 3 }, set: { sev: 'high' } },
    { id: 'high', match: { attributes: { sev: 'high' } }, to: ['a'] },
    { id: 'drop', match: { text: 'drop me' }, drop: true }
  ], { unmatchedTo: ['u'], taps: ['module:m'] })
  const x = rec({ level: 3 })
  assert.deepEqual(r.route(x), ['a', 'module:m'])
  assert.deepEqual(x.attributes, { sev: 'high' })
  assert.deepEqual(r.route(rec()), ['u', 'module:m'])
  assert.deepEqual(r.route(rec({ text: 'drop me' })), [])
  assert.equal(r.unmatchedCount(), 1)
  assert.equal(r.trace(rec()).unmatched, true)
})

test('a single deciding rule returns a shared frozen array (no per-record allocation)', () => {
  const r = router([{ id: 'x', to: ['a', 'b'] }])
  const a = r.route(rec())
  assert.equal(r.route(rec()), a)
  assert.ok(Object.isFrozen(a))
})

test('compileRouter: from a loaded config; module sinks are taps', async () => {
  const c = await loadConfig({ env: {} })
  const r = compileRouter(c)
  assert.deepEqual(r.ruleIds, ['all'])
  assert.deepEqual(r.route(rec()), ['stdout'])
})

test('router compile problems are reported per rule with the pointer inside the rule', () => {
  const seen: string[] = []
  buildRouter({ rules: [{ id: 'x', match: { text: { regex: '(' }, level: 'loud', host: { address: '10.0.0.0/99' } }, to: ['a'] }], sinkIds: ['a'], unmatchedTo: [], taps: [] },
    (i, p) => seen.push(`${i}${p}`))
  assert.deepEqual(seen.sort(), ['0/match/host/address', '0/match/level', '0/match/text/regex'])
})

test('level sets: names, numbers, comparisons and ranges agree with a reference implementation', () => {
  const names = Object.keys(LEVELS)
  const spec = fc.oneof(
    fc.integer({ min: 0, max: 7 }),
    fc.constantFrom(...names),
    fc.tuple(fc.constantFrom('<', '<=', '>', '>=', '='), fc.constantFrom(...names)).map(([o, n]) => `${o}${n}`),
    fc.tuple(fc.constantFrom(...names), fc.constantFrom(...names)).map(([a, b]) => `${a}..${b}`)
  )
  fc.assert(fc.property(fc.array(spec, { minLength: 1, maxLength: 4 }), fc.integer({ min: 0, max: 7 }), (items, lvl) => {
    const p = compileNumSet(items, '', () => assert.fail('no issue expected'), LEVELS, 7, 'level')
    const ref = items.some((it) => {
      if (typeof it === 'number') return it === lvl
      const cmp = /^(<=|>=|<|>|=)(.+)$/.exec(it)
      if (cmp !== null) {
        const n = LEVELS[cmp[2]!]!
        return cmp[1] === '<=' ? lvl <= n : cmp[1] === '<' ? lvl < n : cmp[1] === '>=' ? lvl >= n : cmp[1] === '>' ? lvl > n : lvl === n
      }
      const rng = /^(.+)\.\.(.+)$/.exec(it)
      if (rng !== null) { const a = LEVELS[rng[1]!]!; const b = LEVELS[rng[2]!]!; return lvl >= Math.min(a, b) && lvl <= Math.max(a, b) }
      return LEVELS[it] === lvl
    })
    assert.equal(p(lvl), ref)
  }))
})

test('globs: * and ? only, everything else literal', () => {
  assert.ok(globToRegExp('web-*.ams?', false).test('web-01.ams1'))
  assert.ok(!globToRegExp('web-*.ams?', false).test('web-01xams1'))
  assert.ok(globToRegExp('a(b)+[c]', false).test('a(b)+[c]'))
  assert.ok(globToRegExp('WEB-*', true).test('web-1'))
})

test('moduleSinkIds: file name without extension, unique', () => {
  assert.deepEqual(moduleSinkIds(['/x/printer.js', '/y/printer.mjs', '/z/my mod.cjs'], ['module:printer']), ['module:printer-2', 'module:printer-3', 'module:my_mod'])
})

test('host matchers: CIDR on v4-mapped and IPv6 addresses, names case-insensitive', () => {
  const r = router([
    { id: 'v4', match: { host: '10.0.0.0/8' }, to: ['a'] },
    { id: 'v6', match: { host: '2001:db8::/32' }, to: ['b'] },
    { id: 'name', match: { host: 'WEB-*' }, to: ['c'] }
  ])
  assert.deepEqual(r.route(rec()), ['a', 'c'])
  assert.deepEqual(r.route(rec({ host: { name: 'db', address: '2001:db8::1', labels: {} } })), ['b'])
  assert.deepEqual(r.route(rec({ host: { name: 'db', address: '::ffff:11.0.0.1', labels: {} } })), [])
})

test('set on a record with the shared frozen attributes gives that record its own object, and only it', () => {
  const recs: NetconsRecord[] = []
  const table = new HostTable({ config: defaultNcrxConfig, thread: 0, resolveHost: (a) => ({ name: a, address: a, labels: {} }), emit: (r) => recs.push(r) })
  table.receive('::ffff:10.0.0.1', 6666, Buffer.from('3,1,1,-;disk error\n'), 0, 1)
  table.receive('::ffff:10.0.0.1', 6666, Buffer.from('6,2,1,-;all fine\n'), 0, 1)
  const r0 = router([{ id: 'tag', match: { level: '<=err' }, set: { sev: 'high' } }, { id: 'all', match: {}, to: ['a'] }])
  for (const r of recs) r0.route(r)
  assert.deepEqual(recs.map((r) => r.attributes), [{ sev: 'high' }, {}])
  assert.equal(Object.isFrozen(recs[0]!.attributes), false)
  assert.ok(Object.isFrozen(recs[1]!.attributes))
  assert.deepEqual(NO_ATTRIBUTES, {})
})

test('incident and event fields: scalars and string lists match a glob, nested objects never do', () => {
  const r = router([{ id: 'ev', match: { event: { detail: '*' } }, to: ['a'] }, { id: 'inc', match: { incident: { frames: '*foo*' } }, to: ['b'] }])
  const ev = (detail: unknown): NetconsRecord => rec({ kind: 'event', event: { type: 'x', detail } })
  assert.deepEqual(r.route(ev('anything')), ['a'])
  assert.deepEqual(r.route(ev(3)), ['a'])
  assert.deepEqual(r.route(ev({ nested: true })), [])
  assert.deepEqual(r.route(ev([{ nested: true }])), [])
  const inc = (frames: unknown): NetconsRecord => rec({ kind: 'incident', incident: { type: 'oops', title: 't', signature: 's', function: null, frames } as never })
  assert.deepEqual(r.route(inc(['bar', 'foo_x'])), ['b'])
  assert.deepEqual(r.route(inc(['bar'])), [])
})
