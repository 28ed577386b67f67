import { test } from 'node:test'
import assert from 'node:assert/strict'
import { mkdtemp, writeFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { PassThrough } from 'node:stream'
import { runCheckConfig, runTestRoutes } from '../../src/config/check.js'
import { fixturesDir, repoRoot } from '../helpers/paths.js'

function io (): { io: { stdout: PassThrough, stderr: PassThrough, env: NodeJS.ProcessEnv }, out: () => string, err: () => string } {
  const stdout = new PassThrough(); const stderr = new PassThrough()
  let o = ''; let e = ''
  stdout.on('data', (d: Buffer) => { o += d.toString() })
  stderr.on('data', (d: Buffer) => { e += d.toString() })
  return { io: { stdout, stderr, env: {} }, out: () => o, err: () => e }
}

test('check-config: the example is valid and its route cases pass (exit 0)', async () => {
  const t = io()
  assert.equal(await runCheckConfig(join(repoRoot, 'config.example.json5'), t.io), 0, t.out() + t.err())
  assert.match(t.out(), /valid\./)
  assert.match(t.out(), /Route cases: \d+ passed, 0 failed/)
})

test('check-config: an invalid config prints every problem with file:line:col (exit 1)', async () => {
  const t = io()
  assert.equal(await runCheckConfig(join(fixturesDir, 'configs', 'invalid', 'bad-level.json5'), t.io), 1)
  assert.match(t.err(), /bad-level\.json5:6:\d+: rules\[0\]\.match\.level\[1\]: unknown level "warnx"/)
  assert.match(t.err(), /bad-level\.json5:7:\d+: rules\[1\]\.match\.facility/)
})

test('check-config: failing route cases listed by the config make it fail', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'netconsd-check-'))
  try {
    await writeFile(join(dir, 'c.json5'), "{ version: 1, sinks: { a: { type: 'stdout' } }, rules: [{ id: 'r', match: { level: 'err' }, to: ['a'] }], tests: ['*.cases.json5'] }")
    await writeFile(join(dir, 'c.cases.json5'), "{ cases: [{ name: 'info goes to a', input: { level: 'info' }, expect: ['a'] }] }")
    const t = io()
    assert.equal(await runCheckConfig(join(dir, 'c.json5'), t.io), 1)
    assert.match(t.out(), /FAIL .*info goes to a/)
    assert.match(t.out(), /Route cases: 0 passed, 1 failed/)
  } finally {
    await rm(dir, { recursive: true, force: true })
  }
})

test('test-routes: runs the given files; exit 1 when none given or any fails', async () => {
  const t = io()
  assert.equal(await runTestRoutes([join(fixturesDir, 'routes', 'matchers.cases.json5'), join(repoRoot, 'routes', 'kernel-classify.cases.json5')], t.io), 0, t.out() + t.err())
  assert.match(t.out(), /\d+ passed, 0 failed/)
  const t2 = io()
  assert.equal(await runTestRoutes([], t2.io), 1)
  const t3 = io()
  assert.equal(await runTestRoutes([join(fixturesDir, 'routes', 'nope.cases.json5')], t3.io), 1)
  assert.match(t3.err(), /does not exist/)
})

test('check-config does not create the directories a file sink will write to', async () => {
  const { mkdtempSync, writeFileSync, existsSync } = await import('node:fs')
  const { tmpdir } = await import('node:os')
  const { join } = await import('node:path')
  const { spawnSync } = await import('node:child_process')
  const { cliPath } = await import('../helpers/paths.js')
  const dir = mkdtempSync(join(tmpdir(), 'netconsd-check-'))
  writeFileSync(join(dir, 'c.json5'), JSON.stringify({ version: 1, sinks: { f: { type: 'file', path: join(dir, 'logs', 'deep', 'a.log') } }, rules: [{ id: 'a', to: ['f'] }] }))
  const r = spawnSync(process.execPath, [cliPath, 'check-config', join(dir, 'c.json5')], { encoding: 'utf8' })
  assert.equal(r.status, 0, r.stdout + r.stderr)
  assert.match(r.stdout, /sink f \(file\): healthy/)
  assert.equal(existsSync(join(dir, 'logs')), false)
})
