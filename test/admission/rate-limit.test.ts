import { test } from 'node:test'
import assert from 'node:assert/strict'
import { RateLimiter } from '../../src/admission/rate-limit.js'

test('a source gets its burst at once, then its rate', () => {
  const rl = new RateLimiter({ ratePerSec: 10, burst: 5 })
  let ok = 0
  for (let i = 0; i < 20; i++) if (rl.rateLimit('a', 6, false, 1000)) ok++
  assert.equal(ok, 5)
  assert.equal(rl.limited, 15)
  // 500 ms later: 5 tokens again (10/s), never more than the burst.
  ok = 0
  for (let i = 0; i < 20; i++) if (rl.rateLimit('a', 6, false, 1500)) ok++
  assert.equal(ok, 5)
  ok = 0
  for (let i = 0; i < 20; i++) if (rl.rateLimit('a', 6, false, 100_000)) ok++
  assert.equal(ok, 5)
})

test('sustained: over 10 simulated seconds a source at 10x its rate gets rate*10 + burst', () => {
  const rl = new RateLimiter({ ratePerSec: 100, burst: 50 })
  let ok = 0
  for (let t = 0; t < 10_000; t++) if (rl.rateLimit('noisy', 6, false, t)) ok++ // 1000/s
  assert.ok(ok >= 1040 && ok <= 1051, String(ok))
})

test('emergency-level messages and panics are admitted over the rate, counted as exempted, and run the bucket into debt', () => {
  const rl = new RateLimiter({ ratePerSec: 1, burst: 2 })
  assert.equal(rl.rateLimit('h', 6, false, 0), true)
  assert.equal(rl.rateLimit('h', 6, false, 0), true)
  assert.equal(rl.rateLimit('h', 6, false, 0), false)
  assert.equal(rl.rateLimit('h', 0, false, 0), true, 'KERN_EMERG')
  assert.equal(rl.rateLimit('h', 3, true, 0), true, 'panic text')
  assert.equal(rl.rateLimit('h', null, () => true, 0), true, 'legacy panic, lazily detected')
  assert.equal(rl.exempted, 3)
  assert.equal(rl.limited, 1)
  // Debt of 2 (floor -burst): one second of refill is not enough for an ordinary message.
  assert.equal(rl.rateLimit('h', 6, false, 1000), false)
  assert.equal(rl.rateLimit('h', 6, false, 4000), true)
})

test('the level and panic checks are only evaluated when the source is over its rate', () => {
  const rl = new RateLimiter({ ratePerSec: 1, burst: 1 })
  let calls = 0
  let levelCalls = 0
  const isPanic = (): boolean => { calls++; return false }
  const level = (): number => { levelCalls++; return 6 }
  assert.equal(rl.rateLimit('h', level, isPanic, 0), true)
  assert.equal(calls + levelCalls, 0)
  assert.equal(rl.rateLimit('h', level, isPanic, 0), false)
  assert.equal(calls, 1)
  assert.equal(levelCalls, 1)
  assert.equal(rl.rateLimit('h', () => 0, isPanic, 0), true, 'a lazily found emergency is exempt')
})

test('exemptMaxLevel -1 exempts no level; exemptPanics false exempts no panic', () => {
  const rl = new RateLimiter({ ratePerSec: 1, burst: 1, exemptMaxLevel: -1, exemptPanics: false })
  rl.rateLimit('h', 0, true, 0)
  assert.equal(rl.rateLimit('h', 0, true, 0), false)
  const crit = new RateLimiter({ ratePerSec: 1, burst: 1, exemptMaxLevel: 2 })
  crit.rateLimit('h', 6, false, 0)
  assert.equal(crit.rateLimit('h', 2, false, 0), true)
  assert.equal(crit.rateLimit('h', 3, false, 0), false)
})

test('one flooding source does not touch the others\' budgets', () => {
  const rl = new RateLimiter({ ratePerSec: 100, burst: 20 })
  const admitted = new Map<string, number>()
  // 5 s simulated: 10 quiet hosts at 50/s, one at 500/s (10x).
  for (let t = 0; t < 5000; t++) {
    for (let h = 0; h < 10; h++) {
      if (t % 20 === h && rl.rateLimit(`q${h}`, 6, false, t)) admitted.set(`q${h}`, (admitted.get(`q${h}`) ?? 0) + 1)
    }
    if (t % 2 === 0 && rl.rateLimit('noisy', 6, false, t)) admitted.set('noisy', (admitted.get('noisy') ?? 0) + 1)
  }
  for (let h = 0; h < 10; h++) assert.equal(admitted.get(`q${h}`), 250)
  assert.ok(admitted.get('noisy')! <= 520 && admitted.get('noisy')! >= 500)
  assert.equal(rl.limited, 2500 - admitted.get('noisy')!)
})

test('the source table is bounded: sources not seen recently are evicted, counted', () => {
  const rl = new RateLimiter({ ratePerSec: 1, burst: 1, maxSources: 100 })
  rl.rateLimit('keep', 6, false, 0)
  for (let i = 0; i < 10_000; i++) {
    rl.rateLimit(`s${i}`, 6, false, 0)
    if (i % 25 === 0) rl.rateLimit('keep', 6, false, 0) // recently used: survives
    assert.ok(rl.sources <= 100)
  }
  assert.ok(rl.sources >= 50)
  assert.equal(rl.sources + rl.evictions, 10_001, 'every source is tracked or counted as evicted')
  // 'keep' still has its (empty) bucket, so it is limited, not given a fresh burst.
  assert.equal(rl.rateLimit('keep', 6, false, 0), false)
})

test('a clock step backwards neither adds tokens nor breaks the bucket', () => {
  const rl = new RateLimiter({ ratePerSec: 1000, burst: 1 })
  assert.equal(rl.rateLimit('h', 6, false, 10_000), true)
  assert.equal(rl.rateLimit('h', 6, false, 5_000), false)
  assert.equal(rl.rateLimit('h', 6, false, 10_001), true)
})

test('reconfigure clamps tokens to the new burst; a smaller table drops sources, counted', () => {
  const rl = new RateLimiter({ ratePerSec: 1, burst: 100, maxSources: 100 })
  for (let i = 0; i < 10; i++) rl.rateLimit(`s${i}`, 6, false, 0)
  rl.reconfigure({ ratePerSec: 1, burst: 2, maxSources: 100 })
  assert.equal(rl.sources, 10)
  let ok = 0
  for (let i = 0; i < 10; i++) if (rl.rateLimit('s9', 6, false, 0)) ok++
  assert.equal(ok, 2)
  rl.reconfigure({ ratePerSec: 1, burst: 2, maxSources: 4 })
  assert.ok(rl.sources <= 4)
  assert.equal(rl.evictions, 10)
})
