import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { BootClock } from '../../../src/sinks/otlp/boot-clock.js'
import { ResourceCache, recordAttributes, toLogRecord, displayAddress, type MapContext } from '../../../src/sinks/otlp/map-record.js'
import { makeTestRecord } from '../conformance.js'

function mapCtx (): MapContext {
  return { resources: new ResourceCache({ 'deployment.environment': 'prod' }), bootClock: new BootClock(), scope: { name: 'netconsd', version: 't' } }
}

describe('OTLP mapping: severity (OTel data model Appendix B, as the Collector syslog parser)', () => {
  const table: Array<[number, number, string]> = [
    [0, 21, 'emerg'], [1, 19, 'alert'], [2, 18, 'crit'], [3, 17, 'err'],
    [4, 13, 'warning'], [5, 10, 'notice'], [6, 9, 'info'], [7, 5, 'debug']
  ]
  for (const [level, num, text] of table) {
    it(`level ${level} → ${num} / ${text}`, () => {
      const lr = toLogRecord(makeTestRecord({ level }), mapCtx())
      assert.equal(lr.severityNumber, num)
      assert.equal(lr.severityText, text)
    })
  }
  it('legacy records (no level) leave severity unset instead of inventing one', () => {
    const lr = toLogRecord(makeTestRecord({ format: 'legacy', level: null }), mapCtx())
    assert.equal(lr.severityNumber, undefined)
    assert.equal(lr.severityText, undefined)
    assert.equal(recordAttributes(makeTestRecord({ level: null }))['syslog.severity'], undefined)
  })
})

describe('OTLP mapping: attributes', () => {
  it('facility number and name, seq, format, ts', () => {
    const a = recordAttributes(makeTestRecord({ facility: 1, seq: 42, tsUsec: 5 }))
    assert.equal(a['syslog.facility'], 1)
    assert.equal(a['syslog.facility.name'], 'user')
    assert.equal(a['netconsole.seq'], 42)
    assert.equal(a['netconsole.format'], 'extended')
    assert.equal(a['netconsole.ts_usec'], 5)
    assert.equal(recordAttributes(makeTestRecord({ facility: 0 }))['syslog.facility.name'], 'kern')
  })
  it('ncrx flags only when set, lostBefore only when > 0', () => {
    const quiet = recordAttributes(makeTestRecord())
    for (const k of ['netconsole.cont_start', 'netconsole.cont', 'netconsole.oos', 'netconsole.seq_reset', 'netconsole.incomplete', 'netconsole.lost_before']) {
      assert.equal(quiet[k], undefined, k)
    }
    const loud = recordAttributes(makeTestRecord({ contStart: true, cont: true, oos: true, seqReset: true, incomplete: true, lostBefore: 3 }))
    assert.equal(loud['netconsole.cont_start'], true)
    assert.equal(loud['netconsole.cont'], true)
    assert.equal(loud['netconsole.oos'], true)
    assert.equal(loud['netconsole.seq_reset'], true)
    assert.equal(loud['netconsole.incomplete'], true)
    assert.equal(loud['netconsole.lost_before'], 3)
  })
  it('dictionary and userdata lines, a repeated key becomes an array', () => {
    const a = recordAttributes(makeTestRecord({ dict: [['SUBSYSTEM', 'pci'], ['cpu', '3'], ['SUBSYSTEM', 'usb'], ['SUBSYSTEM', 'x']] }))
    assert.deepEqual(a['netconsole.dict.SUBSYSTEM'], ['pci', 'usb', 'x'])
    assert.equal(a['netconsole.dict.cpu'], '3')
  })
  it('router attributes are copied and win', () => {
    const a = recordAttributes(makeTestRecord({ attributes: { team: 'kernel', 'syslog.facility.name': 'override' } }))
    assert.equal(a.team, 'kernel')
    assert.equal(a['syslog.facility.name'], 'override')
  })
  it('incidents: eventName and incident attributes with frames', () => {
    const rec = makeTestRecord({
      kind: 'incident',
      incident: { type: 'oops', title: 'BUG: kernel NULL pointer dereference', signature: 'oops:foo|bar', function: 'foo', frames: ['foo', 'bar'], cpu: 2, nested: { no: 1 } }
    })
    const lr = toLogRecord(rec, mapCtx())
    assert.equal(lr.eventName, 'netconsd.incident')
    assert.equal(lr.attributes['netconsd.incident.type'], 'oops')
    assert.equal(lr.attributes['netconsd.incident.signature'], 'oops:foo|bar')
    assert.equal(lr.attributes['netconsd.incident.function'], 'foo')
    assert.deepEqual(lr.attributes['netconsd.incident.frames'], ['foo', 'bar'])
    assert.equal(lr.attributes['netconsd.incident.cpu'], 2)
    assert.equal(lr.attributes['netconsd.incident.nested'], undefined)
  })
  it('host events: eventName and type', () => {
    const lr = toLogRecord(makeTestRecord({ kind: 'event', event: { type: 'reboot', previousSeq: 9 } }), mapCtx())
    assert.equal(lr.eventName, 'netconsd.host_event')
    assert.equal(lr.attributes['netconsd.event.type'], 'reboot')
    assert.equal(lr.attributes['netconsd.event.previousSeq'], 9)
  })
})

describe('OTLP mapping: resource per host', () => {
  it('host.name, host.ip (IPv4 dotted), os.type, os.version from release, labels, extra', () => {
    const r = new ResourceCache({ 'deployment.environment': 'prod', 'service.name': 'kern-logs' })
    const res = r.get(makeTestRecord({ release: '6.12.0-test', host: { name: 'db-7', address: '::ffff:10.1.2.3', labels: { rack: 'r9', role: 'db' } } }))
    assert.deepEqual(res.attributes, {
      'service.name': 'kern-logs',
      'os.type': 'linux',
      'deployment.environment': 'prod',
      'host.name': 'db-7',
      'host.ip': ['10.1.2.3'],
      'os.version': '6.12.0-test',
      'host.label.rack': 'r9',
      'host.label.role': 'db'
    })
  })
  it('service.name defaults to kernel; no os.version without a release', () => {
    const res = new ResourceCache().get(makeTestRecord())
    assert.equal(res.attributes['service.name'], 'kernel')
    assert.equal(res.attributes['os.version'], undefined)
  })
  it('reuses one Resource object per host (the serializer groups by identity)', () => {
    const r = new ResourceCache()
    const a = r.get(makeTestRecord())
    const b = r.get(makeTestRecord({ host: { name: 'web-1', address: '::ffff:192.0.2.10', labels: { rack: 'r1' } } }))
    assert.equal(a, b)
    const other = r.get(makeTestRecord({ src: '2001:db8::1', host: { name: 'web-2', address: '2001:db8::1', labels: {} } }))
    assert.notEqual(a, other)
    assert.deepEqual(other.attributes['host.ip'], ['2001:db8::1'])
    const relabelled = r.get(makeTestRecord({ host: { name: 'web-1', address: '::ffff:192.0.2.10', labels: { rack: 'r2' } } }))
    assert.notEqual(a, relabelled)
  })
  it('is bounded', () => {
    const r = new ResourceCache({}, 10)
    for (let i = 0; i < 50; i++) r.get(makeTestRecord({ src: `::ffff:10.0.0.${i}` }))
    assert.equal(r.size, 10)
  })
  it('displayAddress', () => {
    assert.equal(displayAddress('::ffff:1.2.3.4'), '1.2.3.4')
    assert.equal(displayAddress('::1'), '::1')
  })
})

describe('OTLP mapping: timestamps', () => {
  it('timestamp = estimated boot + ts_usec; observed = arrival', () => {
    const ctx = mapCtx()
    const lr = toLogRecord(makeTestRecord({ tsUsec: 5_000_000, receivedAt: 1_700_000_010_000 }), ctx)
    // boot estimate = 1_700_000_005_000 ms; timestamp = arrival here (first record).
    assert.deepEqual(lr.hrTime, [1_700_000_010, 0])
    assert.deepEqual(lr.hrTimeObserved, [1_700_000_010, 0])
    // A later record that took 40 ms longer to arrive gets its kernel time, not its arrival time.
    const lr2 = toLogRecord(makeTestRecord({ tsUsec: 6_000_123, receivedAt: 1_700_000_011_040 }), ctx)
    assert.deepEqual(lr2.hrTime, [1_700_000_011, 123_000])
    assert.deepEqual(lr2.hrTimeObserved, [1_700_000_011, 40_000_000])
  })
  it('no kernel timestamp → timestamp unset (0), observed set', () => {
    const lr = toLogRecord(makeTestRecord({ tsUsec: null }), mapCtx())
    assert.deepEqual(lr.hrTime, [0, 0])
    assert.notDeepEqual(lr.hrTimeObserved, [0, 0])
  })
})

describe('BootClock', () => {
  it('keeps the earliest estimate (delay only makes estimates later)', () => {
    const c = new BootClock()
    assert.equal(c.observe('h', 1_000_000, 10_050, false), 10_050_000)
    assert.equal(c.bootTimeUs('h'), 9_050_000)
    c.observe('h', 2_000_000, 11_000, false) // est 9_000_000: earlier → adopted
    assert.equal(c.bootTimeUs('h'), 9_000_000)
    c.observe('h', 3_000_000, 12_500, false) // est 9_500_000: later → ignored
    assert.equal(c.bootTimeUs('h'), 9_000_000)
  })
  it('starts over on seqReset', () => {
    const c = new BootClock()
    c.observe('h', 100_000_000, 200_000, false)
    assert.equal(c.bootTimeUs('h'), 100_000_000)
    c.observe('h', 1_000_000, 500_000, true)
    assert.equal(c.bootTimeUs('h'), 499_000_000)
  })
  it('starts over when the kernel clock goes back more than 1 s (reboot without seqReset)', () => {
    const c = new BootClock()
    c.observe('h', 100_000_000, 200_000, false)
    c.observe('h', 99_500_000, 200_100, false) // 0.5 s back: jitter, kept
    assert.equal(c.bootTimeUs('h'), 100_000_000)
    c.observe('h', 2_000_000, 300_000, false)
    assert.equal(c.bootTimeUs('h'), 298_000_000)
  })
  it('an out-of-sequence (older) record does not count as a reboot', () => {
    const c = new BootClock()
    c.observe('h', 100_000_000, 200_000, false)
    c.observe('h', 10_000_000, 200_010, false, true)
    assert.equal(c.bootTimeUs('h'), 100_000_000)
  })
  it('re-anchors after a run of late records (suspend, clock step)', () => {
    const c = new BootClock({ reanchorAfter: 4, reanchorSlackMs: 1000 })
    c.observe('h', 1_000_000, 10_000, false)
    for (let i = 0; i < 3; i++) c.observe('h', 2_000_000 + i, 71_000 + i, false)
    assert.equal(c.bootTimeUs('h'), 9_000_000)
    c.observe('h', 2_000_010, 71_003, false)
    assert.equal(c.bootTimeUs('h'), 69_000_000)
  })
  it('bounded number of hosts, least recently seen forgotten', () => {
    const c = new BootClock({ maxHosts: 3 })
    for (const h of ['a', 'b', 'c']) c.observe(h, 1, 1, false)
    c.observe('a', 2, 2, false)
    c.observe('d', 1, 1, false)
    assert.equal(c.size, 3)
    assert.equal(c.bootTimeUs('b'), undefined)
    assert.notEqual(c.bootTimeUs('a'), undefined)
  })
  it('null or negative ts → null', () => {
    const c = new BootClock()
    assert.equal(c.observe('h', null, 1, false), null)
    assert.equal(c.observe('h', -5, 1, false), null)
  })
})
