/**
 * The workers' V8 limits (src/daemon.ts): the young generation is capped by default, the
 * environment can change or lift the cap, and a value that is not a size is refused with the
 * variable named and the fix.
 */
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { workerResourceLimits } from '../../src/daemon.js'

test('workers: the young generation is capped by default; 0 lifts the cap; a bad value is refused, naming the fix', () => {
  assert.deepEqual(workerResourceLimits({}), { maxYoungGenerationSizeMb: 24 })
  assert.deepEqual(workerResourceLimits({ NETCONSD_WORKER_YOUNG_GENERATION_MB: '12' }), { maxYoungGenerationSizeMb: 12 })
  assert.equal(workerResourceLimits({ NETCONSD_WORKER_YOUNG_GENERATION_MB: '0' }), undefined)
  for (const bad of ['abc', '-4', '12MB']) {
    assert.throws(() => workerResourceLimits({ NETCONSD_WORKER_YOUNG_GENERATION_MB: bad }), (err: Error & { code?: string }) =>
      err.code === 'NETCONSD_ERR_CLI_USAGE' && err.message.includes('NETCONSD_WORKER_YOUNG_GENERATION_MB') && /number of MiB/.test(err.message))
  }
})
