import { test } from 'node:test'
import assert from 'node:assert/strict'
import { validatorFor } from '../../src/config/validate.js'
import { resolveAdmissionConfig, Admission } from '../../src/admission/index.js'

test('schema defaults equal the code defaults', () => {
  const v = validatorFor('admission')
  assert.ok(v !== null)
  const data: Record<string, unknown> = {}
  assert.equal(v(data), true)
  assert.deepEqual(data, resolveAdmissionConfig({}))
})

test('schema rejects unknown keys and out-of-range values; accepted lists build a filter', () => {
  const v = validatorFor('admission')!
  for (const bad of [
    { allowed: [] },
    { allow: ['example.com'] },
    { rateLimit: { datagramsPerSec: 0 } },
    { rateLimit: { exemptMaxLevel: 8 } },
    { rateLimit: { burst: 5 } }
  ]) assert.equal(v(structuredClone(bad)), false, JSON.stringify(bad))
  const good = { allow: ['10.0.0.0/8', '::ffff:192.0.2.0/120', '2001:db8::/32'], deny: ['10.9.9.9'], rateLimit: { exemptMaxLevel: -1 } }
  assert.equal(v(good), true)
  assert.doesNotThrow(() => new Admission(resolveAdmissionConfig(good)))
})
