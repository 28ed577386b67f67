import { test } from 'node:test'
import assert from 'node:assert/strict'
import { mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { captureProgress } from '../../src/capture/progress.js'
import { runReplay } from '../../src/capture/replay.js'
import { runIncidents } from '../../src/incidents/command.js'
import { pino } from 'pino'

function bigCapture (n: number): string {
  const file = join(mkdtempSync(join(tmpdir(), 'netconsd-progress-')), 'cap.jsonl')
  const lines: string[] = []
  for (let i = 0; i < n; i++) lines.push(JSON.stringify({ i, t_ms: i, b64: Buffer.from(`6,${i},${i},-;line ${i}\n`).toString('base64') }))
  writeFileSync(file, lines.join('\n') + '\n')
  return file
}

function sink (isTTY: boolean): { stream: { isTTY: boolean, write: (s: string) => boolean }, text: () => string } {
  let s = ''
  return { stream: { isTTY, write: (x: string) => { s += x; return true } }, text: () => s }
}

test('progress: a line on a terminal, rewritten in place and erased at the end; nothing on a pipe', () => {
  const tty = sink(true)
  const p = captureProgress(tty.stream, '/nonexistent/cap.jsonl', 0)
  for (let i = 0; i < 10_000; i++) p.datagram()
  p.done()
  assert.match(tty.text(), /^\r\x1b\[Kcap\.jsonl: 4,096 datagrams, [\d.]+ s\r\x1b\[Kcap\.jsonl: 8,192 datagrams, [\d.]+ s\r\x1b\[K$/)
  const pipe = sink(false)
  const q = captureProgress(pipe.stream, '/nonexistent/cap.jsonl', 0)
  for (let i = 0; i < 10_000; i++) q.datagram()
  q.done()
  assert.equal(pipe.text(), '')
})

test('replay and incidents show progress on a terminal stderr and not on a pipe; the summary counts duplicates', async () => {
  const file = bigCapture(40_000)
  writeFileSync(file + '.dup.jsonl', [0, 0, 1].map((i) => JSON.stringify({ i, t_ms: i, b64: Buffer.from(`6,${i},${i},-;line ${i}\n`).toString('base64') })).join('\n') + '\n')
  for (const isTTY of [true, false]) {
    const out = sink(false); const err = sink(isTTY)
    assert.equal(await runReplay(file, { summaryOnly: true, logger: pino({ level: 'silent' }) }, { stdout: out.stream as never, stderr: err.stream as never, env: {} }), 0)
    const inc = sink(isTTY)
    assert.equal(await runIncidents([file], { stdout: sink(false).stream, stderr: inc.stream }), 0)
    if (isTTY) {
      // 40,000 datagrams take well over 250 ms to replay here; shown only if so, erased after.
      for (const t of [err.text(), inc.text()]) if (t.includes('datagrams,')) assert.match(t, /\r\x1b\[K$|\r\x1b\[K[^\r]*\n$/)
    } else {
      assert.doesNotMatch(err.text(), /\r/)
      assert.doesNotMatch(inc.text(), /\r/)
    }
  }
  const out = sink(false)
  assert.equal(await runReplay(file + '.dup.jsonl', { summaryOnly: true, logger: pino({ level: 'silent' }) }, { stdout: out.stream as never, stderr: sink(false).stream as never, env: {} }), 0)
  assert.match(out.text(), /duplicates=1/)
})
