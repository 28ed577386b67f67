/**
 * The syslog sink against a real syslog-ng (unpacked by `scripts/peers/syslog-ng.sh`, see
 * test/helpers/syslog-ng.ts): what a second, independent parser makes of our messages. Mirrors
 * rsyslog.test.ts: HOSTNAME, APP-NAME, severity, facility, MSGID, every SD param after RFC 5424
 * §6.3.3 unescaping (`"`, `\`, `]`), multi-line and non-ASCII text, a record longer than the limit,
 * over TCP with octet counting, UDP, and RFC 3164 through syslog-ng's BSD parser.
 */
import { describe, it, after } from 'node:test'
import assert from 'node:assert/strict'
import { createSyslogSink, type SyslogSink, type SyslogSinkOptions } from '../../../src/sinks/syslog/index.js'
import type { DeliveryOptions } from '../../../src/sinks/delivery/index.js'
import { startSyslogNg, syslogNgPath, type SyslogNg, type SyslogNgOptions } from '../../helpers/syslog-ng.js'
import { makeTestRecord, testContext } from '../conformance.js'

const installed = syslogNgPath() !== null
const toStop: SyslogNg[] = []
const toClose: SyslogSink[] = []
after(async () => {
  for (const s of toClose) await s.close(100).catch(() => {})
  for (const r of toStop) await r.stop()
})

async function syslogNg (o: SyslogNgOptions): Promise<SyslogNg> {
  const r = await startSyslogNg(o)
  assert.ok(r !== null)
  toStop.push(r)
  return r
}

function sink (o: SyslogSinkOptions & DeliveryOptions): SyslogSink {
  const s = createSyslogSink({ flushIntervalMs: 5, initialBackoffMs: 50, maxBackoffMs: 200, reconnectBackoffMs: 50, reconnectBackoffMaxMs: 200, ...o }, testContext()) as SyslogSink
  toClose.push(s)
  return s
}

const awkward = 'n2 "quoted" ]bracket\\back ü'
const incident = makeTestRecord({
  kind: 'incident',
  level: 0,
  seq: 900,
  text: 'BUG: kernel NULL pointer dereference, address: 0000000000000000\nCall Trace:\n <TASK>\n sysrq_handle_crash+0x16/0x20',
  incident: { type: 'oops', title: 'BUG: "NULL" [deref] \\ ü', signature: 'oops:sysrq_handle_crash', function: 'sysrq_handle_crash', frames: ['sysrq_handle_crash'] }
})

describe('syslog sink against a real syslog-ng', { skip: installed ? false : 'syslog-ng not installed (run scripts/peers/syslog-ng.sh)' }, () => {
  it('TCP, octet counting: HOSTNAME, APP-NAME, MSG and every SD param as syslog-ng parses them', async () => {
    const r = await syslogNg({ tcp: true })
    const s = sink({ host: '127.0.0.1', port: r.tcpPort, protocol: 'tcp' })
    s.write(makeTestRecord({
      seq: 7, level: 3, tsUsec: 1_234_567, text: 'eth0: NIC Link is Down ü ✓\n',
      dict: [['SUBSYSTEM', 'net'], ['DEVICE', awkward]], release: '6.12.0', attributes: { team: 'a]b"c\\d' }
    }))
    s.write(incident)
    s.write(makeTestRecord({ format: 'legacy', level: null, seq: null, tsUsec: null, text: '[   12.5] legacy\n', host: { name: '::ffff:192.0.2.99', address: '::ffff:192.0.2.99', labels: {} } }))
    await s.flush()
    const [a, b, c] = await r.waitFor(3)
    assert.equal(a!.source, 's_tcp')
    assert.equal(a!.host, 'web-1')
    assert.equal(a!.program, 'kernel')
    assert.equal(a!.pid, '')
    assert.equal(a!.msgid, '')
    assert.equal(a!.severity, 3)
    assert.equal(a!.facility, 0)
    assert.equal(a!.msg, 'eth0: NIC Link is Down ü ✓')
    assert.equal(a!.isodate, '2023-11-14T22:13:20.000+00:00')
    assert.deepEqual(a!.sd, {
      'netconsd@32473': { src: '192.0.2.10', seq: '7', tsUsec: '1234567', level: '3', facility: '0', format: 'extended', release: '6.12.0' },
      'netconsdAttrs@32473': { team: 'a]b"c\\d' },
      'netconsdLabels@32473': { rack: 'r1' },
      'netconsdDict@32473': { SUBSYSTEM: 'net', DEVICE: awkward }
    })
    // Multi-line text is kept over octet counting: one message, newlines intact.
    assert.equal(b!.msgid, 'incident')
    assert.equal(b!.severity, 0)
    assert.equal(b!.msg, incident.text)
    assert.deepEqual(b!.sd['netconsdIncident@32473'], {
      type: 'oops', signature: 'oops:sysrq_handle_crash', function: 'sysrq_handle_crash', title: 'BUG: "NULL" [deref] \\ ü'
    })
    assert.equal(c!.host, '192.0.2.99', 'IPv4-mapped addresses are sent as IPv4')
    assert.equal(c!.severity, 5, 'legacy records: notice by default')
    assert.equal(c!.msg, '[   12.5] legacy')
    assert.deepEqual(c!.sd['netconsd@32473'], { src: '192.0.2.99', facility: '0', format: 'legacy' })
  })

  it('TCP: names a receiver would choke on are made valid (HOSTNAME, APP-NAME, SD-NAME), control characters in SD values escaped', async () => {
    const r = await syslogNg({ tcp: true })
    const s = sink({ host: '127.0.0.1', port: r.tcpPort, protocol: 'tcp', appName: 'my app' })
    s.write(makeTestRecord({
      host: { name: 'wéb 1', address: '::ffff:10.0.0.1', labels: { 'a b': 'x' } },
      text: '[not structured data] hello',
      dict: [['KEY WITH SPACE', 'v\x01\x7f'], ['A]B', '1'], ['C"D', '2'], ['E=F', '3']]
    }))
    s.write(makeTestRecord({ text: '' }))
    await s.flush()
    const [a, b] = await r.waitFor(2)
    assert.equal(a!.host, 'w_b_1', 'RFC 5424 HOSTNAME is PRINTUSASCII without spaces')
    assert.equal(a!.program, 'my_app')
    assert.equal(a!.msg, '[not structured data] hello', 'a MSG starting with [ is not read as SD')
    assert.deepEqual(a!.sd['netconsdLabels@32473'], { a_b: 'x' })
    assert.deepEqual(a!.sd['netconsdDict@32473'], { KEY_WITH_SPACE: 'v#001#177', A_B: '1', C_D: '2', E_F: '3' })
    assert.equal(b!.msg, '', 'no MSG at all after the SD')
    assert.equal(b!.host, 'web-1')
  })

  it('TCP: a record longer than maxMessageBytes arrives as one message cut at a UTF-8 boundary, the next one intact', async () => {
    const r = await syslogNg({ tcp: true })
    const s = sink({ host: '127.0.0.1', port: r.tcpPort, protocol: 'tcp' })
    const long = makeTestRecord({ seq: 1, text: 'ä'.repeat(3000) + ' host2 tail ' + 'y'.repeat(13_000) })
    s.write(long)
    s.write(makeTestRecord({ seq: 2, text: 'after the long one' }))
    await s.flush()
    await r.waitFor(2)
    await new Promise((resolve) => setTimeout(resolve, 200))
    const all = r.messages()
    assert.equal(all.length, 2, JSON.stringify(all.map((m) => [m.host, m.msg.slice(0, 40)])))
    const first = all[0]!
    assert.ok(long.text.startsWith(first.msg), 'a prefix of the text, no replacement characters')
    assert.ok(first.msg.length > 3000)
    assert.equal(first.sd['netconsd@32473']!.seq, '1')
    assert.equal(all[1]!.msg, 'after the long one')
    assert.equal(all[1]!.host, 'web-1')
    assert.equal(s.stats().truncated, 1)
    assert.doesNotMatch(r.internalLog(), /too long|truncat|Invalid frame|error/i)
  })

  it('TCP: many records in one connection keep their order and count', async () => {
    const r = await syslogNg({ tcp: true })
    const s = sink({ host: '127.0.0.1', port: r.tcpPort, protocol: 'tcp', facility: 'local0' })
    for (let i = 0; i < 200; i++) s.write(makeTestRecord({ seq: i, text: `line ${i}\nsecond ${i}` }))
    await s.flush()
    const msgs = await r.waitFor(200)
    assert.deepEqual(msgs.map((m) => Number(m.sd['netconsd@32473']!.seq)), [...Array(200).keys()])
    assert.ok(msgs.every((m, i) => m.msg === `line ${i}\nsecond ${i}` && m.facility === 16))
  })

  it('UDP: one RFC 5424 message per datagram, control characters escaped', async () => {
    const r = await syslogNg({ udp: true })
    const s = sink({ host: '127.0.0.1', port: r.udpPort, protocol: 'udp', appName: 'netcons' })
    s.write(makeTestRecord({ seq: 3, level: 4, text: 'tab\there\nnext ü', dict: [['DEVICE', awkward]] }))
    s.write(incident)
    await s.flush()
    const msgs = await r.waitFor(2)
    const byMsgid = new Map(msgs.map((m) => [m.msgid, m]))
    const a = byMsgid.get('')!
    assert.equal(a.source, 's_udp')
    assert.equal(a.host, 'web-1')
    assert.equal(a.program, 'netcons')
    assert.equal(a.severity, 4)
    assert.equal(a.msg, 'tab\there#012next ü', 'TAB is kept; LF becomes #012')
    assert.equal(a.sd['netconsdDict@32473']!.DEVICE, awkward)
    const inc = byMsgid.get('incident')!
    assert.equal(inc.msg, incident.text.replace(/\n/g, '#012'))
    assert.equal(inc.sd['netconsdIncident@32473']!.title, 'BUG: "NULL" [deref] \\ ü')
  })

  it('UDP, utf8Bom: the BOM marks the MSG as UTF-8 (RFC 5424 §6.4) and is not part of the text', async () => {
    const r = await syslogNg({ udp: true })
    const s = sink({ host: '127.0.0.1', port: r.udpPort, utf8Bom: true })
    s.write(makeTestRecord({ text: 'grüße ✓' }))
    await s.flush()
    const [m] = await r.waitFor(1)
    assert.equal(m!.msg, 'grüße ✓', 'syslog-ng strips the BOM it recognises')
    assert.equal(m!.host, 'web-1')
  })

  it('UDP, RFC 3164 through the BSD parser: host, tag, severity, facility', async () => {
    const r = await syslogNg({ bsdUdp: true })
    const s = sink({ host: '127.0.0.1', port: r.bsdUdpPort, format: 'rfc3164', facility: 'local4', appName: 'netcons' })
    s.write(makeTestRecord({ level: 4, text: 'multi\nline ü' }))
    await s.flush()
    const [m] = await r.waitFor(1)
    assert.equal(m!.source, 's_bsd')
    assert.equal(m!.host, 'web-1')
    assert.equal(m!.program, 'netcons')
    assert.equal(m!.severity, 4)
    assert.equal(m!.facility, 20)
    assert.equal(m!.msg, 'multi#012line ü')
  })
})
