import { test } from 'node:test'
import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { request } from 'node:http'
import fc from 'fast-check'
import { redactUrl, redactText, redactDeep } from '../src/redact.js'
import { readiness } from '../src/metrics/server.js'
import { cliPath } from './helpers/paths.js'
import { freeTcpPort, freeUdpPort } from './helpers/rsyslog.js'
import { sendDatagrams, waitFor } from './helpers/daemon.js'
import { RecordingServer } from './sinks/delivery/http-server.js'

const SECRETS = /PASSWORD|SECRET|HEADERTOKEN|user:/

test('redactUrl keeps origin + path only; redactText finds URLs in free text', () => {
  assert.equal(redactUrl('http://user:PASSWORD@127.0.0.1:4318/v1/logs?api_key=SECRET#frag'), 'http://127.0.0.1:4318/v1/logs')
  assert.equal(redactUrl('https://[::1]:8443/hook?token=SECRET'), 'https://[::1]:8443/hook')
  assert.equal(redactUrl('not a url'), '[redacted]')
  assert.equal(redactText('POST http://u:PASSWORD@h:1/p?k=SECRET failed: ECONNREFUSED.'), 'POST http://h:1/p failed: ECONNREFUSED.')
  assert.equal(redactText('no url here'), 'no url here')
  const err = redactDeep({ err: new TypeError('fetch http://u:PASSWORD@h/x?k=SECRET'), headers: { authorization: 'Bearer HEADERTOKEN' }, token: 'SECRET' }) as { err: Error, headers: Record<string, string>, token: string }
  assert.ok(err.err instanceof TypeError, 'errors keep their class for the pino serializer')
  assert.equal(err.err.message, 'fetch http://h/x')
  assert.deepEqual(err.headers, { authorization: '[redacted]' })
  assert.equal(err.token, '[redacted]')
  assert.deepEqual(readiness({ socketsBound: true, workers: [{ thread: 0, ready: true }], sinks: { o: { ok: false, message: 'http://user:PASSWORD@h/v1/logs?api_key=SECRET: ECONNREFUSED' } } }).reasons,
    ['sink o unhealthy: http://h/v1/logs: ECONNREFUSED'])
})

test('property: no userinfo or query survives redactText', () => {
  const secret = fc.stringMatching(/^[A-Za-z0-9]{6,12}$/).map((s) => `S3CR${s}`)
  fc.assert(fc.property(secret, secret, secret, fc.constantFrom('http', 'https', 'otlp+grpc'), fc.string({ maxLength: 20 }), (user, pass, key, scheme, before) => {
    const text = `${before} ${scheme}://${user}:${pass}@collector.example:4318/v1/logs?api_key=${key}&x=1 tail`
    const out = redactText(text)
    assert.ok(!out.includes(pass) && !out.includes(key) && !out.includes(user), out)
    assert.ok(out.includes('collector.example:4318/v1/logs'), out)
  }), { numRuns: 300 })
})

async function run (args: string[], opts: { until?: (out: string) => boolean, onStart?: (pid: number, out: () => string) => Promise<void> } = {}): Promise<{ code: number | null, out: string }> {
  return await new Promise((resolve) => {
    const c = spawn(process.execPath, [cliPath, ...args], { stdio: ['ignore', 'pipe', 'pipe'] })
    let out = ''
    c.stdout.on('data', (d: Buffer) => { out += d.toString() })
    c.stderr.on('data', (d: Buffer) => { out += d.toString() })
    c.on('close', (code) => resolve({ code, out }))
    if (opts.onStart !== undefined) {
      void waitFor(() => out.includes('Listening.'), 15_000, 'daemon start').then(async () => await opts.onStart!(c.pid!, () => out)).finally(() => c.kill('SIGTERM'))
    }
  })
}

function getText (port: number, path: string): Promise<string> {
  return new Promise((resolve, reject) => {
    request({ host: '127.0.0.1', port, path }, (res) => {
      let body = ''
      res.setEncoding('utf8')
      res.on('data', (c: string) => { body += c })
      res.on('end', () => resolve(`${res.statusCode ?? 0} ${body}`))
    }).on('error', reject).end()
  })
}

test('no secret of a sink URL or header reaches the daemon log, /readyz or check-config (issue 14, item 4)', async () => {
  const peer = await RecordingServer.start()
  peer.fallback = { status: 401 } // OTLP peer refuses: health and delivery errors quote the URL
  const dead = await freeTcpPort() // webhook peer down: connection errors
  const udp = await freeUdpPort()
  const mport = await freeTcpPort()
  const dir = mkdtempSync(join(tmpdir(), 'netconsd-redact-'))
  const file = join(dir, 'c.json5')
  const otlpUrl = `http://user:PASSWORD@127.0.0.1:${peer.port}/v1/logs?api_key=SECRET`
  const hookUrl = `http://user:PASSWORD@127.0.0.1:${dead}/hook?token=SECRET`
  const config = (withHook: boolean): string => `{
    version: 1,
    listen: { address: '127.0.0.1', port: ${udp} },
    metrics: { listen: '127.0.0.1:${mport}' },
    sinks: {
      o: { type: 'otlp', url: '${otlpUrl}', headers: { authorization: 'Bearer HEADERTOKEN' } },
      ${withHook ? `w: { type: 'webhook', url: '${hookUrl}', headers: { 'x-api-key': 'HEADERTOKEN' } },` : ''}
    },
    rules: [{ id: 'all', match: { level: '<=debug' }, to: ['o'${withHook ? ", 'w'" : ''}] }],
  }`
  try {
    writeFileSync(file, config(true))
    const check = await run(['check-config', file])
    assert.equal(check.code, 1, check.out)
    assert.match(check.out, /UNHEALTHY/)
    const bad = join(dir, 'bad.json5')
    writeFileSync(bad, `{ version: 1, sinks: { o: { type: 'otlp', url: 'ftp://user:PASSWORD@h/x?api_key=SECRET' } } }`)
    const checkBad = await run(['check-config', bad])
    assert.equal(checkBad.code, 1, checkBad.out)
    const startBad = await run(['-c', bad, '--log-format', 'json'])
    assert.equal(startBad.code, 1, startBad.out)

    let readyz = ''
    const daemon = await run(['-c', file, '--log-level', 'debug', '--log-format', 'json', '--receive-path', 'js'], {
      onStart: async (pid, out) => {
        await sendDatagrams(udp, Array.from({ length: 20 }, (_, i) => Buffer.from(`6,${i},${i * 1000},-;line ${i}\n`)), { target: '127.0.0.1' })
        await waitFor(() => peer.requests.length > 0, 10_000, 'a delivery attempt')
        await new Promise((resolve) => setTimeout(resolve, 1500))
        readyz = await getText(mport, '/readyz')
        writeFileSync(file, config(false)) // reload: the webhook sink is removed and closed
        process.kill(pid, 'SIGHUP')
        await waitFor(() => /Config reloaded/.test(out()), 15_000, 'the reload')
      }
    })
    assert.match(readyz, /^503 .*sink o unhealthy: http:\/\/127\.0\.0\.1:\d+\/v1\/logs answered HTTP 401/, readyz)
    for (const [what, out] of [['check-config', check.out], ['check-config (invalid URL)', checkBad.out], ['start-up with an invalid URL', startBad.out], ['daemon log', daemon.out], ['/readyz', readyz]] as const) {
      const hit = out.split('\n').find((l) => SECRETS.test(l))
      assert.equal(hit, undefined, `${what} shows a secret: ${hit ?? ''}`)
    }
    assert.match(daemon.out, /Config reloaded/)
    // The peer did get the credentials: redaction is about what is shown, not what is sent.
    assert.equal(peer.requests[0]!.headers.authorization, 'Bearer HEADERTOKEN')
  } finally {
    await peer.stop()
  }
})
