import { test } from 'node:test'
import assert from 'node:assert/strict'
import { readdirSync, readFileSync } from 'node:fs'
import { mkdtemp, writeFile, rm, mkdir } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { loadConfig, formatConfigErrors, reloadConfig, ruleOrigin } from '../../src/config/load.js'
import type { ConfigIssue } from '../../src/config/load.js'
import { fixturesDir } from '../helpers/paths.js'

const invalidDir = join(fixturesDir, 'configs', 'invalid')

async function withTmp (fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'netconsd-cfg-'))
  try { await fn(dir) } finally { await rm(dir, { recursive: true, force: true }) }
}

async function loadErr (opts: Parameters<typeof loadConfig>[0]): Promise<{ code: string, errors: ConfigIssue[] }> {
  try {
    await loadConfig(opts)
  } catch (err) {
    return err as { code: string, errors: ConfigIssue[] }
  }
  assert.fail('expected the config to be rejected')
}

test('built-in default: netconsd defaults, one stdout sink, rule all → stdout, frozen', async () => {
  const c = await loadConfig({ env: {} })
  assert.equal(c.file, '<built-in>')
  assert.deepEqual(c.listen, { address: '::', port: 1514, listeners: 1, recvBufferBytes: 8 * 1024 * 1024, receiveRingBytes: 4 * 1024 * 1024, receivePath: 'auto' })
  assert.deepEqual(c.workers, { count: 2, batchSize: 512 })
  assert.deepEqual(c.ncrx, {
    slots: 512, gapTimeoutMs: 200, retxStride: 256, oosThreshold: 19, oosWindowMs: 5000, oosTimeoutMs: 200,
    maxMessageBytes: 65536, maxHosts: 32768, maxHeldBytesPerHost: 1024 * 1024, maxHeldBytes: 16 * 1024 * 1024, gcIntervalMs: 0, gcAgeMs: 0
  })
  assert.deepEqual(Object.keys(c.sinks), ['stdout'])
  assert.deepEqual(c.rules.map((r) => [r.id, r.to]), [['all', ['stdout']]])
  assert.deepEqual(c.unmatched.to, [])
  assert.equal(c.hosts.reverseDns.enabled, false)
  assert.ok(Object.isFrozen(c) && Object.isFrozen(c.listen) && Object.isFrozen(c.rules[0]))
})

test('every invalid fixture fails with its expected code and exactly its expected paths', async () => {
  const files = readdirSync(invalidDir).filter((f) => f.endsWith('.json5')).sort()
  assert.ok(files.length >= 15)
  for (const f of files) {
    const head = readFileSync(join(invalidDir, f), 'utf8').split('\n')[0]!
    const m = /^\/\/ expect: (\S+) (.+)$/.exec(head)
    assert.ok(m !== null, `${f}: first line must be "// expect: CODE path | path"`)
    const err = await loadErr({ file: join(invalidDir, f), env: {} })
    assert.equal(err.code, m[1], `${f}: ${formatConfigErrors(err)}`)
    const want = m[2]!.split('|').map((s) => s.trim()).sort()
    assert.deepEqual(err.errors.map((e) => e.path).sort(), want, `${f}: ${formatConfigErrors(err)}`)
    for (const e of err.errors) {
      assert.ok(e.file.endsWith('.json5'), `${f}: issue names its file`)
      assert.ok(typeof e.line === 'number' && typeof e.column === 'number', `${f}: ${e.path} has line:col`)
      assert.ok(e.message.length > 10)
    }
  }
})

test('error positions point at the offending value; messages list what exists', async () => {
  const err = await loadErr({ file: join(invalidDir, 'unknown-sink.json5'), env: {} })
  const [issue] = err.errors
  assert.equal(issue!.line, 5)
  assert.equal(issue!.column, 37)
  assert.match(issue!.message, /"pagr".*did you mean "pager".*declared sinks: pager, stdout/)
  const text = formatConfigErrors(err)
  assert.match(text, /unknown-sink\.json5:5:37: rules\[0\]\.to\[1\]: /)
})

test('env substitution: ${NAME}, ${NAME:-default}, $${literal}, only in values', async () => {
  await withTmp(async (dir) => {
    const file = join(dir, 'c.json5')
    await writeFile(file, `{ version: 1, listen: { address: '\${ADDR}' }, sinks: { s: { type: 'stdout', format: '\${FMT:-json}' } },
      rules: [{ id: 'r', match: { text: '$\${NOT_A_VAR}' }, to: ['s'] }] }`)
    const c = await loadConfig({ file, env: { ADDR: '127.0.0.1' } })
    assert.equal(c.listen.address, '127.0.0.1')
    assert.equal(c.sinks.s!.format, 'json')
    assert.equal(c.rules[0]!.match!.text, '${NOT_A_VAR}')
  })
})

test('CLI overrides win over the file and are validated; modules are appended', async () => {
  await withTmp(async (dir) => {
    const file = join(dir, 'c.json5')
    await writeFile(join(dir, 'm.mjs'), 'export function handler () {}\n')
    await writeFile(file, "{ version: 1, listen: { port: 6666 }, modules: ['m.mjs'] }")
    const c = await loadConfig({ file, env: {}, overrides: { listen: { port: 7777 }, workers: { count: 4 }, modules: [join(dir, 'm.mjs')] } })
    assert.equal(c.listen.port, 7777)
    assert.equal(c.listen.address, '::')
    assert.equal(c.workers.count, 4)
    assert.deepEqual(c.modules, [join(dir, 'm.mjs'), join(dir, 'm.mjs')])
    assert.deepEqual(c.moduleSinks, ['module:m', 'module:m-2'])
    assert.deepEqual(c.sinks['module:m'], { type: 'module', path: join(dir, 'm.mjs') })
    // no rules, no include: one rule to every declared sink except module taps (they get everything anyway)
    assert.deepEqual(c.rules, [])
    const bad = await loadErr({ file, env: {}, overrides: { listen: { port: 70000 } } })
    assert.deepEqual(bad.errors.map((e) => e.path), ['listen.port'])
  })
})

test('include: globs relative to the config, packs first in file-name order, cases files skipped, origins kept', async () => {
  await withTmp(async (dir) => {
    await mkdir(join(dir, 'routes'))
    await writeFile(join(dir, 'routes', 'b.json5'), "{ rules: [{ id: 'b1', to: ['s'] }] }")
    await writeFile(join(dir, 'routes', 'a.json5'), "{ version: 1, rules: [{ id: 'a1', set: { x: 'y' } }, { id: 'a2', to: ['s'] }] }")
    await writeFile(join(dir, 'routes', 'a.cases.json5'), "{ cases: [{ name: 'x', input: {}, expect: [] }] }")
    const file = join(dir, 'c.json5')
    await writeFile(file, "{\n  version: 1,\n  sinks: { s: { type: 'stdout' } },\n  include: ['routes/*.json5'],\n  rules: [{ id: 'own', to: ['s'] }],\n}\n")
    const c = await loadConfig({ file, env: {} })
    assert.deepEqual(c.rules.map((r) => r.id), ['a1', 'a2', 'b1', 'own'])
    assert.deepEqual(ruleOrigin(c.rules[1]!), { file: join(dir, 'routes', 'a.json5'), line: 1, column: 54 })
    assert.equal(ruleOrigin(c.rules[3]!)!.file, file)
    assert.equal(ruleOrigin(c.rules[3]!)!.line, 5)
  })
})

test('config of another major version is refused before anything else', async () => {
  const err = await loadErr({ file: join(invalidDir, 'version-2.json5'), env: {} })
  assert.equal(err.code, 'NETCONSD_ERR_CONFIG_VERSION')
  assert.equal((err as unknown as { found: unknown }).found, 2)
})

test('unreadable file: NETCONSD_ERR_CONFIG_READ naming the file', async () => {
  const err = await loadErr({ file: join(invalidDir, 'does-not-exist.json5'), env: {} })
  assert.equal(err.code, 'NETCONSD_ERR_CONFIG_READ')
  assert.equal(err.errors[0]!.file, join(invalidDir, 'does-not-exist.json5'))
})

test('reloadConfig: good config swaps, restart-only sections keep running values, bad config keeps the old', async () => {
  await withTmp(async (dir) => {
    const file = join(dir, 'c.json5')
    await writeFile(file, "{ version: 1, sinks: { a: { type: 'stdout' }, b: { type: 'stdout' } }, rules: [{ id: 'r', to: ['a', 'b'] }] }")
    const cur = await loadConfig({ file, env: { X: '1' }, overrides: { listen: { port: 9999 } } })
    await writeFile(file, "{ version: 1, listen: { port: 1234 }, workers: { count: 8 }, sinks: { a: { type: 'stdout', format: 'json' }, c: { type: 'stdout' } }, rules: [{ id: 'r2', to: ['c'] }] }")
    const r = await reloadConfig(cur, file)
    assert.equal(r.ok, true)
    if (!r.ok) return
    assert.deepEqual(r.config.rules.map((x) => x.id), ['r2'])
    // overrides are re-applied (port 9999 again), so listen is unchanged; workers.count needs a restart
    assert.equal(r.config.listen.port, 9999)
    assert.deepEqual(r.needsRestart, ['workers.count'])
    assert.equal(r.config.workers.count, 2)
    assert.deepEqual(r.sinks, { added: ['c'], removed: ['b'], changed: ['a'] })
    assert.ok(Object.isFrozen(r.config))

    await writeFile(file, "{ version: 1, sinks: {}, rules: [{ id: 'r', to: ['gone'] }] }")
    const bad = await reloadConfig(cur, file)
    assert.equal(bad.ok, false)
    if (bad.ok) return
    assert.equal(bad.error.code, 'NETCONSD_ERR_CONFIG_INVALID')
    assert.deepEqual(bad.errors.map((e) => e.path), ['rules[0].to[0]'])
  })
})

test('all errors at once across schema problems in one file', async () => {
  await withTmp(async (dir) => {
    const file = join(dir, 'c.json5')
    await writeFile(file, "{ version: 1, listen: { port: -1, bogus: 1 }, workers: { count: 'two' }, ncrx: { slots: 1 }, log: { level: 'loud' } }")
    const err = await loadErr({ file, env: {} })
    assert.deepEqual(err.errors.map((e) => e.path).sort(), ['listen.bogus', 'listen.port', 'log.level', 'ncrx.slots', 'workers.count'])
  })
})

test('a schema problem does not hide rule problems: bad regex and unknown level are listed with it', async () => {
  const err = await loadConfig({
    source: {
      name: 'c.json5',
      dir: tmpdir(),
      value: {
        version: 1,
        listen: { port: 'x' },
        sinks: { out: { type: 'stdout' } },
        rules: [
          { id: 'bad-re', match: { text: { regex: '([' } }, to: ['out'] },
          { id: 'bad-level', match: { level: 'loud' }, to: ['out'] },
          { id: 'shape', match: { nosuch: 1 }, to: ['out'] }
        ]
      }
    }
  }).then(() => null, (e: { code: string, errors: ConfigIssue[] }) => e)
  assert.equal(err?.code, 'NETCONSD_ERR_CONFIG_INVALID')
  assert.deepEqual(err.errors.map((e) => e.path).sort(), ['listen.port', 'rules[0].match.text.regex', 'rules[1].match.level', 'rules[2].match.nosuch'])
})
