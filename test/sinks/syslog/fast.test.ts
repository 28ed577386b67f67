/**
 * The encoder's fast path (host parts cached, a batch in one buffer) produces exactly the bytes
 * of the encoder before it (reference-encoder.ts), for generated records and options: facility,
 * level, unicode / escapes / newlines, dictionaries, incidents, events, hosts shared by several
 * records and renamed in place between batches (as the reverse-DNS resolver does).
 */
import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import fc from 'fast-check'
import type { HostInfo, NetconsRecord } from '../../../src/types.js'
import { SyslogEncoder } from '../../../src/sinks/syslog/encode.js'
import { resolveSyslogOptions, type SyslogSinkOptions } from '../../../src/sinks/syslog/options.js'
import { ReferenceSyslogEncoder } from './reference-encoder.js'
import { makeTestRecord } from '../conformance.js'

const text = fc.oneof(
  fc.string({ unit: 'grapheme', maxLength: 80 }),
  fc.string({ unit: 'binary', maxLength: 80 }),
  fc.constantFrom('', '\n', 'a\nb\r\n', 'tab\there "q" \\ ] = \x00\x7f\x1b[0m', 'ünï \u{1F4A5}\n\n', 'lone \ud800 surrogate'),
  fc.string({ maxLength: 3000 })
)
const word = fc.oneof(fc.string({ maxLength: 12 }), fc.string({ unit: 'binary', maxLength: 12 }), fc.constantFrom('a=b', 'x]y', 'q"', ' '))

const hostArb: fc.Arbitrary<HostInfo> = fc.record({
  name: fc.oneof(fc.constantFrom('web-1', '::ffff:192.0.2.7', '', 'dns name with space', 'ünï.example', 'x'.repeat(300)), word),
  address: fc.constantFrom('::ffff:192.0.2.10', '2001:db8::1', '::ffff:10.0.0.1', 'odd"addr]'),
  labels: fc.dictionary(word, word, { maxKeys: 3 })
})

function recordArb (hosts: HostInfo[]): fc.Arbitrary<NetconsRecord> {
  return fc.record({
    host: fc.constantFrom(...hosts),
    kind: fc.constantFrom<'log' | 'incident' | 'event'>('log', 'log', 'incident', 'event'),
    format: fc.constantFrom<'extended' | 'legacy'>('extended', 'legacy'),
    facility: fc.oneof(fc.integer({ min: 0, max: 23 }), fc.constantFrom(-1, 24, 127, 1.5)),
    level: fc.option(fc.oneof(fc.integer({ min: 0, max: 7 }), fc.constantFrom(8, -1))),
    // Past 2^31 too: kernel timestamps in µs do so after 36 minutes of uptime.
    seq: fc.option(fc.oneof(fc.nat(), fc.maxSafeNat(), fc.constantFrom(2 ** 31, 1e8, 99999999, 100000000, 2 ** 53 - 1))),
    tsUsec: fc.option(fc.oneof(fc.nat(), fc.maxSafeNat(), fc.constantFrom(2 ** 31, 1e8, 99999999, 100000001, 12345678901234, -5, 1.5))),
    text,
    dict: fc.array(fc.tuple(word, word), { maxLength: 4 }),
    release: fc.option(word),
    contStart: fc.boolean(),
    cont: fc.boolean(),
    oos: fc.boolean(),
    seqReset: fc.boolean(),
    incomplete: fc.boolean(),
    lostBefore: fc.oneof(fc.nat({ max: 5 }), fc.maxSafeNat()),
    receivedAt: fc.oneof(fc.integer({ min: 0, max: 4_102_444_800_000 }), fc.constantFrom(1_700_000_000_000, 1_700_000_000_000, NaN, 8.64e15 + 1)),
    attributes: fc.dictionary(word, word, { maxKeys: 2 }),
    incident: fc.option(fc.record({ type: word, title: text, signature: word, function: fc.option(word), frames: fc.constant<string[]>([]) }), { nil: undefined }),
    event: fc.option(fc.record({ type: word, n: fc.integer(), b: fc.boolean(), s: word, o: fc.constant({ nested: 1 }), z: fc.constant(null) }), { nil: undefined })
  }).map((r) => {
    const rec = makeTestRecord(r as Partial<NetconsRecord>)
    if (r.incident === undefined) delete rec.incident
    if (r.event === undefined) delete rec.event
    return rec
  })
}

const optsArb: fc.Arbitrary<SyslogSinkOptions> = fc.record({
  host: fc.constant('127.0.0.1'),
  protocol: fc.constantFrom('udp', 'tcp', 'tls'),
  format: fc.constantFrom('rfc5424', 'rfc3164'),
  framing: fc.constantFrom('octet-counting', 'lf'),
  multiline: fc.constantFrom('keep', 'escape'),
  appName: fc.oneof(fc.constantFrom('kernel', 'k e r n e l', ''), word),
  hostname: fc.constantFrom('name', 'address'),
  facility: fc.constantFrom('record', 'local0', 'kern', 'user'),
  legacySeverity: fc.constantFrom('notice', 'debug', 'emerg'),
  enterpriseId: fc.constantFrom(32473, 1),
  includeDict: fc.boolean(),
  includeLabels: fc.boolean(),
  utf8Bom: fc.boolean(),
  maxMessageBytes: fc.oneof(fc.integer({ min: 480, max: 3000 }), fc.constant(65507))
}, { requiredKeys: ['host', 'protocol'] })

function resolveOrNull (o: SyslogSinkOptions): ReturnType<typeof resolveSyslogOptions> | null {
  try { return resolveSyslogOptions(o, 's', '/') } catch { return null }
}

describe('syslog fast encoder', () => {
  it('same bytes as the reference encoder: messages, framed batches, counters, across in-place renames', () => {
    // A record without a valid time gets the current one (RFC 3164 has no NILVALUE): one clock
    // for both encoders, or the two would differ whenever a second boundary fell between them.
    const realNow = Date.now
    Date.now = () => 1_700_000_000_500
    try {
      fc.assert(fc.property(optsArb, fc.array(hostArb, { minLength: 1, maxLength: 4 }).chain((hosts) =>
        fc.tuple(fc.constant(hosts), fc.array(recordArb(hosts), { minLength: 1, maxLength: 12 }), fc.array(recordArb(hosts), { maxLength: 6 }), word)), (o, [hosts, batch1, batch2, newName]) => {
        const r = resolveOrNull(o)
        if (r === null) return
        const fast = new SyslogEncoder(r)
        const ref = new ReferenceSyslogEncoder(r)
        const stream = r.framing !== null
        assert.deepEqual(stream ? fast.frameBatch(batch1) : batch1.map((x) => fast.message(x)),
          stream ? ref.frameBatch(batch1) : batch1.map((x) => ref.message(x)))
        // A retried batch (the same record objects) is cut and counted once.
        if (stream) assert.deepEqual(fast.frameBatch(batch1), ref.frameBatch(batch1))
        else assert.deepEqual(batch1.map((x) => fast.message(x)), batch1.map((x) => ref.message(x)))
        // The resolver names a host in place once its PTR lookup returns.
        hosts[0]!.name = newName
        const again = batch2.map((x) => ({ ...x }))
        assert.deepEqual(stream ? fast.frameBatch(again) : again.map((x) => fast.message(x)),
          stream ? ref.frameBatch(again) : again.map((x) => ref.message(x)))
        assert.equal(fast.truncated, ref.truncated)
        assert.equal(fast.sdElementsDropped, ref.sdElementsDropped)
      }), { numRuns: 400 })
    } finally {
      Date.now = realNow
    }
  })

  it('an RFC 3164 timestamp outside the Date range is the current time, not "undefined NaN"', () => {
    const r = resolveSyslogOptions({ host: '127.0.0.1', protocol: 'udp', format: 'rfc3164' }, 's', '/')
    const msg = new SyslogEncoder(r).message(makeTestRecord({ receivedAt: 8.64e15 + 1 })).toString()
    assert.match(msg, /^<\d+>[A-Z][a-z]{2} [ \d]\d \d\d:\d\d:\d\d /)
  })

  it('the host cache stays bounded and still right after eviction', () => {
    const r = resolveSyslogOptions({ host: '127.0.0.1', protocol: 'tcp' }, 's', '/')
    const fast = new SyslogEncoder(r)
    const ref = new ReferenceSyslogEncoder(r)
    const first = makeTestRecord({ host: { name: 'h0', address: '::ffff:10.0.0.0', labels: {} } })
    const recs = [first]
    for (let i = 1; i < 5000; i++) recs.push(makeTestRecord({ host: { name: `h${i}`, address: `::ffff:10.0.${i >> 8}.${i & 255}`, labels: { i: String(i) } } }))
    assert.deepEqual(fast.frameBatch(recs), ref.frameBatch(recs))
    assert.deepEqual(fast.frameBatch([first]), ref.frameBatch([first]))
  })
})
