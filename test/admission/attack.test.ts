/**
 * Scaled-down spoofing attacks of issue 14 against admission, on an injected clock: evicting a
 * source must not refill its bucket, and faked emergencies get a bounded allowance while a real
 * panic capture passes whole.
 */
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { Admission, resolveAdmissionConfig } from '../../src/admission/index.js'
import { loadCapture } from '../ncrx/util.js'

const b = (s: string): Buffer => Buffer.from(s, 'latin1')
const spoof = (i: number): string => `::ffff:127.1.${(i >> 8) & 255}.${i & 255}`

/** 200 sources at 150/s each for `seconds`, interleaved as they would arrive; returns admitted. */
function spoofFlood (maxSources: number, seconds: number): { admitted: number, sent: number, a: Admission } {
  const a = new Admission(resolveAdmissionConfig({ rateLimit: { datagramsPerSec: 20, burstDatagrams: 20, maxSources } }))
  const msg = b('6,1,1,-;flood\n')
  const sources = 200
  const perSec = 150
  let admitted = 0
  let sent = 0
  const ticks = seconds * perSec
  for (let k = 0; k < ticks; k++) {
    const t = k * 1000 / perSec
    for (let s = 0; s < sources; s++) {
      sent++
      if (a.admitDatagram(spoof(s), msg, 0, msg.length, t + s * (1000 / perSec / sources)) === 'ok') admitted++
    }
  }
  return { admitted, sent, a }
}

test('spoofed flood from 200 sources at 150/s: maxSources 50 admits at most 2x what a table holding every source does', () => {
  const full = spoofFlood(1000, 10)
  const small = spoofFlood(50, 10)
  // every source within its own limit: 200 × (20 + 20/s × 10 s), give or take the edges
  assert.ok(full.admitted >= 200 * 200 * 0.95 && full.admitted <= 200 * 220, `full table admitted ${full.admitted}`)
  assert.ok(small.admitted <= 2 * full.admitted, `maxSources 50 admitted ${small.admitted} vs ${full.admitted}`)
  // and in fact far less: evicted sources come back empty and share one newcomer bucket
  assert.ok(small.admitted < full.admitted / 4, `maxSources 50 admitted ${small.admitted}`)
  const c = small.a.counters()
  assert.ok(c.newSourceLimited! > 0)
  assert.equal(c.rateLimited + c.newSourceLimited! + small.admitted, small.sent)
})

test('after the pressure is over, a new source starts with a full bucket again (a booting kernel replays its log)', () => {
  const { a } = spoofFlood(50, 1)
  const msg = b('6,1,1,-;boot\n')
  let ok = 0
  for (let i = 0; i < 20; i++) if (a.admitDatagram('::ffff:10.0.0.7', msg, 0, msg.length, 60_000) === 'ok') ok++
  assert.equal(ok, 20)
})

test('a level-0 flood from one source at 4000/s for 5 s is admitted at most 10%', () => {
  const a = new Admission(resolveAdmissionConfig({ rateLimit: { datagramsPerSec: 100, burstDatagrams: 200 } }))
  const msg = b('0,1,1,-;fake emergency\n')
  let admitted = 0
  const n = 4000 * 5
  for (let i = 0; i < n; i++) if (a.admitDatagram('::ffff:10.6.6.6', msg, 0, msg.length, i / 4) === 'ok') admitted++
  assert.ok(admitted <= n * 0.1, `admitted ${admitted}`)
  // the normal burst (200) then the emergency allowance (256 + 10/s × 5 s); the normal refill is
  // eaten by the debt the exempt datagrams run up
  assert.ok(admitted >= 456 && admitted <= 200 + 500 + 256 + 50, `admitted ${admitted}`)
  const c = a.counters()
  assert.ok(c.emergencyLimited! > 0)
  assert.equal(c.rateLimited + c.emergencyLimited! + admitted, n)
})

for (const name of ['6.1-ext-panic', '6.12-ext-panic', '6.1-legacy-panic', '6.12-legacy-panic']) {
  test(`a real panic capture (${name}) passes whole, also from a source that spent its normal budget`, () => {
    const a = new Admission(resolveAdmissionConfig({ rateLimit: { datagramsPerSec: 100, burstDatagrams: 200 } }))
    const src = '::ffff:10.0.0.9'
    const filler = b('6,1,1,-;chatter\n')
    // the host was chatty before it died: its normal bucket is empty
    for (let i = 0; i < 250; i++) a.admitDatagram(src, filler, 0, filler.length, 0)
    const capture = loadCapture(name)
    let exemptOk = 0
    let exemptSent = 0
    for (const d of capture) {
      const v = a.admitDatagram(src, d.payload, 0, d.payload.length, d.tMs)
      const lvl0 = /^0,/.test(d.payload.toString('latin1', 0, 3))
      const panic = d.payload.includes('Kernel panic - not syncing')
      if (lvl0 || panic) { exemptSent++; if (v === 'ok') exemptOk++ }
    }
    assert.ok(exemptSent > 0)
    assert.equal(exemptOk, exemptSent, 'every emergency / panic datagram of the capture admitted')
    // and from a fresh source, with the default-sized budget, the whole capture passes
    const fresh = new Admission(resolveAdmissionConfig({ rateLimit: { datagramsPerSec: 100, burstDatagrams: 200 } }))
    assert.ok(capture.every((d) => fresh.admitDatagram(src, d.payload, 0, d.payload.length, d.tMs) === 'ok'))
  })
}
