/**
 * Nothing lost: a worker that dies is restarted while the others carry on, and records held in
 * a sink's durable disk buffer survive a SIGKILL of the daemon and are delivered after restart.
 */
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { join } from 'node:path'
import { spawn, type ChildProcess } from 'node:child_process'
import { mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { once } from 'node:events'
import { startTestDaemon, sendDatagrams, waitFor, collectModule } from '../helpers/daemon.js'
import { extendedRecord } from '../../src/blaster/messages.js'
import { blast } from '../../src/blaster/blaster.js'
import { addressHash } from '../../src/ingest/hash.js'
import { parseAddress } from '../../src/ingest/batch.js'
import { cliPath, fixturesDir } from '../helpers/paths.js'
import { RecordingServer } from '../sinks/delivery/http-server.js'
import { decodeProtobuf, allLogs } from '../sinks/otlp/otlp-decode.js'

function workerOf (addr: string, workers: number): number {
  const b = new Uint8Array(16)
  parseAddress(addr, b, 0)
  return addressHash(b) % workers
}

test('a crashed worker is restarted; the other worker is not disturbed', async () => {
  // Two hosts that hash to different workers.
  const a = '127.0.5.1'
  let b = '127.0.5.2'
  for (let i = 2; workerOf(b, 2) === workerOf(a, 2); i++) b = `127.0.5.${i}`
  const d = await startTestDaemon({ modules: [join(fixturesDir, 'modules', 'crash-worker.mjs'), collectModule], receivePath: 'js' })
  try {
    await sendDatagrams(d.port, [extendedRecord({ seq: 1, tsUsec: 1, text: 'a1' })], { from: a })
    await sendDatagrams(d.port, [extendedRecord({ seq: 1, tsUsec: 1, text: 'b1' })], { from: b })
    await waitFor(() => d.collected().length >= 2, 5000, 'first records')
    await sendDatagrams(d.port, [extendedRecord({ seq: 2, tsUsec: 2, text: 'crash now' })], { from: a })
    const crashed = workerOf(a, 2)
    await waitFor(() => d.daemon.snapshots().some((s) => s.thread === crashed && !s.ready), 5000, 'worker down')
    await waitFor(() => d.daemon.snapshots().every((s) => s.ready), 10_000, 'worker restarted')
    await sendDatagrams(d.port, [extendedRecord({ seq: 3, tsUsec: 3, text: 'a3' })], { from: a })
    await sendDatagrams(d.port, [extendedRecord({ seq: 2, tsUsec: 2, text: 'b2' })], { from: b })
    await waitFor(() => d.collected().some((c) => c.text === 'a3') && d.collected().some((c) => c.text === 'b2'), 5000, 'records after restart')
    const a3 = d.collected().find((c) => c.text === 'a3')!
    assert.equal(a3.seqReset, true, 'the restarted worker starts a new stream for the host')
    const b2 = d.collected().find((c) => c.text === 'b2')!
    assert.equal(b2.seqReset, false, 'the other worker kept its host state')
    assert.equal(b2.lostBefore, 0)
  } finally {
    await d.stop()
  }
})

async function startCli (config: string): Promise<{ child: ChildProcess, port: number, metricsPort: number, stderr: () => string }> {
  const child = spawn(process.execPath, [cliPath, '-c', config, '--log-format', 'json', '--receive-path', 'js'], { stdio: ['ignore', 'ignore', 'pipe'] })
  let err = ''
  child.stderr.setEncoding('utf8').on('data', (s: string) => { err += s })
  await waitFor(() => /"msg":"Listening\."/.test(err) || child.exitCode !== null, 10_000, 'daemon listening')
  assert.equal(child.exitCode, null, err)
  const port = Number(/"port":(\d+),"recvBufferBytes"/.exec(err)![1])
  const metricsPort = Number(/"listen":"[^"]*:(\d+)","msg":"Metrics endpoint listening\."/.exec(err)![1])
  return { child, port, metricsPort, stderr: () => err }
}

test('records in a disk buffer survive SIGKILL and are delivered once after restart', async () => {
  // A port with nobody listening: the OTLP peer is down while the daemon takes traffic.
  const probe = await RecordingServer.start()
  const peerPort = probe.port
  await probe.stop()
  const dir = mkdtempSync(join(tmpdir(), 'netconsd-buffer-'))
  const config = join(dir, 'netconsd.json5')
  writeFileSync(config, `{
    version: 1,
    listen: { port: 0 },
    metrics: { listen: '127.0.0.1:0' },
    sinks: { otlp: { type: 'otlp', url: 'http://127.0.0.1:${peerPort}/v1/logs', flushIntervalMs: 50, initialBackoffMs: 50, maxBackoffMs: 200 } },
    rules: [ { id: 'logs', match: { kind: 'log' }, to: ['otlp'] } ],
    buffer: { dir: '${join(dir, 'buffer')}', sinks: { otlp: { fsync: 'always' } } },
  }`)
  let d = await startCli(config)
  const sent = await blast({ hosts: 4, count: 250, rate: 5000, target: '127.0.0.1', port: d.port, size: 80 })
  const buffered = async (): Promise<number> => {
    const text = await (await fetch(`http://127.0.0.1:${d.metricsPort}/metrics`)).text()
    const line = text.split('\n').find((l) => l.startsWith('netconsd_sink_buffer_records{sink="otlp"}'))
    return line === undefined ? 0 : Number(line.split(' ').pop())
  }
  const deadline = Date.now() + 15_000
  while (await buffered() < sent.records && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 100))
  assert.equal(await buffered(), sent.records, 'every record is on disk before the kill')
  d.child.kill('SIGKILL')
  await once(d.child, 'exit')

  const peer = await RecordingServer.start(peerPort)
  try {
    d = await startCli(config)
    const logs = (): ReturnType<typeof allLogs> => peer.requests.flatMap((r) => allLogs(decodeProtobuf(r.body)))
    await waitFor(() => logs().length >= sent.records, 20_000, `${sent.records} records at the peer`)
    await new Promise((resolve) => setTimeout(resolve, 300))
    const got = logs()
    assert.equal(got.length, sent.records, 'each record delivered exactly once')
    const keys = new Set(got.map((l) => `${String(l.resource['host.name'])}/${String(l.attributes['netconsole.seq'])}`))
    assert.equal(keys.size, sent.records, 'no duplicates')
    d.child.kill('SIGTERM')
    const [code] = await once(d.child, 'exit')
    assert.equal(code, 0)
  } finally {
    if (d.child.exitCode === null) d.child.kill('SIGKILL')
    await peer.stop()
  }
})
