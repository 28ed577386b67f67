/**
 * The workers' V8 limits (src/daemon.ts): the young generation is capped by default, the old
 * generation is capped from what the config lets a worker hold (none with JS output modules), the
 * environment can change or lift either cap, and a value that is not a size is refused with the
 * variable named and the fix.
 */
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { workerOldGenerationMb, workerResourceLimits } from '../../src/daemon.js'

const MiB = 1024 * 1024

test('workers: the young generation is capped by default; 0 lifts the cap; a bad value is refused, naming the fix', () => {
  assert.deepEqual(workerResourceLimits({}), { maxYoungGenerationSizeMb: 24 })
  assert.deepEqual(workerResourceLimits({ NETCONSD_WORKER_YOUNG_GENERATION_MB: '12' }), { maxYoungGenerationSizeMb: 12 })
  assert.equal(workerResourceLimits({ NETCONSD_WORKER_YOUNG_GENERATION_MB: '0' }), undefined)
  for (const name of ['NETCONSD_WORKER_YOUNG_GENERATION_MB', 'NETCONSD_WORKER_OLD_GENERATION_MB']) {
    for (const bad of ['abc', '-4', '12MB']) {
      assert.throws(() => workerResourceLimits({ [name]: bad }, 256), (err: Error & { code?: string }) =>
        err.code === 'NETCONSD_ERR_CLI_USAGE' && err.message.includes(name) && /number of MiB/.test(err.message))
    }
  }
})

test('workers: the old generation is capped at twice what the config lets a worker hold (at least 256 MiB); the environment overrides', () => {
  const base = { ncrx: { maxHeldBytes: 16 * MiB }, workers: { count: 2 }, modules: [] as string[] }
  // ncrx 16 + two sinks' shares of 64 MiB over 2 workers (32 each) = 80 MiB → 128 + 160.
  const two = { ...base, sinks: { a: { type: 'otlp' }, b: { type: 'file', maxQueueBytes: 64 * MiB } } } as unknown as Parameters<typeof workerOldGenerationMb>[0]
  assert.equal(workerOldGenerationMb(two), 288)
  const none = { ...base, sinks: {} } as unknown as Parameters<typeof workerOldGenerationMb>[0]
  assert.equal(workerOldGenerationMb(none), 256)
  const big = { ...base, sinks: { a: { type: 'otlp', maxQueueBytes: 1024 * MiB } } } as unknown as Parameters<typeof workerOldGenerationMb>[0]
  assert.equal(workerOldGenerationMb(big), 128 + 2 * (16 + 512))
  // JS output modules hold what they like: no cap.
  assert.equal(workerOldGenerationMb({ ...base, modules: ['./m.js'], sinks: {} } as unknown as Parameters<typeof workerOldGenerationMb>[0]), 0)
  assert.equal(workerOldGenerationMb({ ...base, sinks: { m: { type: 'module', path: './m.js' } } } as unknown as Parameters<typeof workerOldGenerationMb>[0]), 0)
  assert.deepEqual(workerResourceLimits({}, 288), { maxYoungGenerationSizeMb: 24, maxOldGenerationSizeMb: 288 })
  assert.deepEqual(workerResourceLimits({ NETCONSD_WORKER_OLD_GENERATION_MB: '512' }, 288), { maxYoungGenerationSizeMb: 24, maxOldGenerationSizeMb: 512 })
  assert.deepEqual(workerResourceLimits({ NETCONSD_WORKER_OLD_GENERATION_MB: '0' }, 288), { maxYoungGenerationSizeMb: 24 })
})
