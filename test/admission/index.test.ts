import { test } from 'node:test'
import assert from 'node:assert/strict'
import dgram from 'node:dgram'
import { once } from 'node:events'
import { Admission, resolveAdmissionConfig, ADMISSION_DEFAULTS } from '../../src/admission/index.js'
import { blast } from '../../src/blaster/blaster.js'

const b = (s: string): Buffer => Buffer.from(s, 'latin1')

test('defaults: nobody denied, rate limiting on', () => {
  const a = new Admission()
  const msg = b('6,1,1,-;hello\n')
  let ok = 0
  for (let i = 0; i < ADMISSION_DEFAULTS.rateLimit.burstDatagrams + 10; i++) {
    if (a.admitDatagram('::ffff:192.0.2.1', msg, 0, msg.length, 0) === 'ok') ok++
  }
  assert.equal(ok, ADMISSION_DEFAULTS.rateLimit.burstDatagrams)
  assert.deepEqual(a.counters(), { denied: 0, notAllowed: 0, rateLimited: 10, emergencyLimited: 0, newSourceLimited: 0, exempted: 0, sourceEvictions: 0, sources: 1 })
})

test('admitDatagram: allow/deny first, then the rate limit with the level peeked from the header', () => {
  const a = new Admission(resolveAdmissionConfig({
    allow: ['10.0.0.0/8'], deny: ['10.9.9.9'], rateLimit: { datagramsPerSec: 1, burstDatagrams: 1 }
  }))
  const info = b('6,1,1,-;ordinary\n')
  const emerg = b('0,2,2,-;emergency\n')
  const panic = b('[    9.000000] Kernel panic - not syncing: VFS\n')
  assert.equal(a.admitDatagram('::ffff:10.9.9.9', info, 0, info.length, 0), 'denied')
  assert.equal(a.admitDatagram('::ffff:192.168.0.1', info, 0, info.length, 0), 'not_allowed')
  assert.equal(a.admitDatagram('::ffff:10.0.0.1', info, 0, info.length, 0), 'ok')
  assert.equal(a.admitDatagram('::ffff:10.0.0.1', info, 0, info.length, 0), 'rate_limited')
  assert.equal(a.admitDatagram('::ffff:10.0.0.1', emerg, 0, emerg.length, 0), 'ok')
  assert.equal(a.admitDatagram('::ffff:10.0.0.1', panic, 0, panic.length, 0), 'ok')
  assert.deepEqual(a.counters(), { denied: 1, notAllowed: 1, rateLimited: 1, emergencyLimited: 0, newSourceLimited: 0, exempted: 2, sourceEvictions: 0, sources: 1 })
})

test('reconfigure: a bad list throws and changes nothing; counters survive the new filter', () => {
  const a = new Admission(resolveAdmissionConfig({ deny: ['10.0.0.0/8'] }))
  assert.equal(a.allowDatagram('10.1.1.1'), false)
  assert.throws(() => a.reconfigure(resolveAdmissionConfig({ deny: ['bogus'] })), { code: 'NETCONSD_ERR_ADMISSION_CIDR' })
  assert.equal(a.allowDatagram('10.1.1.1'), false, 'old filter still in force')
  a.reconfigure(resolveAdmissionConfig({ deny: [], rateLimit: { enabled: false } }))
  assert.equal(a.allowDatagram('10.1.1.1'), true)
  assert.equal(a.counters().denied, 2)
  assert.equal(a.rateLimit('x', 6, false, 0), true)
})

test('blaster over loopback: one host at 10x the others\' rate loses only its own excess', async (t) => {
  // Quiet hosts: 10 IPv4 loopback sources at 100/s each; noisy host: [::1] at 1000/s.
  // Burst 300: room for a loaded CI box bunching a quiet host's sends after an event-loop stall.
  const a = new Admission(resolveAdmissionConfig({ rateLimit: { datagramsPerSec: 200, burstDatagrams: 300 } }))
  const received = new Map<string, { sent: number, admitted: number }>()
  const onMessage = (msg: Buffer, rinfo: dgram.RemoteInfo): void => {
    const e = received.get(rinfo.address) ?? { sent: 0, admitted: 0 }
    e.sent++
    if (a.admitDatagram(rinfo.address, msg, 0, msg.length, performance.now()) === 'ok') e.admitted++
    received.set(rinfo.address, e)
  }
  const v4 = dgram.createSocket('udp4')
  const v6 = dgram.createSocket({ type: 'udp6', ipv6Only: true })
  v4.on('message', onMessage)
  v6.on('message', onMessage)
  v4.bind(0, '127.0.0.1'); v6.bind(0, '::1')
  await Promise.all([once(v4, 'listening'), once(v6, 'listening')])
  for (const s of [v4, v6]) s.setRecvBufferSize(4 * 1024 * 1024)
  t.after(() => { v4.close(); v6.close() })

  const durationMs = 1500
  const [quiet, noisy] = await Promise.all([
    blast({ hosts: 10, count: 0, durationMs, rate: 1000, target: '127.0.0.1', port: v4.address().port, size: 120 }),
    blast({ hosts: 1, count: 0, durationMs, rate: 1000, target: '::1', port: v6.address().port, size: 120, ipv6: true })
  ])
  await new Promise((resolve) => setTimeout(resolve, 100))
  assert.equal(quiet.sendErrors + noisy.sendErrors, 0)

  const noisyStats = received.get('::1')
  assert.ok(noisyStats !== undefined)
  let quietSent = 0
  for (const [addr, e] of received) {
    if (addr === '::1') continue
    quietSent += e.sent
    assert.equal(e.admitted, e.sent, `quiet host ${addr} lost ${e.sent - e.admitted} of ${e.sent}`)
  }
  assert.ok(quietSent > 1000, `quiet hosts sent ${quietSent}`)
  // The noisy host gets its burst plus its rate for the run (generous bounds for a loaded CI box).
  const ideal = 300 + 200 * durationMs / 1000
  assert.ok(noisyStats.admitted >= ideal * 0.7 && noisyStats.admitted <= ideal * 1.3, `noisy admitted ${noisyStats.admitted}, ideal ${ideal}`)
  assert.ok(noisyStats.sent > noisyStats.admitted * 1.8)
  assert.equal(a.counters().rateLimited, noisyStats.sent - noisyStats.admitted, 'every refusal is the noisy host\'s')
})
