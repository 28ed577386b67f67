/**
 * The option schemas of the delivery runner and the OTLP/webhook sinks compile under ajv's
 * strict 2020-12 mode, accept the documented examples, and reject unknown keys (also through
 * the delivery `$ref`, via unevaluatedProperties).
 */
import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { Ajv2020 } from 'ajv/dist/2020.js'
import { repoRoot } from '../../helpers/paths.js'
import { DELIVERY_DEFAULTS } from '../../../src/sinks/delivery/options.js'

const load = (name: string): Record<string, unknown> =>
  JSON.parse(readFileSync(join(repoRoot, 'schemas', 'sinks', `${name}.schema.json`), 'utf8')) as Record<string, unknown>

const ajv = new Ajv2020({ allErrors: true, strict: true })
for (const n of ['delivery', 'otlp', 'webhook']) ajv.addSchema(load(n))
const validate = (name: string, data: unknown): boolean => ajv.getSchema(`https://netconsd.dev/schemas/sinks/${name}.schema.json`)!(data) as boolean

describe('sink option schemas', () => {
  it('delivery schema lists exactly the runner options, with the runner defaults', () => {
    const props = (load('delivery').properties ?? {}) as Record<string, { default?: unknown }>
    assert.deepEqual(Object.keys(props).sort(), Object.keys(DELIVERY_DEFAULTS).sort())
    for (const [k, v] of Object.entries(DELIVERY_DEFAULTS)) {
      // maxBatchRecords: each sink type's schema has its own default (below).
      if (k === 'maxBatchRecords') { assert.equal(props[k]!.default, undefined); continue }
      if (Number.isFinite(v) || typeof v === 'string') assert.equal(props[k]!.default, v, k)
    }
  })
  it('maxBatchRecords defaults per sink type (otlp 2048, syslog and webhook the runner\'s 512), filled in by the config loader', async () => {
    const sinkDefault = (n: string): unknown => ((load(n).properties as Record<string, { default?: unknown }>).maxBatchRecords)?.default
    assert.equal(sinkDefault('otlp'), 2048)
    assert.equal(sinkDefault('syslog'), DELIVERY_DEFAULTS.maxBatchRecords)
    assert.equal(sinkDefault('webhook'), DELIVERY_DEFAULTS.maxBatchRecords)
    const { loadConfig } = await import('../../../src/config/load.js')
    const config = await loadConfig({
      source: {
        value: {
          version: 1,
          sinks: {
            o: { type: 'otlp', url: 'http://127.0.0.1:4318/v1/logs' },
            o2: { type: 'otlp', url: 'http://127.0.0.1:4318/v1/logs', maxBatchRecords: 100 },
            s: { type: 'syslog', host: '127.0.0.1' },
            w: { type: 'webhook', url: 'http://127.0.0.1:9/' }
          },
          rules: [{ id: 'all', to: ['o', 'o2', 's', 'w'] }]
        },
        dir: process.cwd(),
        name: '<test>'
      }
    })
    const batch = (id: string): unknown => (config.sinks[id] as unknown as { maxBatchRecords?: number }).maxBatchRecords
    assert.equal(batch('o'), 2048)
    assert.equal(batch('o2'), 100, 'a configured value wins')
    assert.equal(batch('s'), 512)
    assert.equal(batch('w'), 512)
  })
  it('otlp: valid and invalid options', () => {
    assert.equal(validate('otlp', { type: 'otlp', endpoint: 'http://c:4318', encoding: 'json', maxBatchRecords: 100, headers: { authorization: 'x' } }), true)
    assert.equal(validate('otlp', { url: 'https://c/v1/logs', tls: { caFile: 'ca.pem', certFile: 'c.pem', keyFile: 'k.pem' }, resource: { env: 'prod', n: 1, tags: ['a'] } }), true)
    assert.equal(validate('otlp', {}), false, 'url or endpoint required')
    assert.equal(validate('otlp', { url: 'http://c', bogus: 1 }), false, 'unknown key')
    assert.equal(validate('otlp', { url: 'http://c', maxQueueRecords: 0 }), false, 'delivery ranges apply')
    assert.equal(validate('otlp', { url: 'http://c', tls: { certFile: 'c.pem' } }), false, 'cert without key')
    assert.equal(validate('otlp', { url: 'ftp://c' }), false)
  })
  it('webhook: valid and invalid options', () => {
    assert.equal(validate('webhook', { url: 'https://h', preset: 'slack', rateLimit: { key: 'host', perMinute: 6, burst: 3 }, whenFull: 'dropOldest' }), true)
    assert.equal(validate('webhook', { url: 'https://h', preset: 'pagerduty', pagerduty: { routingKey: 'k' } }), true)
    assert.equal(validate('webhook', { url: 'https://h', template: { text: '{{text}}' }, batch: false }), true)
    assert.equal(validate('webhook', { url: 'https://h', preset: 'pagerduty' }), false, 'pagerduty needs its routing key')
    assert.equal(validate('webhook', { url: 'https://h', preset: 'teams' }), false)
    assert.equal(validate('webhook', { url: 'https://h', rateLimit: { perMinute: 0 } }), false)
    assert.equal(validate('webhook', { preset: 'slack' }), false, 'url required')
    assert.equal(validate('webhook', { url: 'https://h', flushIntervalMs: 5, typo: true }), false)
  })
})
