/**
 * What the OTLP sink sends, decoded by `protoc --decode` (the reference protobuf implementation,
 * sharing no code with our hand-written encoder or with protobufjs) from a real HTTP server on
 * port 0: the bytes parse, no field is unknown to the official protos, severity maps to the
 * SeverityNumber enum by name, and protoc and protobufjs read the same request identically.
 */
import { describe, it, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { createOtlpSink } from '../../../src/sinks/otlp/index.js'
import { RecordingServer } from '../delivery/http-server.js'
import { decodeProtobuf } from './otlp-decode.js'
import { fromProtoc, parseTextFormat, protocDecodeText, protocPath, unknownFields } from './protoc.js'
import { makeTestRecord, testContext } from '../conformance.js'

const installed = protocPath() !== null

describe('OTLP sink, decoded by protoc', { skip: installed ? false : 'protoc not installed (Debian package protobuf-compiler)' }, () => {
  let server: RecordingServer
  before(async () => { server = await RecordingServer.start() })
  after(async () => { await server.stop() })

  async function send (records: ReturnType<typeof makeTestRecord>[], resource: Record<string, string> = {}): Promise<Buffer> {
    server.requests.length = 0
    const s = createOtlpSink({ endpoint: server.url, encoding: 'protobuf', flushIntervalMs: 20, resource }, testContext({ sinkId: 'otlp-protoc' }))
    for (const r of records) s.write(r)
    await s.close()
    const reqs = server.requests.filter((r) => r.path === '/v1/logs' && r.body.length > 0)
    assert.equal(reqs.length, 1, 'one batch')
    return reqs[0]!.body
  }

  it('every syslog level maps to the SeverityNumber enum (data model Appendix B); legacy records leave it unset', async () => {
    const levels = [0, 1, 2, 3, 4, 5, 6, 7]
    const body = await send([...levels.map((level) => makeTestRecord({ level, text: `level ${level}` })),
      makeTestRecord({ format: 'legacy', level: null, seq: null, tsUsec: null, text: 'legacy' })])
    const text = protocDecodeText(body)
    const logs = fromProtoc(parseTextFormat(text)).flatMap((rl) => rl.scopes.flatMap((s) => s.logs))
    assert.deepEqual(logs.map((l) => [l.body, l.severityName, l.severityText]), [
      ['level 0', 'SEVERITY_NUMBER_FATAL', 'emerg'],
      ['level 1', 'SEVERITY_NUMBER_ERROR3', 'alert'],
      ['level 2', 'SEVERITY_NUMBER_ERROR2', 'crit'],
      ['level 3', 'SEVERITY_NUMBER_ERROR', 'err'],
      ['level 4', 'SEVERITY_NUMBER_WARN', 'warning'],
      ['level 5', 'SEVERITY_NUMBER_INFO2', 'notice'],
      ['level 6', 'SEVERITY_NUMBER_INFO', 'info'],
      ['level 7', 'SEVERITY_NUMBER_DEBUG', 'debug'],
      ['legacy', '', '']
    ])
    assert.doesNotMatch(text, /severity_number: SEVERITY_NUMBER_UNSPECIFIED/, 'unset, not sent as 0')
  })

  it('body, attributes (typed), resource attributes and scope, and protobufjs agrees field for field', async () => {
    const web = { name: 'web-1', address: '::ffff:192.0.2.10', labels: { rack: 'r1' } }
    const db = { name: 'db-2', address: '2001:db8::2', labels: {} }
    const body = await send([
      makeTestRecord({ host: web, src: web.address, seq: 100, level: 3, tsUsec: 2_000_000, receivedAt: 1_700_000_002_000, text: 'e1000e: eth0 NIC Link is Down "ü" \\ ✓\ttab', release: '6.12.0', dict: [['SUBSYSTEM', 'net'], ['DEVICE', 'n2'], ['DEVICE', 'n3']] }),
      makeTestRecord({ host: web, src: web.address, seq: 101, level: 0, tsUsec: 3_500_000, receivedAt: 1_700_000_003_600, text: 'Kernel panic - not syncing: boom\nCPU: 0', release: '6.12.0', lostBefore: 2, cont: true, kind: 'incident', incident: { type: 'panic', title: 'Kernel panic - not syncing: boom', signature: 'panic:boom', function: 'panic', frames: ['panic', 'do_exit'] } }),
      makeTestRecord({ host: db, src: db.address, format: 'legacy', seq: null, level: null, tsUsec: null, receivedAt: 1_700_000_004_000, text: 'legacy ü line', attributes: { team: 'storage' } })
    ], { 'deployment.environment': 'test' })
    const text = protocDecodeText(body)
    const tree = parseTextFormat(text)
    assert.deepEqual(unknownFields(tree), [], 'every field is defined by the official protos')
    // Typed on the wire: integers as int_value, flags as bool_value, the IP list as array_value.
    assert.match(text, /key: "netconsole.seq"\s+value \{\s+int_value: 100\s+\}/)
    assert.match(text, /key: "netconsole.lost_before"\s+value \{\s+int_value: 2\s+\}/)
    assert.match(text, /key: "netconsole.cont"\s+value \{\s+bool_value: true\s+\}/)
    assert.match(text, /key: "host.ip"\s+value \{\s+array_value \{\s+values \{\s+string_value: "192.0.2.10"/)
    assert.match(text, /time_unix_nano: 1700000003500000000\b/)

    const rls = fromProtoc(tree)
    assert.equal(rls.length, 2, 'one ResourceLogs per host')
    assert.deepEqual(rls[0]!.resource, {
      'service.name': 'kernel', 'os.type': 'linux', 'deployment.environment': 'test', 'host.name': 'web-1',
      'host.ip': ['192.0.2.10'], 'os.version': '6.12.0', 'host.label.rack': 'r1'
    })
    assert.deepEqual(rls[1]!.resource, { 'service.name': 'kernel', 'os.type': 'linux', 'deployment.environment': 'test', 'host.name': 'db-2', 'host.ip': ['2001:db8::2'] })
    assert.deepEqual(rls.map((rl) => rl.scopes.map((s) => [s.name, s.version])), [[['netconsd', '0.1.0']], [['netconsd', '0.1.0']]])
    const [l1, l2] = rls[0]!.scopes[0]!.logs
    const [l3] = rls[1]!.scopes[0]!.logs
    assert.equal(l1!.body, 'e1000e: eth0 NIC Link is Down "ü" \\ ✓\ttab')
    assert.deepEqual(l1!.attributes, {
      'syslog.facility': 0, 'syslog.facility.name': 'kern', 'syslog.severity': 3, 'netconsole.format': 'extended',
      'netconsole.seq': 100, 'netconsole.ts_usec': 2_000_000, 'netconsole.dict.SUBSYSTEM': 'net', 'netconsole.dict.DEVICE': ['n2', 'n3']
    })
    assert.equal(l1!.timeUnixNano, 1_700_000_002_000_000_000n)
    assert.equal(l2!.body, 'Kernel panic - not syncing: boom\nCPU: 0')
    assert.equal(l2!.eventName, 'netconsd.incident')
    assert.equal(l2!.severityName, 'SEVERITY_NUMBER_FATAL')
    assert.deepEqual(l2!.attributes['netconsd.incident.frames'], ['panic', 'do_exit'])
    assert.equal(l2!.attributes['netconsole.lost_before'], 2)
    assert.equal(l2!.observedTimeUnixNano, 1_700_000_003_600_000_000n)
    assert.equal(l3!.body, 'legacy ü line')
    assert.equal(l3!.timeUnixNano, 0n, 'no kernel time: unset')
    assert.deepEqual(l3!.attributes, { 'syslog.facility': 0, 'syslog.facility.name': 'kern', 'netconsole.format': 'legacy', team: 'storage' })

    // Two independent decoders, one answer.
    const withoutNames = rls.map((rl) => ({ ...rl, scopes: rl.scopes.map((s) => ({ ...s, logs: s.logs.map(({ severityName: _, ...l }) => l) })) }))
    assert.deepEqual(withoutNames, decodeProtobuf(body))
  })
})
