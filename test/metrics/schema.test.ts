import { test } from 'node:test'
import assert from 'node:assert/strict'
import { validatorFor } from '../../src/config/validate.js'
import { parseListen } from '../../src/metrics/server.js'

test('metrics schema: off by default, defaults filled, unknown keys rejected', () => {
  const v = validatorFor('metrics')
  assert.ok(v !== null)
  const data: Record<string, unknown> = {}
  assert.equal(v(data), true)
  assert.deepEqual(data, { maxHostSeries: 500, processMetrics: true })
  assert.equal(v({ listen: '9514', port: 1 }), false)
})

test('every listen value the schema accepts is one parseListen accepts, and the reverse for common typos', () => {
  const v = validatorFor('metrics')!
  for (const listen of ['9514', ':9514', '127.0.0.1:9514', '0.0.0.0:9514', '[::1]:9514', '[::]:9514', 'localhost:9514']) {
    assert.equal(v({ listen }), true, listen)
    assert.doesNotThrow(() => parseListen(listen), listen)
  }
  for (const listen of ['::1:9514', 'metrics.local:9514', '127.0.0.1', 'http://127.0.0.1:9514']) {
    assert.equal(v({ listen }), false, listen)
  }
})
