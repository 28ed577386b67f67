import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import {
  alertSeverity, dedupKey, renderAlertmanager, renderGeneric, renderPagerDuty, renderSlack, slackEscape, summarize, type RenderContext
} from '../../../src/sinks/webhook/presets.js'
import { makeTestRecord } from '../conformance.js'

const rc: RenderContext = { sinkId: 'hook' }
const host = { name: 'db-1', address: '::ffff:10.0.0.1', labels: { rack: 'r7', role: 'db' } }
const panic = makeTestRecord({
  host,
  kind: 'incident',
  level: 0,
  release: '6.12.0',
  receivedAt: Date.parse('2024-05-01T12:00:00Z'),
  text: 'Kernel panic - not syncing: Fatal exception\nCPU: 1 PID: 1',
  incident: { type: 'panic', title: 'Kernel panic - not syncing: Fatal exception', signature: 'panic:do_exit|make_task_dead', function: 'do_exit', frames: ['do_exit', 'make_task_dead', 'rewind_stack', 'x4', 'x5', 'x6', 'x7', 'x8', 'x9', 'x10'] }
})
const warn = makeTestRecord({ host, level: 4, text: 'eth0: <link> down & out', receivedAt: Date.parse('2024-05-01T12:00:01Z') })

describe('alert severity and summary', () => {
  it('maps levels and incident types', () => {
    assert.equal(alertSeverity(panic), 'critical')
    assert.equal(alertSeverity(warn), 'warning')
    assert.equal(alertSeverity(makeTestRecord({ level: 2 })), 'critical')
    assert.equal(alertSeverity(makeTestRecord({ level: 3 })), 'error')
    assert.equal(alertSeverity(makeTestRecord({ level: 6 })), 'info')
    assert.equal(alertSeverity(makeTestRecord({ level: null })), 'info')
    assert.equal(alertSeverity(makeTestRecord({ level: 4, kind: 'incident', incident: { type: 'oops', title: 't', signature: 's', function: null, frames: [] } })), 'critical')
    assert.equal(alertSeverity(makeTestRecord({ level: 4, kind: 'incident', incident: { type: 'warn', title: 't', signature: 's', function: null, frames: [] } })), 'error')
  })
  it('summary is the title or first line, at most 200 characters', () => {
    assert.equal(summarize(panic), 'Kernel panic - not syncing: Fatal exception')
    assert.equal(summarize(makeTestRecord({ text: 'a\nb' })), 'a')
    assert.equal(summarize(makeTestRecord({ text: 'x'.repeat(500) })).length, 200)
  })
  it('dedup key: host + incident signature, stable; logs by text hash', () => {
    assert.equal(dedupKey(panic), 'netconsd:db-1:panic:panic:do_exit|make_task_dead')
    assert.equal(dedupKey(warn), dedupKey(makeTestRecord({ host, text: warn.text, seq: 999 })))
    assert.notEqual(dedupKey(warn), dedupKey(makeTestRecord({ host, text: 'other' })))
    assert.ok(dedupKey(makeTestRecord({ host: { ...host, name: 'h'.repeat(400) } })).length <= 255)
  })
})

describe('preset: generic', () => {
  it('wraps record views in { source, sinkId, records }', () => {
    const body = renderGeneric([warn], rc) as { source: string, sinkId: string, records: Array<Record<string, unknown>> }
    assert.equal(body.source, 'netconsd')
    assert.equal(body.sinkId, 'hook')
    assert.equal(body.records.length, 1)
    const v = body.records[0]!
    assert.equal(v.text, warn.text)
    assert.equal(v.levelName, 'warning')
    assert.equal(v.severity, 'warning')
    assert.equal(v.time, '2024-05-01T12:00:01.000Z')
    assert.deepEqual(v.host, host)
    assert.equal('raw' in v, false, 'no Buffer in the JSON view')
    assert.doesNotThrow(() => JSON.stringify(body))
  })
})

describe('preset: slack', () => {
  it('escapes mrkdwn control characters', () => {
    assert.equal(slackEscape('<a> & <b>'), '&lt;a&gt; &amp; &lt;b&gt;')
  })
  it('renders an incident with header, fields, frames and context; log lines in a section', () => {
    const body = renderSlack([panic, warn], rc, { channel: '#kernel' }) as { text: string, channel: string, blocks: Array<{ type: string, text?: { text: string }, fields?: Array<{ text: string }> }> }
    assert.equal(body.channel, '#kernel')
    assert.match(body.text, /:rotating_light: \*db-1\* Kernel panic - not syncing: Fatal exception/)
    assert.match(body.text, /eth0: &lt;link&gt; down &amp; out/)
    assert.deepEqual(body.blocks.map((b) => b.type), ['header', 'section', 'section', 'context', 'section'])
    assert.equal(body.blocks[0]!.text!.text, 'PANIC on db-1')
    assert.ok(body.blocks[1]!.fields!.some((f) => f.text.includes('6.12.0')))
    assert.ok(body.blocks[2]!.text!.text.startsWith('```do_exit\nmake_task_dead'))
    assert.equal(body.blocks[2]!.text!.text.split('\n').length, 8, 'top 8 frames')
    assert.match(body.blocks[4]!.text!.text, /:warning: \*db-1\* eth0/)
  })
  it('respects Slack limits (3000-character text, 50 blocks)', () => {
    const many = Array.from({ length: 40 }, () => panic)
    const body = renderSlack([...many, makeTestRecord({ text: 'y'.repeat(10_000) })], rc) as { text: string, blocks: Array<{ text?: { text: string } }> }
    assert.ok(body.blocks.length <= 50)
    assert.ok(body.text.length <= 3000)
    for (const b of body.blocks) if (b.text !== undefined) assert.ok(b.text.text.length <= 3000)
  })
  it('shows the suppressed count', () => {
    const body = renderSlack([warn], { sinkId: 'h', suppressed: () => 5 }) as { text: string }
    assert.match(body.text, /\+5 similar suppressed/)
  })
})

describe('preset: pagerduty (Events API v2)', () => {
  it('renders a trigger event with dedup_key and payload', () => {
    const body = renderPagerDuty(panic, rc, { routingKey: 'R0UTING' }) as Record<string, any>
    assert.deepEqual(Object.keys(body).sort(), ['client', 'dedup_key', 'event_action', 'payload', 'routing_key'])
    assert.equal(body.routing_key, 'R0UTING')
    assert.equal(body.event_action, 'trigger')
    assert.equal(body.dedup_key, 'netconsd:db-1:panic:panic:do_exit|make_task_dead')
    assert.equal(body.payload.summary, 'db-1: Kernel panic - not syncing: Fatal exception')
    assert.equal(body.payload.source, 'db-1')
    assert.equal(body.payload.severity, 'critical')
    assert.equal(body.payload.timestamp, '2024-05-01T12:00:00.000Z')
    assert.equal(body.payload.component, 'panic')
    assert.equal(body.payload.group, 'db')
    assert.equal(body.payload.class, 'incident')
    assert.equal(body.payload.custom_details.signature, 'panic:do_exit|make_task_dead')
    assert.deepEqual(body.payload.custom_details.frames.slice(0, 2), ['do_exit', 'make_task_dead'])
    assert.equal(body.payload.custom_details.kernel_release, '6.12.0')
  })
  it('severity is one of the four the API accepts; summary ≤ 1024', () => {
    const body = renderPagerDuty(makeTestRecord({ level: 6, text: 'z'.repeat(5000) }), rc, { routingKey: 'k', clientUrl: 'https://grafana/x' }) as Record<string, any>
    assert.ok(['critical', 'error', 'warning', 'info'].includes(body.payload.severity))
    assert.ok(body.payload.summary.length <= 1024)
    assert.equal(body.client_url, 'https://grafana/x')
  })
})

describe('preset: alertmanager (POST /api/v2/alerts)', () => {
  it('renders an array of alerts with identifying labels and text in annotations', () => {
    const alerts = renderAlertmanager([panic, warn], rc, { labels: { cluster: 'eu1' }, generatorURL: 'http://netconsd/', resolveAfterMs: 3_600_000 }) as Array<Record<string, any>>
    assert.equal(alerts.length, 2)
    const a = alerts[0]!
    assert.deepEqual(a.labels, {
      cluster: 'eu1', alertname: 'KernelPanic', host: 'db-1', instance: '10.0.0.1', severity: 'critical', source: 'netconsd',
      incident_type: 'panic', signature: 'panic:do_exit|make_task_dead'
    })
    assert.equal(a.annotations.summary, 'db-1: Kernel panic - not syncing: Fatal exception')
    assert.match(a.annotations.description, /Top frames:\ndo_exit\nmake_task_dead/)
    assert.equal(a.annotations.kernel_release, '6.12.0')
    assert.equal(a.startsAt, '2024-05-01T12:00:00.000Z')
    assert.equal(a.endsAt, '2024-05-01T13:00:00.000Z')
    assert.equal(a.generatorURL, 'http://netconsd/')
    const b = alerts[1]!
    assert.equal(b.labels.alertname, 'KernelLog')
    assert.equal(b.labels.severity, 'warning')
    assert.match(b.labels.message_hash, /^[0-9a-f]{16}$/)
    assert.equal(b.endsAt, '2024-05-01T13:00:01.000Z')
    for (const al of alerts) for (const v of Object.values(al.labels)) assert.equal(typeof v, 'string')
  })
  it('incident types become CamelCase alert names', () => {
    const soft = makeTestRecord({ kind: 'incident', incident: { type: 'soft_lockup', title: 't', signature: 's', function: null, frames: [] } })
    assert.equal((renderAlertmanager([soft], rc)[0] as { labels: { alertname: string } }).labels.alertname, 'KernelSoftLockup')
  })
})
