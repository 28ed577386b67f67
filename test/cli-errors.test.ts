/**
 * How the CLI ends: a closed pipe quietly with exit 0, an unknown flag as a usage error (exit 2),
 * an operator's problem (port in use) as one line without a stack.
 */
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { createSocket } from 'node:dgram'
import { join } from 'node:path'
import { mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { cliPath, kernelFixturesDir, repoRoot } from './helpers/paths.js'

const capture = join(kernelFixturesDir, '6.12-ext-panic', 'payloads.jsonl')

// `| head -c 1`: the reader takes one byte and leaves; pipefail reports netconsd's own status.
function throughHead (args: string[]): { status: number | null, stderr: string } {
  const quoted = args.map((a) => `'${a}'`).join(' ')
  const err = join(mkdtempSync(join(tmpdir(), 'netconsd-head-')), 'err.txt')
  const r = spawnSync('bash', ['-c', `set -o pipefail; '${process.execPath}' '${cliPath}' ${quoted} 2>'${err}' | head -c 1 >/dev/null; s=$?; cat '${err}' >&2; exit $s`], { cwd: repoRoot, encoding: 'utf8' })
  return { status: r.status, stderr: r.stderr }
}

for (const args of [['check-config', 'config.example.json5', '--no-health'], ['replay', capture], ['incidents', capture]]) {
  test(`netconsd ${args[0]!} … | head ends quietly with exit 0`, () => {
    const r = throughHead(args)
    assert.doesNotMatch(r.stderr, /EPIPE|\n\s+at /)
    assert.equal(r.status, 0, r.stderr)
  })
}

for (const cmd of [['replay', capture, '--bogus'], ['incidents', '--bogus', capture], ['check-config', 'config.example.json5', '--bogus'], ['--bogus']]) {
  test(`netconsd ${cmd.join(' ')}: usage error, exit 2, no stack`, () => {
    const r = spawnSync(process.execPath, [cliPath, ...cmd], { cwd: repoRoot, encoding: 'utf8' })
    assert.equal(r.status, 2, r.stderr)
    assert.match(r.stderr, /^netconsd: .*--bogus/)
    assert.doesNotMatch(r.stderr, /\n\s+at /)
  })
}

test('port in use: one clear line naming the port, exit 1, no stack', async (t) => {
  const sock = createSocket('udp6')
  await new Promise<void>((resolve) => sock.bind(0, '::1', resolve))
  t.after(() => sock.close())
  const port = sock.address().port
  const r = spawnSync(process.execPath, [cliPath, '-a', '::1', '-u', String(port), '--receive-path', 'js', '--log-format', 'json'], { encoding: 'utf8', timeout: 20_000 })
  assert.equal(r.status, 1)
  const lines = r.stderr.trim().split('\n').map((l) => JSON.parse(l) as { level: number, msg: string, err?: unknown, code?: string })
  const fatal = lines.filter((l) => l.level >= 60)
  assert.equal(fatal.length, 1)
  assert.match(fatal[0]!.msg, new RegExp(String(port)))
  assert.equal(fatal[0]!.err, undefined, 'no stack for an operator error')
  assert.equal(fatal[0]!.code, 'NETCONSD_ERR_INGEST_BIND')
})

test('--receive-path native without the addon: NETCONSD_ERR_NATIVE_UNAVAILABLE, as documented', () => {
  const r = spawnSync(process.execPath, [cliPath, '-u', '0', '--receive-path', 'native', '--log-format', 'json'], {
    encoding: 'utf8', timeout: 20_000, env: { ...process.env, NETCONSD_NATIVE_ADDON: '/nonexistent/netconsd_recv.node' }
  })
  assert.equal(r.status, 1)
  const fatal = r.stderr.trim().split('\n').map((l) => JSON.parse(l) as { level: number, code?: string }).filter((l) => l.level >= 60)
  assert.equal(fatal[0]?.code, 'NETCONSD_ERR_NATIVE_UNAVAILABLE')
})

test('-w and -b ranges: the schema\'s, refused on the command line as usage errors (exit 2)', async () => {
  const { readFileSync } = await import('node:fs')
  const schema = JSON.parse(readFileSync(join(repoRoot, 'schemas', 'config.schema.json'), 'utf8'))
  const w = schema.properties.workers.properties
  assert.equal(w.count.maximum, 256)
  assert.equal(w.batchSize.maximum, 4096, 'the native path\'s recvmmsg limit')
  for (const args of [['-w', '257'], ['-b', '4097']]) {
    const r = spawnSync(process.execPath, [cliPath, ...args], { encoding: 'utf8' })
    assert.equal(r.status, 2, r.stderr)
    assert.doesNotMatch(r.stderr, /\n\s+at /)
  }
  const readme = readFileSync(join(repoRoot, 'README.md'), 'utf8')
  assert.match(readme, /Worker threads \(1\.\.256\)/)
  assert.match(readme, /vector length\), 1\.\.4096/)
})
