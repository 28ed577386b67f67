/**
 * Daemon behaviour with real worker threads and UDP: per-host ordering across workers, shutdown
 * releasing held messages, broken modules, and a module that throws.
 */
import { test, describe } from 'node:test'
import assert from 'node:assert/strict'
import { join } from 'node:path'
import { startTestDaemon as start, sendDatagrams, waitFor, collectModule, receivePaths } from '../helpers/daemon.js'
import { blast } from '../../src/blaster/blaster.js'
import { extendedRecord } from '../../src/blaster/messages.js'
import { fixturesDir } from '../helpers/paths.js'

for (const receivePath of receivePaths) {
describe(`${receivePath} receive path`, () => {
  const startTestDaemon: typeof start = async (o = {}) => await start({ receivePath, ...o })

  test('many hosts over several workers: every host in order, none lost, each host on one worker', async () => {
    const d = await startTestDaemon({ overrides: { workers: { count: 3 } } })
    try {
      const r = await blast({ hosts: 40, count: 150, rate: 20000, target: '127.0.0.1', port: d.port, size: 100, fragEvery: 25 })
      await waitFor(() => d.collected().length >= r.records, 15_000, `${r.records} records`)
      const byHost = new Map<string, Array<{ seq: number | null, thread: number }>>()
      for (const c of d.collected()) {
        const l = byHost.get(c.src) ?? []
        l.push(c)
        byHost.set(c.src, l)
      }
      assert.equal(byHost.size, 40)
      const threads = new Set<number>()
      for (const [src, list] of byHost) {
        const seqs = list.map((x) => x.seq)
        assert.deepEqual(seqs, Array.from({ length: 150 }, (_, k) => k + 1), `host ${src} in order and complete`)
        assert.equal(new Set(list.map((x) => x.thread)).size, 1, `host ${src} stays on one worker`)
        threads.add(list[0]!.thread)
      }
      assert.equal(threads.size, 3, 'hosts are spread over all workers')
    } finally {
      await d.stop()
    }
  })

  test('shutdown delivers a message held behind a gap, with the gap counted', async () => {
    // A long gap timeout so that only the shutdown can release the held message.
    const d = await startTestDaemon({ overrides: { ncrx: { gapTimeoutMs: 60_000 } } })
    await sendDatagrams(d.port, [
      extendedRecord({ seq: 10, tsUsec: 1, text: 'first' }),
      extendedRecord({ seq: 12, tsUsec: 3, text: 'after the gap' })
    ], { from: '127.0.8.1' })
    await waitFor(() => d.collected().length >= 1, 5000, 'first record')
    await new Promise((resolve) => setTimeout(resolve, 100))
    assert.deepEqual(d.collected().map((c) => c.seq), [10], 'seq 12 is held waiting for 11')
    await d.stop()
    const got = d.collected()
    assert.deepEqual(got.map((c) => c.seq), [10, 12])
    assert.equal(got[1]!.lostBefore, 1)
    assert.ok(d.exited(), 'module exit() ran after the last message')
  })

  test('a held message is released by the gap timer with no further traffic', async () => {
    const d = await startTestDaemon()
    try {
      await sendDatagrams(d.port, [
        extendedRecord({ seq: 1, tsUsec: 1, text: 'a' }),
        extendedRecord({ seq: 3, tsUsec: 3, text: 'c' })
      ], { from: '127.0.8.2' })
      await waitFor(() => d.collected().length >= 2, 5000, 'the held record after the gap timeout')
      assert.deepEqual(d.collected().map((c) => [c.seq, c.lostBefore]), [[1, 0], [3, 1]])
    } finally {
      await d.stop()
    }
  })

  test('IPv6 senders are received and reported by their IPv6 address', async () => {
    const d = await startTestDaemon()
    try {
      await sendDatagrams(d.port, [extendedRecord({ seq: 5, tsUsec: 1, text: 'over v6' })], { from: '::1' })
      await waitFor(() => d.collected().length >= 1, 5000, 'v6 record')
      assert.equal(d.collected()[0]!.src, '::1')
      assert.equal(d.collected()[0]!.text, 'over v6')
    } finally {
      await d.stop()
    }
  })

  test('a module that throws is counted and the daemon keeps delivering', async () => {
    const d = await startTestDaemon({ modules: [join(fixturesDir, 'modules', 'handler-throws.mjs'), collectModule] })
    try {
      await sendDatagrams(d.port, ['ok 1', 'boom', 'ok 2'].map((t, k) => extendedRecord({ seq: k + 1, tsUsec: k, text: t })), { from: '127.0.8.3' })
      await waitFor(() => d.collected().length >= 3, 5000, 'three records')
      await waitFor(() => d.daemon.snapshots().some((s) => (s.snapshot?.sinks['module:handler-throws']?.failed ?? 0) === 1), 5000, 'failure counted')
    } finally {
      await d.stop()
    }
  })

  test('a module that fails to load or to init stops start-up with its path', async () => {
    for (const [file, code] of [['no-handler.mjs', 'NETCONSD_ERR_MODULE_LOAD'], ['init-throws.mjs', 'NETCONSD_ERR_MODULE_INIT']] as const) {
      const path = join(fixturesDir, 'modules', file)
      await assert.rejects(startTestDaemon({ modules: [path] }), (err: any) => {
        assert.equal(err.code, code)
        assert.equal(err.path, path)
        return true
      })
    }
  })
})
}
