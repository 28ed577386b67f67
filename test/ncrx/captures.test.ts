/**
 * Every real-kernel capture in test/fixtures/kernel fed through HostTable the way the worker does
 * (datagrams in file order, monotonic time from t_ms, runTimers at each deadline).
 */
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { parseOne } from '../../src/ncrx/parse.js'
import type { NetconsRecord } from '../../src/types.js'
import { captureNames, harness, loadCapture, readFixtureFile, type Datagram } from './util.js'

function replay (name: string): { recs: NetconsRecord[], datagrams: Datagram[], h: ReturnType<typeof harness> } {
  const h = harness()
  const datagrams = loadCapture(name)
  for (const d of datagrams) {
    while (h.table.nextDeadline() <= d.tMs) h.table.runTimers(h.table.nextDeadline())
    h.send(d.payload, d.tMs, '::ffff:127.0.0.1')
  }
  const end = (datagrams.at(-1)?.tMs ?? 0) + 1000
  h.table.runTimers(end)
  h.table.flushAll(end)
  return { recs: h.recs, datagrams, h }
}

/** Console lines by kernel timestamp (µs): `[    3.995601] text`. */
function consoleByTs (name: string): Map<number, string[]> {
  const m = new Map<number, string[]>()
  for (const line of readFixtureFile(name, 'console.log').split('\n')) {
    const x = /^\[\s*(\d+)\.(\d{6})\] (.*?)\r?$/.exec(line)
    if (x === null) continue
    const ts = Number(x[1]) * 1e6 + Number(x[2])
    const list = m.get(ts) ?? []
    list.push(x[3]!)
    m.set(ts, list)
  }
  return m
}

const byName = new Map<string, ReturnType<typeof replay>>()
function get (name: string): ReturnType<typeof replay> {
  let r = byName.get(name)
  if (r === undefined) { r = replay(name); byName.set(name, r) }
  return r
}

for (const name of captureNames().filter((n) => n.includes('-ext-'))) {
  test(`${name}: every record exactly once, in seq order, fields as on the wire and the console`, () => {
    const { recs, datagrams, h } = get(name)
    const seqs = [...new Set(datagrams.map((d) => parseOne(d.payload).header.seq))].sort((a, b) => a - b)
    assert.deepEqual(recs.map((r) => r.seq), seqs)
    for (let i = 1; i < seqs.length; i++) assert.equal(seqs[i], seqs[i - 1]! + 1, 'captures are gap-free')
    recs.forEach((r, i) => {
      assert.equal(r.format, 'extended')
      assert.deepEqual([r.oos, r.incomplete, r.lostBefore, r.seqReset], [false, false, 0, i === 0], `seq ${r.seq}`)
    })
    const c = h.table.counters
    assert.deepEqual([c.malformed.empty, c.duplicates, c.lost, c.oos, c.resets, c.incomplete, c.heldMessages, c.heldBytes], [0, 0, 0, 0, 0, 0, 0, 0])
    assert.equal(Object.values(c.malformed).reduce((a, b) => a + b, 0), 0)
    // header fields as sent: first fragment of each seq
    const bySeq = new Map(recs.map((r) => [r.seq!, r]))
    for (const d of datagrams) {
      const p = parseOne(d.payload).header
      const r = bySeq.get(p.seq)!
      assert.deepEqual([r.facility, r.level, r.tsUsec], [p.facility, p.level, p.tsUsec], `seq ${p.seq}`)
    }
    // text as the serial console printed it (plain one-line ASCII records that reached the console)
    const cons = consoleByTs(name)
    let compared = 0
    for (const r of recs) {
      if (r.tsUsec === null || !/^[\x20-\x7e]+$/.test(r.text)) continue
      const lines = cons.get(r.tsUsec)
      if (lines === undefined) continue
      assert.ok(lines.includes(r.text), `seq ${r.seq}: ${JSON.stringify(r.text)} not in ${JSON.stringify(lines)}`)
      compared++
    }
    assert.ok(compared >= 3, `compared ${compared} records with the console`)
  })
}

for (const name of captureNames().filter((n) => n.includes('-legacy-'))) {
  test(`${name}: one legacy record per datagram, text and raw exactly as sent`, () => {
    const { recs, datagrams } = get(name)
    assert.equal(recs.length, datagrams.length)
    recs.forEach((r, i) => {
      const p = datagrams[i]!.payload
      assert.deepEqual([r.format, r.seq, r.level, r.facility, r.oos, r.seqReset], ['legacy', null, null, 0, false, false])
      assert.deepEqual(r.raw, p)
      assert.equal(r.text, p.toString('utf8'))
      const m = /^\[\s*(\d+)\.(\d{6})\] /.exec(p.toString('latin1'))
      assert.equal(r.tsUsec, m === null ? null : Number(m[1]) * 1e6 + Number(m[2]))
    })
  })
}

test('6.1-ext-basic spot checks: é record whole from 4 fragments, prio 1000, escapes, dict pairs', () => {
  const { recs, datagrams } = get('6.1-ext-basic')
  const bySeq = new Map(recs.map((r) => [r.seq!, r]))
  const eacute = bySeq.get(403)!
  assert.equal(datagrams.filter((d) => d.payload.toString('latin1').startsWith('12,403,')).length, 4)
  assert.ok(datagrams.some((d) => d.payload.toString('latin1').includes('ncfrag=0/3742;')))
  assert.equal(eacute.raw.length, 960)
  assert.ok(eacute.text.startsWith('knc: 960 bytes of UTF-8 e-acute: éééé'))
  assert.equal(eacute.text.split('é').length - 1, 463)
  assert.deepEqual([eacute.facility, eacute.level, eacute.incomplete], [1, 4, false])
  const p1000 = bySeq.get(383)!
  assert.deepEqual([p1000.facility, p1000.level, p1000.text], [125, 0, 'knc: priority 1000 (facility 125 level 0)'])
  assert.equal(bySeq.get(394)!.text, 'knc: utf8 héllo wörld € 日本語 🙂')
  assert.equal(bySeq.get(389)!.text, 'knc: embedded newline: line1\nline2\nline3')
  assert.equal(bySeq.get(391)!.text, 'knc: specials ; , = : \\ / " \' [ ] < > | & $ % # !')
  assert.equal(bySeq.get(392)!.text, 'knc: fake header 6,123,456,-;not a header')
  assert.deepEqual([...bySeq.get(396)!.raw.subarray(18, 21)], [0xff, 0xfe, 0x80])
  assert.equal(bySeq.get(398)!.text, '')
  assert.deepEqual(bySeq.get(175)!.dict, [['SUBSYSTEM', 'acpi'], ['DEVICE', '+acpi:PNP0A03:00']])
  assert.ok(recs.filter((r) => r.dict.some(([k]) => k === 'DEVICE')).length >= 3)
})

test('6.12-ext-basic: the 2048-byte cap record keeps its dangling half escape as literal bytes', () => {
  const { recs } = get('6.12-ext-basic')
  const r = recs.find((x) => x.seq === 417)!
  assert.ok(r.text.startsWith('knc: 960 bytes of UTF-8 e-acute: é'))
  assert.deepEqual([...r.raw.subarray(-2)], [0xc3, 0x5c])
  assert.equal(r.incomplete, false)
  assert.deepEqual(r.dict, [])
})

test('6.12-ext-release-cmdline: the release prefix on every record', () => {
  const { recs } = get('6.12-ext-release-cmdline')
  assert.ok(recs.length > 10)
  for (const r of recs) assert.equal(r.release, '6.12.95+deb12-cloud-amd64')
  assert.equal(recs[0]!.text, 'netpoll: netconsole: local port 6665')
})

test('legacy continuation chunks have no timestamp and keep their bytes', () => {
  const { recs } = get('6.1-legacy-basic')
  const chunk = recs.find((r) => r.text === 'klmno\n')!
  assert.equal(chunk.tsUsec, null)
  const before = recs[recs.indexOf(chunk) - 1]!
  assert.equal(before.raw.length, 1000)
  assert.ok(before.text.startsWith('[    7.084891] knc: long line of 991 bytes'))
})
