import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { RateLimiter, isExempt } from '../../../src/sinks/webhook/rate-limit.js'
import { makeTestRecord } from '../conformance.js'

const hostA = { name: 'a', address: '::1', labels: {} }
const hostB = { name: 'b', address: '::2', labels: {} }

describe('webhook rate limit', () => {
  it('token bucket per host: burst, then perMinute', () => {
    const rl = new RateLimiter({ key: 'host', perMinute: 6, burst: 2 })
    const a = makeTestRecord({ host: hostA, level: 4 })
    assert.equal(rl.take(a, 0), 0)
    assert.equal(rl.take(a, 0), 0)
    assert.equal(rl.take(a, 0), -1)
    assert.equal(rl.take(a, 9_999), -1, 'one token per 10 s')
    assert.equal(rl.take(makeTestRecord({ host: hostB, level: 4 }), 9_999), 0, 'other hosts have their own bucket')
    assert.equal(rl.take(a, 10_000), 2, 'let through, reporting the 2 suppressed')
    assert.equal(rl.take(a, 10_000), -1)
  })
  it('never limits emergency-level records or panics', () => {
    const rl = new RateLimiter({ perMinute: 1, burst: 1 })
    assert.equal(rl.take(makeTestRecord({ host: hostA, level: 4 }), 0), 0)
    for (let i = 0; i < 10; i++) {
      assert.equal(rl.take(makeTestRecord({ host: hostA, level: 0 }), 0), 0)
      assert.equal(rl.take(makeTestRecord({ host: hostA, level: null, kind: 'incident', incident: { type: 'panic', title: 't', signature: 's', function: null, frames: [] } }), 0), 0)
    }
    assert.equal(rl.take(makeTestRecord({ host: hostA, level: 1 }), 0), -1, 'alert level is limited')
    assert.equal(isExempt(makeTestRecord({ level: 0 })), true)
    assert.equal(isExempt(makeTestRecord({ level: null })), false)
  })
  it('signature key groups incidents across hosts; template key', () => {
    const inc = (h: typeof hostA, sig: string): ReturnType<typeof makeTestRecord> =>
      makeTestRecord({ host: h, level: 4, kind: 'incident', incident: { type: 'warn', title: 't', signature: sig, function: null, frames: [] } })
    const rl = new RateLimiter({ key: 'signature', perMinute: 1, burst: 1 })
    assert.equal(rl.take(inc(hostA, 's1'), 0), 0)
    assert.equal(rl.take(inc(hostB, 's1'), 0), -1)
    assert.equal(rl.take(inc(hostB, 's2'), 0), 0)
    const tl = new RateLimiter({ key: '{{host.labels.rack}}', perMinute: 1, burst: 1 })
    const r1 = makeTestRecord({ host: { name: 'x', address: '::1', labels: { rack: 'r1' } }, level: 5 })
    const r2 = makeTestRecord({ host: { name: 'y', address: '::2', labels: { rack: 'r1' } }, level: 5 })
    assert.equal(tl.take(r1, 0), 0)
    assert.equal(tl.take(r2, 0), -1, 'same rack, same bucket')
  })
  it('keeps at most maxKeys buckets', () => {
    const rl = new RateLimiter({ perMinute: 1, maxKeys: 5 })
    for (let i = 0; i < 100; i++) rl.take(makeTestRecord({ host: { name: `h${i}`, address: '::1', labels: {} }, level: 5 }), 0)
    assert.equal(rl.size, 5)
  })
})
