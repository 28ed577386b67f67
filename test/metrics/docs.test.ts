import { test } from 'node:test'
import assert from 'node:assert/strict'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { repoRoot } from '../helpers/paths.js'
import { Metrics } from '../../src/metrics/metrics.js'

test('docs/operations.md documents exactly the metrics the registry exports', async () => {
  const body = (await new Metrics({ processMetrics: false }).render()).body
  const exported = new Set([...body.matchAll(/^# TYPE (\S+) /gm)].map((m) => m[1]!))
  const docs = readFileSync(join(repoRoot, 'docs', 'operations.md'), 'utf8')
  const documented = new Set([...docs.matchAll(/^\| `(netconsd_[a-z0-9_]+)` \|/gm)].map((m) => m[1]!))
  assert.deepEqual([...exported].filter((n) => !documented.has(n)), [], 'exported but not documented')
  assert.deepEqual([...documented].filter((n) => !exported.has(n)), [], 'documented but not exported')
})
