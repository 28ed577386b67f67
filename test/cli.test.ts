import { test } from 'node:test'
import assert from 'node:assert/strict'
import { parseRunArgs } from '../src/cli.js'

test('netconsd flags map onto config overrides', () => {
  const a = parseRunArgs(['-w', '4', '-l', '2', '-b', '64', '-a', '10.1.2.3', '-u', '5140', '-g', '1000/60000', 'mod.mjs'])
  assert.ok(typeof a === 'object')
  assert.deepEqual(a.overrides, {
    listen: { listeners: 2, port: 5140, address: '10.1.2.3' },
    workers: { count: 4, batchSize: 64 },
    ncrx: { gcIntervalMs: 1000, gcAgeMs: 60000 }
  })
  assert.equal(a.modules.length, 1)
  assert.match(a.modules[0]!, /\/mod\.mjs$/)
  const p = parseRunArgs(['-p', '9999'])
  assert.ok(typeof p === 'object')
  assert.deepEqual(p.overrides.listen, { port: 9999 })
  assert.equal(parseRunArgs(['--help']), 'help')
})

test('bad flags are refused with NETCONSD_ERR_CLI_USAGE naming the flag', () => {
  const bad: Array<[string[], string]> = [
    [['-w', '0'], '-w'],
    [['-w', 'two'], '-w'],
    [['-w', '-3'], 'argv'],
    [['-u', '70000'], '-u/-p'],
    [['-g', '1000'], '-g'],
    [['-g', '5000/1000'], '-g'],
    [['-a', 'example.com'], '-a'],
    [['--receive-path', 'fast'], '--receive-path'],
    [['--bogus'], 'argv']
  ]
  for (const [argv, field] of bad) {
    assert.throws(() => parseRunArgs(argv), (err: any) => err.code === 'NETCONSD_ERR_CLI_USAGE' && err.field === field, argv.join(' '))
  }
})

test('the CLI binary: --help tells every flag, bad flags exit 2, check-config lists every problem', async () => {
  const { spawnSync } = await import('node:child_process')
  const { mkdtempSync, writeFileSync } = await import('node:fs')
  const { tmpdir } = await import('node:os')
  const { join } = await import('node:path')
  const { cliPath, repoRoot } = await import('./helpers/paths.js')
  const run = (...args: string[]): ReturnType<typeof spawnSync> => spawnSync(process.execPath, [cliPath, ...args], { encoding: 'utf8', cwd: repoRoot })
  const help = run('--help')
  assert.equal(help.status, 0)
  for (const flag of ['-w', '-l', '-b', '-a', '-u', '-p', '-g', '-c', '--receive-path', 'check-config', 'test-routes', 'replay', 'incidents']) {
    assert.ok(String(help.stdout).includes(flag), `--help mentions ${flag}`)
  }
  const bad = run('-w', '0')
  assert.equal(bad.status, 2)
  assert.match(String(bad.stderr), /-w expects a whole number/)
  assert.equal(run('check-config', 'config.example.json5').status, 0)
  const dir = mkdtempSync(join(tmpdir(), 'netconsd-cli-'))
  const file = join(dir, 'bad.json5')
  writeFileSync(file, "{ version: 1,\n  listen: { port: 'x' },\n  sinks: { out: { type: 'stdout' } },\n  rules: [ { id: 'r', to: ['outt'] } ] }\n")
  const checked = run('check-config', file)
  assert.equal(checked.status, 1)
  const out = String(checked.stdout) + String(checked.stderr)
  assert.match(out, /listen\.port/, 'names the wrong field')
  assert.match(out, /outt/, 'names the unknown sink')
  assert.match(out, /bad\.json5:2/, 'gives the line')
})

test('check-config health-checks the sinks: a dead OTLP peer fails it, a live one passes', async () => {
  const { spawn } = await import('node:child_process')
  const { mkdtempSync, writeFileSync } = await import('node:fs')
  const { tmpdir } = await import('node:os')
  const { join } = await import('node:path')
  const { cliPath } = await import('./helpers/paths.js')
  const { RecordingServer } = await import('./sinks/delivery/http-server.js')
  const peer = await RecordingServer.start()
  const dir = mkdtempSync(join(tmpdir(), 'netconsd-health-'))
  const file = join(dir, 'c.json5')
  // Async spawn: the recording server answers in this process while the CLI runs.
  const run = async (...args: string[]): Promise<{ code: number | null, out: string }> => await new Promise((resolve) => {
    const c = spawn(process.execPath, [cliPath, ...args], { stdio: ['ignore', 'pipe', 'pipe'] })
    let out = ''
    c.stdout.on('data', (d: Buffer) => { out += d.toString() })
    c.stderr.on('data', (d: Buffer) => { out += d.toString() })
    c.on('close', (code) => resolve({ code, out }))
  })
  try {
    writeFileSync(file, `{ version: 1, sinks: { o: { type: 'otlp', url: 'http://127.0.0.1:${peer.port}/v1/logs' } } }`)
    const ok = await run('check-config', file)
    assert.equal(ok.code, 0, ok.out)
    assert.match(ok.out, /sink o \(otlp\): healthy/)
  } finally {
    await peer.stop()
  }
  const dead = await run('check-config', file)
  assert.equal(dead.code, 1)
  assert.match(dead.out, /sink o \(otlp\): UNHEALTHY: .*ECONNREFUSED/)
  assert.equal((await run('check-config', file, '--no-health')).code, 0)
})
