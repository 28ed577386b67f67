/** The documentation cannot drift: the config reference is generated from the schemas, and the README's example config loads. */
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import JSON5 from 'json5'
import { renderConfigDocs } from '../scripts/config-docs.js'
import { loadConfig } from '../src/config/load.js'
import { repoRoot } from './helpers/paths.js'

test('docs/config-reference.md is what the schemas generate (node dist/scripts/config-docs.js)', () => {
  assert.equal(readFileSync(join(repoRoot, 'docs', 'config-reference.md'), 'utf8'), renderConfigDocs())
})

test('the README example config is valid', async () => {
  const readme = readFileSync(join(repoRoot, 'README.md'), 'utf8')
  const section = readme.slice(readme.indexOf('## Configuration'))
  const m = /```json5\n([\s\S]*?)```/.exec(section)
  assert.ok(m !== null, 'README has a json5 example under Configuration')
  const value = JSON5.parse<Record<string, unknown>>(m[1]!)
  const config = await loadConfig({ source: { value, dir: repoRoot, name: 'README example' }, env: { PD_ROUTING_KEY: 'x' } })
  assert.ok(Object.keys(config.sinks).includes('otlp'))
})
