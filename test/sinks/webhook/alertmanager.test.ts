/**
 * The webhook sink's `alertmanager` preset against a real Alertmanager (test/helpers/alertmanager.ts):
 * Alertmanager must accept the body (`POST /api/v2/alerts` validates it against its OpenAPI spec
 * and answers 400 otherwise), deduplicate a repeated incident into one alert by its label set,
 * and `amtool alert query` must show the labels a user routes and silences on.
 */
import { describe, it, after } from 'node:test'
import assert from 'node:assert/strict'
import { createWebhookSink } from '../../../src/sinks/webhook/index.js'
import { alertmanagerPaths, startAlertmanager, type Alertmanager } from '../../helpers/alertmanager.js'
import { makeTestRecord, testContext } from '../conformance.js'

const installed = alertmanagerPaths() !== null
const toStop: Alertmanager[] = []
after(async () => { for (const a of toStop) await a.stop() })

const host = { name: 'web-1', address: '::ffff:192.0.2.10', labels: { rack: 'r1' } }

function oops (receivedAt: number): ReturnType<typeof makeTestRecord> {
  return makeTestRecord({
    host,
    src: host.address,
    kind: 'incident',
    level: 4,
    release: '6.12.0',
    receivedAt,
    text: 'BUG: kernel NULL pointer dereference, address: 0000000000000000\nCall Trace:\n <TASK>\n sysrq_handle_crash+0x16/0x20',
    incident: { type: 'oops', title: 'BUG: kernel NULL pointer dereference, address: 0000000000000000', signature: 'oops:sysrq_handle_crash|__handle_sysrq', function: 'sysrq_handle_crash', frames: ['sysrq_handle_crash', '__handle_sysrq'] }
  })
}

describe('webhook sink, alertmanager preset, against a real Alertmanager', { skip: installed ? false : 'prometheus-alertmanager or amtool not installed (Debian package prometheus-alertmanager)' }, () => {
  it('a kernel oops sent twice is one KernelOops alert with the expected labels; amtool reads it back', async () => {
    const am = await startAlertmanager()
    assert.ok(am !== null)
    toStop.push(am)
    const s = createWebhookSink({
      url: `${am.url}/api/v2/alerts`, preset: 'alertmanager', alertmanager: { labels: { cluster: 'test' }, generatorURL: 'http://netconsd.test/' },
      flushIntervalMs: 10, initialBackoffMs: 10, maxBackoffMs: 50
    }, testContext({ sinkId: 'am' }))
    const now = Date.now()
    s.write(oops(now - 2000))
    s.write(makeTestRecord({ host, src: host.address, level: 4, receivedAt: now - 1500, text: 'e1000e: eth0 NIC Link is Down' }))
    s.write(oops(now - 1000))
    await s.close()
    const st = s.stats()
    assert.equal(st.sent, 3, JSON.stringify(st))
    assert.equal(Object.values(st.dropped).reduce((a, b) => a + b, 0), 0, `dropped: ${JSON.stringify(st.dropped)}; Alertmanager said: ${am.log().slice(-2000)}`)

    const oopses = am.query('alertname=KernelOops')
    assert.equal(oopses.length, 1, 'the repeated incident has the same label set: one alert')
    const a = oopses[0]!
    assert.deepEqual(a.labels, {
      alertname: 'KernelOops', cluster: 'test', host: 'web-1', instance: '192.0.2.10', severity: 'critical', source: 'netconsd',
      incident_type: 'oops', signature: 'oops:sysrq_handle_crash|__handle_sysrq'
    })
    assert.equal(a.status.state, 'active')
    assert.equal(a.annotations.summary, 'web-1: BUG: kernel NULL pointer dereference, address: 0000000000000000')
    assert.match(a.annotations.description!, /^BUG: kernel NULL pointer dereference[\s\S]*Top frames:\nsysrq_handle_crash\n__handle_sysrq$/)
    assert.equal(a.annotations.kernel_release, '6.12.0')
    assert.equal(a.generatorURL, 'http://netconsd.test/')
    // Alertmanager keeps the first startsAt of an alert it already has.
    assert.equal(Date.parse(a.startsAt), now - 2000)

    const all = am.query()
    assert.deepEqual(all.map((x) => x.labels.alertname).sort(), ['KernelLog', 'KernelOops'])
    assert.deepEqual(am.query('instance=192.0.2.10').length, 2, 'routable by the dotted IPv4 address')
    assert.deepEqual(am.query('instance=::ffff:192.0.2.10'), [])
  })
})
