import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import fc from 'fast-check'
import { ProtobufLogsSerializer } from '@opentelemetry/otlp-transformer'
import { BootClock } from '../../../src/sinks/otlp/boot-clock.js'
import { ProtobufLogsEncoder } from '../../../src/sinks/otlp/encode-protobuf.js'
import { ResourceCache, SCOPE_NAME, toLogRecord, type MapContext } from '../../../src/sinks/otlp/map-record.js'
import type { NetconsRecord } from '../../../src/types.js'
import { makeTestRecord } from '../conformance.js'
import { decodeProtobuf } from './otlp-decode.js'

function context (): MapContext {
  return { resources: new ResourceCache({ 'deployment.environment': 'test', n: 3, f: 1.5, b: true, arr: ['x', 'y'] }), bootClock: new BootClock({ maxHosts: 100 }), scope: { name: SCOPE_NAME, version: '0.1.0' } }
}

const text = fc.oneof(fc.string(), fc.string({ unit: 'grapheme', maxLength: 300 }), fc.string({ minLength: 100, maxLength: 400 }))
const key = fc.stringMatching(/^[A-Za-z0-9_]{1,12}$/)
const hosts = fc.integer({ min: 0, max: 20 })

const record = fc.record({
  host: hosts,
  kind: fc.constantFrom('log', 'log', 'log', 'incident', 'event'),
  format: fc.constantFrom('extended', 'legacy'),
  level: fc.option(fc.integer({ min: 0, max: 7 })),
  facility: fc.integer({ min: 0, max: 30 }),
  seq: fc.option(fc.oneof(fc.nat(), fc.maxSafeNat(), fc.constantFrom(0x7f, 0x80, 0xfffffff, 0x10000000, 2 ** 35 - 1, 2 ** 53 - 1))),
  tsUsec: fc.option(fc.oneof(fc.nat(), fc.integer({ min: 0, max: 2 ** 52 }))),
  receivedAt: fc.integer({ min: 1_600_000_000_000, max: 1_900_000_000_000 }),
  flags: fc.array(fc.boolean(), { minLength: 5, maxLength: 5 }),
  lostBefore: fc.nat({ max: 1000 }),
  text,
  dict: fc.array(fc.tuple(fc.constantFrom('SUBSYSTEM', 'DEVICE', 'X'), fc.string({ unit: 'grapheme', maxLength: 200 })), { maxLength: 4 }),
  attributes: fc.dictionary(fc.oneof(key, fc.constant('syslog.facility'), fc.constant('123')), fc.string(), { maxKeys: 3 }),
  release: fc.option(fc.constantFrom('6.1.0', '6.8.0-rc1')),
  extra: fc.dictionary(key, fc.oneof(fc.string(), fc.boolean(), fc.integer(), fc.double({ noNaN: true }), fc.array(fc.string(), { maxLength: 3 })), { maxKeys: 4 })
})

type RecordShape = typeof record extends fc.Arbitrary<infer T> ? T : never
function build (r: RecordShape): NetconsRecord {
  const src = `::ffff:10.0.0.${r.host}`
  const rec = makeTestRecord({
    src,
    host: { name: `h${r.host}`, address: src, labels: r.host % 2 === 0 ? { rack: `r${r.host}` } : {} },
    kind: r.kind,
    format: r.format,
    level: r.level,
    facility: r.facility,
    seq: r.seq,
    tsUsec: r.tsUsec,
    receivedAt: r.receivedAt,
    contStart: r.flags[0]!,
    cont: r.flags[1]!,
    oos: r.flags[2]!,
    seqReset: r.flags[3]!,
    incomplete: r.flags[4]!,
    lostBefore: r.lostBefore,
    text: r.text,
    dict: r.dict,
    attributes: r.attributes,
    release: r.release
  })
  if (r.kind === 'incident') rec.incident = { type: 'oops', title: r.text.slice(0, 20), signature: 'sig', function: r.flags[0]! ? null : 'f', frames: ['a', 'b'], ...r.extra }
  if (r.kind === 'event') rec.event = { ...r.extra, type: 'reboot' }
  return rec
}

describe('OTLP protobuf encoder', () => {
  it('decodes to the same request as the official serializer, for arbitrary batches', () => {
    fc.assert(fc.property(fc.array(record, { maxLength: 40 }), (rs) => {
      const batch = rs.map(build)
      // Two fresh contexts: each side feeds its own boot clock in the same order.
      const ours = new ProtobufLogsEncoder(context()).encode(batch)
      const ref = context()
      const official = ProtobufLogsSerializer.serializeRequest(batch.map((r) => toLogRecord(r, ref))) ?? new Uint8Array(0)
      assert.deepEqual(decodeProtobuf(ours), decodeProtobuf(official))
    }), { numRuns: 300 })
  })

  it('reuses cached host bytes across batches and grows past its initial buffer', () => {
    const enc = new ProtobufLogsEncoder(context())
    const ref = context()
    for (let round = 0; round < 3; round++) {
      const batch = Array.from({ length: 2000 }, (_, i) => makeTestRecord({ src: `::ffff:10.0.1.${i % 50}`, text: 'x'.repeat(i % 300) }))
      const official = ProtobufLogsSerializer.serializeRequest(batch.map((r) => toLogRecord(r, ref)))!
      assert.deepEqual(decodeProtobuf(enc.encode(batch)), decodeProtobuf(official))
    }
  })
})
