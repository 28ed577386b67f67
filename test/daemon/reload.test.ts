/**
 * SIGHUP on the real CLI under traffic: a good config takes effect without losing or repeating a
 * record (ncrx state and the socket survive); a bad config is refused and the running one stays.
 */
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { once } from 'node:events'
import { cliPath } from '../helpers/paths.js'
import { waitFor } from '../helpers/daemon.js'
import { blast } from '../../src/blaster/blaster.js'

const configA = `{ version: 1, listen: { port: 0 },
  sinks: { out: { type: 'stdout', format: 'json' } },
  rules: [ { id: 'all', to: ['out'] } ] }`
const configB = `{ version: 1, listen: { port: 0 },
  sinks: { out: { type: 'stdout', format: 'json' } },
  rules: [ { id: 'tagged', set: { phase: 'b' }, to: ['out'] } ] }`
const configBad = `{ version: 1, listen: { port: 0 },
  sinks: { out: { type: 'stdout', format: 'json' } },
  rules: [ { id: 'broken', to: ['no-such-sink'] } ] }`

test('SIGHUP reloads a good config under traffic without loss and keeps the running one on a bad config', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'netconsd-reload-'))
  const file = join(dir, 'netconsd.json5')
  writeFileSync(file, configA)
  const child = spawn(process.execPath, [cliPath, '-c', file, '--log-format', 'json', '--receive-path', 'js'], { stdio: ['ignore', 'pipe', 'pipe'] })
  let stdout = ''
  let stderr = ''
  child.stdout.setEncoding('utf8').on('data', (s: string) => { stdout += s })
  child.stderr.setEncoding('utf8').on('data', (s: string) => { stderr += s })
  try {
    await waitFor(() => /"msg":"Listening\."/.test(stderr), 10_000, 'daemon listening')
    const port = Number(/"port":(\d+),"recvBufferBytes"/.exec(stderr)![1])
    // Complete lines only: the last piece may be a line the pipe has delivered only in part.
    const all = (): Array<Record<string, any>> => stdout.split('\n').slice(0, -1).filter((l) => l.startsWith('{')).map((l) => JSON.parse(l))
    // Log records only: lifecycle events (new_host) are routed too.
    const lines = (): Array<Record<string, any>> => all().filter((l) => l.kind === 'log')

    const traffic = blast({ hosts: 8, count: 400, rate: 2000, target: '127.0.0.1', port, size: 80 })
    await waitFor(() => lines().length > 200, 10_000, 'traffic before reload')
    writeFileSync(file, configB)
    child.kill('SIGHUP')
    await waitFor(() => lines().some((l) => l.attributes?.phase === 'b'), 10_000, 'records routed by the new config')
    writeFileSync(file, configBad)
    child.kill('SIGHUP')
    await waitFor(() => /Reload refused/.test(stderr), 10_000, 'bad config refused')
    const sent = await traffic
    await waitFor(() => lines().length >= sent.records, 10_000, 'all records')
    const after = lines().length
    child.kill('SIGTERM')
    const [code] = await once(child, 'exit')
    assert.equal(code, 0)
    assert.match(stderr, /no-such-sink/, 'the refusal names the unknown sink')

    const got = lines()
    assert.equal(all().filter((l) => l.kind === 'event' && l.event?.type === 'new_host').length, 8, 'one new_host event per host')
    assert.equal(got.length, sent.records, 'nothing lost or repeated across two reloads')
    assert.equal(after, sent.records)
    const byHost = new Map<string, number[]>()
    for (const l of got) byHost.set(l.address, [...(byHost.get(l.address) ?? []), l.seq])
    for (const [host, seqs] of byHost) assert.deepEqual(seqs, Array.from({ length: 400 }, (_, k) => k + 1), host)
    // The ncrx streams survived the reloads: only the first record of each host starts a stream.
    assert.equal(got.filter((l) => l.seqReset === true).length, 8)
    // Records after the refused reload still carry the good config's attribute.
    assert.equal(got[got.length - 1]!.attributes?.phase, 'b')
  } finally {
    if (child.exitCode === null) child.kill('SIGKILL')
  }
})

test('every SIGHUP evaluates the file as it was when the signal arrived, also behind a slow reload (issue 14, item 6)', async () => {
  const { RecordingServer } = await import('../sinks/delivery/http-server.js')
  const peer = await RecordingServer.start()
  peer.fallback = 'hang'
  const dir = mkdtempSync(join(tmpdir(), 'netconsd-reload-hup-'))
  const file = join(dir, 'netconsd.json5')
  // Changing a buffered sink's options closes the old instance before the new one opens its
  // directory; with a peer that never answers that takes the 5 s close deadline: a slow reload.
  const buffered = (batch: number): string => `{ version: 1, listen: { port: 0 },
    buffer: { dir: '${join(dir, 'buffer')}', sinks: { o: {} } },
    sinks: { o: { type: 'otlp', url: '${peer.url}/v1/logs', maxBatchRecords: ${batch} } },
    rules: [ { id: 'all', to: ['o'] } ] }`
  writeFileSync(file, buffered(10))
  const child = spawn(process.execPath, [cliPath, '-c', file, '--log-format', 'json', '--receive-path', 'js'], { stdio: ['ignore', 'pipe', 'pipe'] })
  let stderr = ''
  child.stderr.setEncoding('utf8').on('data', (s: string) => { stderr += s })
  try {
    await waitFor(() => /"msg":"Listening\."/.test(stderr), 10_000, 'daemon listening')
    const port = Number(/"port":(\d+),"recvBufferBytes"/.exec(stderr)![1])
    await blast({ hosts: 1, count: 20, rate: 1000, target: '127.0.0.1', port, size: 80 })
    writeFileSync(file, buffered(11))
    child.kill('SIGHUP') // slow: waits for the old instance's close
    await waitFor(() => /"sighup":1,"msg":"SIGHUP: reloading/.test(stderr), 10_000, 'first reload started')
    writeFileSync(file, configBad)
    child.kill('SIGHUP') // queued behind the first; must see the bad config
    await new Promise((resolve) => setTimeout(resolve, 500))
    writeFileSync(file, buffered(12))
    child.kill('SIGHUP')
    await waitFor(() => /"sighup":3,"msg":"Config reloaded/.test(stderr), 20_000, 'third reload')
    assert.match(stderr, /"sighup":2,.*Reload refused.*no-such-sink/, 'the config written between two signals was evaluated')
    assert.match(stderr, /"sighup":1,"msg":"Config reloaded/)
    child.kill('SIGTERM')
    await once(child, 'exit')
  } finally {
    if (child.exitCode === null) child.kill('SIGKILL')
    await peer.stop()
  }
})
