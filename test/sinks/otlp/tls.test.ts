/**
 * OTLP (and the shared HTTP client) over TLS against a local https server with a throwaway
 * self-signed certificate: trusted through `tls.caFile`, refused without it, accepted with
 * `insecureSkipVerify`. Skipped when openssl is not installed.
 */
import { describe, it, before, after } from 'node:test'
import assert from 'node:assert/strict'
import https from 'node:https'
import { execFileSync } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { gunzipSync } from 'node:zlib'
import type { AddressInfo } from 'node:net'
import { createOtlpSink } from '../../../src/sinks/otlp/index.js'
import { createWebhookSink } from '../../../src/sinks/webhook/index.js'
import { allLogs, decodeProtobuf } from './otlp-decode.js'
import { makeTestRecord, testContext } from '../conformance.js'

let haveOpenssl = true
try { execFileSync('openssl', ['version'], { stdio: 'ignore' }) } catch { haveOpenssl = false }

describe('OTLP over TLS', { skip: !haveOpenssl && 'openssl not installed' }, () => {
  let dir: string
  let server: https.Server
  let url: string
  const bodies: string[] = []

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'netconsd-tls-'))
    execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', join(dir, 'key.pem'), '-out', join(dir, 'cert.pem'),
      '-days', '1', '-subj', '/CN=localhost', '-addext', 'subjectAltName=IP:127.0.0.1,DNS:localhost'], { stdio: 'ignore' })
    server = https.createServer({ key: readFileSync(join(dir, 'key.pem')), cert: readFileSync(join(dir, 'cert.pem')) }, (req, res) => {
      const chunks: Buffer[] = []
      req.on('data', (c: Buffer) => chunks.push(c))
      req.on('end', () => {
        const body = Buffer.concat(chunks)
        for (const l of allLogs(decodeProtobuf(req.headers['content-encoding'] === 'gzip' ? gunzipSync(body) : body))) bodies.push(String(l.body))
        res.writeHead(200).end()
      })
    })
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
    url = `https://127.0.0.1:${(server.address() as AddressInfo).port}/v1/logs`
  })
  after(async () => {
    server.closeAllConnections()
    await new Promise((resolve) => server.close(resolve))
    rmSync(dir, { recursive: true, force: true })
  })

  it('trusts the server through tls.caFile (relative to the config dir)', async () => {
    bodies.length = 0
    const s = createOtlpSink({ url, tls: { caFile: 'cert.pem' }, flushIntervalMs: 10 }, testContext({ configDir: dir }))
    assert.deepEqual(await s.health(), { ok: true })
    s.write(makeTestRecord({ text: 'over tls' }))
    await s.close()
    assert.deepEqual(bodies, ['over tls'])
    assert.equal(s.stats().sent, 1)
  })

  it('refuses an untrusted certificate (retried, then dropped when retries are off)', async () => {
    bodies.length = 0
    const s = createOtlpSink({ url, maxRetries: 0, flushIntervalMs: 10 }, testContext())
    assert.equal((await s.health()).ok, false)
    s.write(makeTestRecord({ text: 'nope' }))
    await s.close()
    assert.deepEqual(bodies, [])
    assert.equal(s.stats().dropped.retries_exhausted, 1)
    assert.match(s.stats().lastError ?? '', /self.signed|certificate/i)
  })

  it('insecureSkipVerify accepts it', async () => {
    bodies.length = 0
    const s = createOtlpSink({ url, tls: { insecureSkipVerify: true }, flushIntervalMs: 10 }, testContext())
    s.write(makeTestRecord({ text: 'insecure' }))
    await s.close()
    assert.deepEqual(bodies, ['insecure'])
  })

  it('webhook health() does the TLS handshake with the configured trust', async () => {
    const trusted = createWebhookSink({ url, tls: { caFile: join(dir, 'cert.pem') } }, testContext())
    assert.deepEqual(await trusted.health(), { ok: true })
    const untrusted = createWebhookSink({ url }, testContext())
    assert.equal((await untrusted.health()).ok, false)
    await trusted.close()
    await untrusted.close()
  })
})
