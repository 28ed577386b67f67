import { test } from 'node:test'
import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { cliPath, repoRoot } from './helpers/paths.js'
import { collectModule } from './helpers/daemon.js'

test('start-up logs what was loaded (config, sinks, rules, include packs, modules) and the metrics endpoint once', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'netconsd-startup-'))
  const file = join(dir, 'c.json5')
  writeFileSync(file, JSON.stringify({
    version: 1,
    listen: { port: 0, address: '127.0.0.1' },
    metrics: { listen: '127.0.0.1:0' },
    include: [join(repoRoot, 'routes', 'kernel-classify.json5')],
    modules: [collectModule],
    sinks: { out: { type: 'stdout', format: 'json' } },
    rules: [{ id: 'all', to: ['out'] }]
  }))
  const child = spawn(process.execPath, [cliPath, '-c', file, '--log-format', 'json', '--receive-path', 'js'], { stdio: ['ignore', 'ignore', 'pipe'], env: { ...process.env, COLLECT_OUT: '/dev/null' } })
  let err = ''
  let sent = false
  child.stderr.on('data', (b: Buffer) => {
    err += b.toString()
    if (!sent && /"msg":"Listening\."/.test(err)) { sent = true; child.kill('SIGTERM') }
  })
  const code = await new Promise<number | null>((resolve) => child.on('close', resolve))
  assert.equal(code, 0, err)
  const lines = err.trim().split('\n').map((l) => JSON.parse(l) as Record<string, any>)
  const loaded = lines.find((l) => typeof l.msg === 'string' && l.msg.startsWith('Loaded '))
  assert.ok(loaded, err)
  assert.equal(loaded.config, file)
  assert.deepEqual(loaded.sinks, ['out (stdout)', 'module:collect-to-file (module)'])
  assert.ok(loaded.rules > 1, 'the pack\'s rules and the config\'s own')
  assert.deepEqual(loaded.include, [join(repoRoot, 'routes', 'kernel-classify.json5')])
  assert.deepEqual(loaded.modules, [collectModule])
  assert.equal(lines.filter((l) => l.msg === 'Metrics endpoint listening.').length, 1)
})
