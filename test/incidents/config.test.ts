/**
 * The incidents schema and the pager sink schema agree with the TypeScript defaults, a config
 * gets every default filled in, bad values fail with the config error code, and the documented
 * paging example (test/fixtures/incidents/paging.config.json5) loads and routes as documented.
 */
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { defaultIncidentsConfig, defaultPagerConfig, INCIDENT_TYPES, EVENT_TYPES } from '../../src/incidents/config.js'
import { loadConfig } from '../../src/config/load.js'
import { runTestRoutes } from '../../src/config/check.js'
import { repoRoot } from '../helpers/paths.js'
import { incidentFixturesDir } from './helpers.js'

function schema (name: string): { properties: Record<string, { default?: unknown, items?: { enum?: unknown[] } }> } {
  return JSON.parse(readFileSync(join(repoRoot, 'schemas', name), 'utf8'))
}

test('schemas/incidents.schema.json: same keys and defaults as defaultIncidentsConfig', () => {
  const s = schema('incidents.schema.json')
  assert.deepEqual(Object.keys(s.properties).sort(), Object.keys(defaultIncidentsConfig).sort())
  for (const [k, v] of Object.entries(defaultIncidentsConfig)) assert.deepEqual(s.properties[k]!.default, v, k)
  assert.deepEqual(s.properties.types!.items!.enum, [...INCIDENT_TYPES])
  assert.deepEqual(s.properties.events!.items!.enum, [...EVENT_TYPES])
})

test('schemas/sinks/pager.schema.json: same defaults as defaultPagerConfig', () => {
  const s = schema('sinks/pager.schema.json')
  for (const [k, v] of Object.entries(defaultPagerConfig)) assert.deepEqual(s.properties[k]!.default, v, k)
  assert.deepEqual(Object.keys(s.properties).sort(), ['maxKeys', 'to', 'type', ...Object.keys(defaultPagerConfig)].sort().filter((x, i, a) => a.indexOf(x) === i))
})

test('a config without an incidents section gets every default', async () => {
  const cfg = await loadConfig({ source: { value: { version: 1 }, dir: '/', name: 'inline' } })
  assert.deepEqual(cfg.incidents, defaultIncidentsConfig)
})

test('bad incidents options fail with NETCONSD_ERR_CONFIG_INVALID naming the path', async () => {
  await assert.rejects(
    loadConfig({ source: { value: { version: 1, incidents: { idleTimeoutMs: 0, types: ['panik'], bogus: 1 } }, dir: '/', name: 'inline' } }),
    (err: { code?: string, errors?: Array<{ path?: string, pointer?: string, message: string }> }) => {
      assert.equal(err.code, 'NETCONSD_ERR_CONFIG_INVALID')
      const text = JSON.stringify(err.errors)
      assert.match(text, /idleTimeoutMs/)
      assert.match(text, /types/)
      assert.match(text, /bogus/)
      return true
    })
})

test('the documented paging config loads, and routes panic/oops to the pager and the rest to OTLP', async () => {
  const cfg = await loadConfig({ file: join(incidentFixturesDir, 'paging.config.json5'), env: {} })
  assert.equal(cfg.sinks.page!.type, 'pager')
  assert.deepEqual(cfg.sinks.page!.to, ['pagerduty'])
  const out: string[] = []
  const io = { stdout: { write: (s: string) => out.push(s) }, stderr: { write: (s: string) => out.push(s) } }
  assert.equal(await runTestRoutes([join(incidentFixturesDir, 'paging.cases.json5')], io as never), 0, out.join(''))
})

test('routes/kernel-incidents.cases.json5 passes', async () => {
  const out: string[] = []
  const io = { stdout: { write: (s: string) => out.push(s) }, stderr: { write: (s: string) => out.push(s) } }
  assert.equal(await runTestRoutes([join(repoRoot, 'routes', 'kernel-incidents.cases.json5')], io as never), 0, out.join(''))
})
