import { test } from 'node:test'
import assert from 'node:assert/strict'
import { readdirSync } from 'node:fs'
import { mkdtemp, writeFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { PassThrough } from 'node:stream'
import { pino } from 'pino'
import { runReplay } from '../../src/capture/replay.js'
import { kernelFixturesDir } from '../helpers/paths.js'

function io (): { io: { stdout: PassThrough, stderr: PassThrough, env: NodeJS.ProcessEnv }, out: () => string, err: () => string } {
  const stdout = new PassThrough(); const stderr = new PassThrough()
  let o = ''; let e = ''
  stdout.on('data', (d: Buffer) => { o += d.toString() })
  stderr.on('data', (d: Buffer) => { e += d.toString() })
  return { io: { stdout, stderr, env: {} }, out: () => o, err: () => e }
}

const logger = pino({ level: 'silent' })

test('replay of every shared kernel capture: every datagram accounted for, routed by the built-in config', async () => {
  const dirs = readdirSync(kernelFixturesDir).filter((d) => !d.endsWith('.md')).sort()
  assert.ok(dirs.length >= 10)
  for (const d of dirs) {
    const t = io()
    const code = await runReplay(join(kernelFixturesDir, d, 'payloads.jsonl'), { summaryOnly: true, logger }, t.io)
    assert.equal(code, 0, `${d}: ${t.err()}`)
    const m = /(\d+) datagrams → (\d+) records, (\d+) incidents, (\d+) events/.exec(t.out())
    assert.ok(m !== null, t.out())
    assert.ok(Number(m[2]) > 0, `${d}: records`)
    // built-in rule `all` sends everything to stdout; nothing unmatched, nothing dropped
    assert.match(t.out(), /_unmatched=0 dropped=0 duplicates=\d+/)
    if (d.includes('panic')) assert.ok(Number(m[3]) >= 1, `${d}: a panic capture yields an incident`)
  }
})

test('replay prints matched rules and destinations per record, with a routing config', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'netconsd-replay-'))
  try {
    const cfg = join(dir, 'c.json5')
    await writeFile(cfg, `{ version: 1, sinks: { pager: { type: 'stdout' }, archive: { type: 'stdout' } },
      rules: [
        { id: 'noise', match: { text: { startsWith: 'knc:' } }, drop: true },
        { id: 'panic', match: { any: [{ incident: 'panic' }, { level: '<=emerg' }] }, to: ['pager'] },
        { id: 'kern', match: { kind: 'log', facility: 'kern', level: '<=info' }, to: ['archive'] },
      ] }`)
    const t = io()
    const code = await runReplay(join(kernelFixturesDir, '6.12-ext-panic', 'payloads.jsonl'), { config: cfg, logger }, t.io)
    assert.equal(code, 0, t.err())
    const out = t.out()
    assert.match(out, /incident:panic .*rules=\[panic\] → \[pager\]/)
    assert.match(out, /kern\.emerg #\d+ .*"Kernel panic - not syncing.*rules=\[panic, kern\] → \[pager, archive\]/)
    assert.match(out, /knc: panic scenario.*rules=\[noise\] → DROPPED/)
    assert.match(out, /rules: noise=[1-9]\d* panic=\d+ kern=\d+/)
    assert.match(out, /dry run: nothing sent/)
  } finally {
    await rm(dir, { recursive: true, force: true })
  }
})

test('replay --send delivers through the sink registry (module sink) and closes sinks', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'netconsd-replay-'))
  try {
    const outFile = join(dir, 'got.txt')
    await writeFile(join(dir, 'mod.mjs'), `import { appendFileSync } from 'node:fs'
export function handler (thread, src, buf, msg) { appendFileSync(${JSON.stringify(outFile)}, (msg ?? buf).text + '\\n') }
export function exit () { appendFileSync(${JSON.stringify(outFile)}, 'EXIT\\n') }`)
    const cfg = join(dir, 'c.json5')
    await writeFile(cfg, "{ version: 1, sinks: { m: { type: 'module', path: 'mod.mjs' } }, rules: [{ id: 'hello', match: { text: 'Linux version' }, to: ['m'] }] }")
    const t = io()
    const code = await runReplay(join(kernelFixturesDir, '6.12-ext-basic', 'payloads.jsonl'), { config: cfg, send: true, logger }, t.io)
    assert.equal(code, 0, t.err())
    const { readFile } = await import('node:fs/promises')
    const got = (await readFile(outFile, 'utf8')).trim().split('\n')
    assert.ok(got.length >= 2)
    assert.ok(got[0]!.startsWith('Linux version 6.12'))
    assert.equal(got.at(-1), 'EXIT')
    assert.match(t.err(), /rules=\[hello\] → \[m\]/) // with --send the trace goes to stderr
    assert.equal(t.out(), '')
  } finally {
    await rm(dir, { recursive: true, force: true })
  }
})

test('replay with an invalid config or a missing capture returns 1 with the reason', async () => {
  const t = io()
  assert.equal(await runReplay(join(kernelFixturesDir, '6.12-ext-basic', 'payloads.jsonl'), { config: '/nonexistent/c.json5', logger }, t.io), 1)
  assert.match(t.err(), /does not exist/)
  const t2 = io()
  assert.equal(await runReplay('/nonexistent/capture.pcap', { logger }, t2.io), 1)
  assert.match(t2.err(), /Cannot open capture/)
})
