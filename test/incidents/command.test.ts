/**
 * `netconsd incidents FILE...`: one JSON object per incident on stdout, per-file counts on
 * stderr, exit status 0 / 1 (unreadable file, others still processed) / 2 (usage).
 */
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { join } from 'node:path'
import { runIncidents } from '../../src/incidents/command.js'
import { kernelFixturesDir } from '../helpers/paths.js'

function io (): { io: Parameters<typeof runIncidents>[1], out: string[], err: string[] } {
  const out: string[] = []
  const err: string[] = []
  return { io: { stdout: { write: (s: string) => out.push(s) }, stderr: { write: (s: string) => err.push(s) } }, out, err }
}

test('prints one JSON line per incident with the documented keys', async () => {
  const t = io()
  const files = ['6.1-ext-oops', '6.12-legacy-panic', '6.1-ext-basic'].map((d) => join(kernelFixturesDir, d, 'payloads.jsonl'))
  assert.equal(await runIncidents(files, t.io), 0)
  const lines = t.out.join('').trimEnd().split('\n').map((l) => JSON.parse(l))
  assert.deepEqual(lines.map((l) => l.type), ['warn', 'warn', 'bug', 'oops', 'panic', 'panic'])
  for (const l of lines) {
    for (const k of ['type', 'title', 'host', 'function', 'frames', 'signature', 'signatureId', 'file', 'text']) assert.ok(k in l, k)
  }
  assert.equal(lines[3].function, 'knc_do_null+0x5/0x20 [knc_crash]')
  assert.equal(lines[5].file, files[1])
  assert.equal(lines[5].host, '::ffff:127.0.0.1')
  assert.match(t.err.join(''), /6\.1-ext-basic\/payloads\.jsonl: 431 datagrams, 0 incidents/)
})

test('events only with the option', async () => {
  const t = io()
  assert.equal(await runIncidents([join(kernelFixturesDir, '6.1-ext-panic', 'payloads.jsonl')], t.io, { events: true }), 0)
  const kinds = t.out.join('').trimEnd().split('\n').map((l) => JSON.parse(l)).map((l) => l.kind ?? l.type)
  assert.deepEqual(kinds, ['event', 'panic'])
})

test('an unreadable file: status 1, the others are still read; no files: status 2', async () => {
  const t = io()
  const ok = join(kernelFixturesDir, '6.1-ext-panic', 'payloads.jsonl')
  assert.equal(await runIncidents(['/nonexistent/capture.pcap', ok], t.io), 1)
  assert.match(t.err.join(''), /NETCONSD_ERR_CAPTURE_READ/)
  assert.equal(t.out.length, 1)
  const u = io()
  assert.equal(await runIncidents([], u.io), 2)
})
