/**
 * The contract every sink must keep, as a reusable suite (Vector's component spec, pino's
 * transport tests). A sink's own test file calls:
 *
 *   runSinkConformance('otlp', async () => ({ sink, received: () => server.count, cleanup }))
 *
 * `makeSink` is called once per case and must point the sink at a working local destination.
 * `received` (optional) reports how many records the destination has got, so delivery is
 * checked at the peer and not only in the sink's own counters.
 */
import { rec } from '../helpers/records.js'
import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { pino } from 'pino'
import type { NetconsRecord } from '../../src/types.js'
import type { Sink, SinkContext } from '../../src/sinks/types.js'

export interface ConformanceHarness {
  sink: Sink
  /** Records the destination has received so far. */
  received?: () => number | Promise<number>
  /** Stops servers, removes files. Called after every case, after the sink is closed. */
  cleanup?: () => Promise<void> | void
}

export type MakeSink = () => Promise<ConformanceHarness | Sink> | ConformanceHarness | Sink

/** A silent logger and a context for tests. */
export function testContext (overrides: Partial<SinkContext> = {}): SinkContext {
  return {
    sinkId: 'test',
    thread: 0,
    workerCount: 1,
    logger: pino({ level: 'silent' }),
    configDir: process.cwd(),
    ...overrides
  }
}

let seqCounter = 0

/** A plausible extended-format kernel record; override any field. */
export function makeTestRecord (overrides: Partial<NetconsRecord> = {}): NetconsRecord {
  const text = overrides.text ?? `test message ${seqCounter}`
  return rec({
    src: '::ffff:192.0.2.10',
    srcPort: 6666,
    host: { name: 'web-1', address: '::ffff:192.0.2.10', labels: { rack: 'r1' } },
    thread: 0,
    seq: seqCounter++,
    tsUsec: 12_345_678,
    text,
    raw: Buffer.from(text),
    receivedAt: 1_700_000_000_000,
    ...overrides
  })
}

/** Records that stress a formatter: legacy (no level/seq/ts), empty, long, non-ASCII, an incident. */
function awkwardRecords (): NetconsRecord[] {
  return [
    makeTestRecord({ format: 'legacy', level: null, seq: null, tsUsec: null, text: '[   12.345678] legacy line' }),
    makeTestRecord({ text: '' }),
    makeTestRecord({ text: 'x'.repeat(64 * 1024) }),
    makeTestRecord({ text: 'ünïcödé \u{1F4A5} "quotes" \\ ] {{not.a.field}}', dict: [['SUBSYSTEM', 'pci'], ['DEVICE', '+pci:0000:00:1f.6']] }),
    makeTestRecord({
      kind: 'incident',
      level: 0,
      text: 'Kernel panic - not syncing: sysrq triggered crash',
      incident: {
        type: 'panic',
        title: 'Kernel panic - not syncing: sysrq triggered crash',
        signature: 'panic:sysrq_handle_crash',
        function: 'sysrq_handle_crash',
        frames: ['sysrq_handle_crash', '__handle_sysrq', 'write_sysrq_trigger']
      }
    })
  ]
}

async function open (make: MakeSink): Promise<ConformanceHarness> {
  const h = await make()
  return 'write' in h ? { sink: h } : h
}

async function done (h: ConformanceHarness): Promise<void> {
  await h.sink.close(2000)
  await h.cleanup?.()
}

function assertStatsShape (s: unknown): void {
  assert.equal(typeof s, 'object')
  const st = s as Record<string, unknown>
  for (const k of ['sent', 'failed', 'retried', 'queueDepth']) {
    assert.equal(typeof st[k], 'number', `stats().${k} is a number`)
    assert.ok((st[k] as number) >= 0, `stats().${k} >= 0`)
  }
  assert.equal(typeof st.dropped, 'object')
  for (const [reason, n] of Object.entries(st.dropped as object)) {
    assert.match(reason, /^[a-z_]+$/, 'drop reasons are snake_case')
    assert.equal(typeof n, 'number')
  }
}

/** Registers the conformance cases for one sink type. */
export function runSinkConformance (name: string, makeSink: MakeSink): void {
  describe(`sink conformance: ${name}`, () => {
    it('write → flush delivers every record, then close', async () => {
      const h = await open(makeSink)
      try {
        const records = [makeTestRecord(), makeTestRecord({ level: 3 }), makeTestRecord({ level: 7 })]
        for (const r of records) h.sink.write(r)
        await h.sink.flush()
        if (h.received !== undefined) assert.equal(await h.received(), records.length)
        const st = h.sink.stats?.()
        if (st !== undefined) {
          assert.equal(st.sent, records.length)
          assert.equal(st.queueDepth, 0)
        }
      } finally { await done(h) }
    })

    it('flush resolves on an empty sink, and twice in a row', async () => {
      const h = await open(makeSink)
      try {
        await h.sink.flush()
        h.sink.write(makeTestRecord())
        await Promise.all([h.sink.flush(), h.sink.flush()])
        await h.sink.flush()
      } finally { await done(h) }
    })

    it('close is idempotent (concurrent and repeated)', async () => {
      const h = await open(makeSink)
      h.sink.write(makeTestRecord())
      await Promise.all([h.sink.close(2000), h.sink.close(2000)])
      await h.sink.close(2000)
      if (h.received !== undefined) assert.equal(await h.received(), 1, 'close flushes')
      await h.cleanup?.()
    })

    it('write after close never throws and is counted as dropped (closed)', async () => {
      const h = await open(makeSink)
      await h.sink.close(2000)
      assert.doesNotThrow(() => { h.sink.write(makeTestRecord()); h.sink.write(makeTestRecord()) })
      const st = h.sink.stats?.()
      if (st !== undefined) assert.equal(st.dropped.closed, 2)
      await h.cleanup?.()
    })

    it('accepts awkward records (legacy, empty, 64 KiB, non-ASCII, incident) without throwing', async () => {
      const h = await open(makeSink)
      try {
        const recs = awkwardRecords()
        assert.doesNotThrow(() => { for (const r of recs) h.sink.write(r) })
        await h.sink.flush()
        const st = h.sink.stats?.()
        if (st !== undefined) {
          const lost = Object.values(st.dropped).reduce((a, b) => a + b, 0)
          assert.equal(st.sent + lost, recs.length, 'every record is sent or counted as dropped')
        }
      } finally { await done(h) }
    })

    it('stats() has the SinkStats shape', async () => {
      const h = await open(makeSink)
      try {
        if (h.sink.stats === undefined) return
        assertStatsShape(h.sink.stats())
        h.sink.write(makeTestRecord())
        await h.sink.flush()
        assertStatsShape(h.sink.stats())
      } finally { await done(h) }
    })

    it('health() answers { ok } when present', async () => {
      const h = await open(makeSink)
      try {
        if (h.sink.health === undefined) return
        const r = await h.sink.health()
        assert.equal(typeof r.ok, 'boolean')
        if (!r.ok) assert.equal(typeof r.message, 'string')
      } finally { await done(h) }
    })
  })
}
