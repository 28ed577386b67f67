// The schemas are the source of truth: the hand-written types, the example config and the
// shipped rule packs must agree with them.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { readdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { loadConfig, readJson5 } from '../../src/config/load.js'
import { validatorFor, validateWith } from '../../src/config/validate.js'
import type { Config, ListenConfig, NcrxConfig, WorkersConfig, ReverseDnsConfig } from '../../src/config/types.js'
import { repoRoot } from '../helpers/paths.js'

const schema = JSON.parse(readFileSync(join(repoRoot, 'schemas', 'config.schema.json'), 'utf8')) as {
  properties: Record<string, { properties?: Record<string, { properties?: Record<string, unknown> }> }>
}

test('types and schema name the same keys (a change to one without the other fails here)', () => {
  // Compile-time half: these literals must satisfy the types with every key present.
  const listen: Required<ListenConfig> = { address: '::', port: 1, listeners: 1, recvBufferBytes: 1, receiveRingBytes: 0, receivePath: 'auto' }
  const workers: Required<WorkersConfig> = { count: 1, batchSize: 1 }
  const ncrx: Required<NcrxConfig> = { slots: 1, gapTimeoutMs: 1, retxStride: 1, oosThreshold: 1, oosWindowMs: 1, oosTimeoutMs: 1, maxMessageBytes: 1, maxHosts: 1, maxHeldBytesPerHost: 1, maxHeldBytes: 1, gcIntervalMs: 0, gcAgeMs: 0 }
  const reverseDns: Required<ReverseDnsConfig> = { enabled: false, timeoutMs: 1, cacheSize: 1, cacheTtlMs: 1, maxInFlight: 1, servers: [] }
  const top: Record<keyof Omit<Config, 'file' | 'dir' | 'moduleSinks'>, true> = {
    version: true, listen: true, workers: true, ncrx: true, hosts: true, sinks: true, include: true, rules: true, unmatched: true, modules: true, tests: true, log: true
  }
  // Run-time half: the schema has exactly these keys.
  const keys = (o: Record<string, unknown> | undefined): string[] => Object.keys(o ?? {}).sort()
  assert.deepEqual(keys(schema.properties.listen!.properties), keys(listen))
  assert.deepEqual(keys(schema.properties.workers!.properties), keys(workers))
  assert.deepEqual(keys(schema.properties.ncrx!.properties), keys(ncrx))
  assert.deepEqual(keys(schema.properties.hosts!.properties!.reverseDns!.properties), keys(reverseDns))
  const sections = ['incidents', 'admission', 'metrics', 'buffer', '$schema']
  assert.deepEqual(keys(schema.properties).filter((k) => !sections.includes(k)), keys(top))
})

test('config.example.json5 is valid, shows every top-level and section option, and its route cases pass', async () => {
  const file = join(repoRoot, 'config.example.json5')
  const c = await loadConfig({ file, env: {} })
  assert.equal(c.file, file)
  const { value } = await readJson5(file)
  const ex = value as Record<string, Record<string, unknown>>
  for (const k of Object.keys(schema.properties).filter((k) => k !== '$schema')) assert.ok(k in ex, `example lacks "${k}"`)
  for (const sec of ['listen', 'workers', 'ncrx']) {
    for (const k of Object.keys(schema.properties[sec]!.properties!)) assert.ok(k in ex[sec]!, `example lacks ${sec}.${k}`)
  }
  const text = readFileSync(file, 'utf8')
  for (const k of Object.keys(schema.properties.hosts!.properties!.reverseDns!.properties!)) assert.ok(text.includes(`${k}:`), `example lacks hosts.reverseDns.${k}`)
  assert.ok(c.tests.length > 0)
})

test('every rule pack in routes/ validates against the rule-pack schema and loads', async () => {
  const dir = join(repoRoot, 'routes')
  const packs = readdirSync(dir).filter((f) => f.endsWith('.json5') && !f.endsWith('.cases.json5'))
  assert.ok(packs.length > 0)
  for (const f of packs) {
    const p = await readJson5(join(dir, f))
    assert.deepEqual(validateWith(validatorFor('rule-pack')!, p.value, { file: f, loc: p.loc, basePointer: '' }), [], f)
  }
  for (const f of readdirSync(dir).filter((f) => f.endsWith('.cases.json5'))) {
    const p = await readJson5(join(dir, f))
    assert.deepEqual(validateWith(validatorFor('route-cases')!, p.value, { file: f, loc: p.loc, basePointer: '' }), [], f)
  }
})
