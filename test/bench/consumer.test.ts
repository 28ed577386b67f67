import { test } from 'node:test'
import assert from 'node:assert/strict'
import { mkdtemp, readFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { LineConsumer } from '../../bench/consumer.js'

test('bench consumer: every line lands in order after close(), whatever order the pool finishes writes in', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'nc-consumer-'))
  try {
    const c = new LineConsumer(join(dir, 'lines'), join(dir, 'status.json'))
    const n = 60_000
    for (let i = 0; i < n; i++) {
      c.line(`::ffff:10.0.0.${i % 3}`, Math.floor(i / 3), 6, i * 1000, i % 1000 === 0 ? `ünïcode ${i}` : `message ${i}`)
      // Many small flushes: more writes in flight than MAX_INFLIGHT, so the synchronous path runs too.
      if (i % 500 === 0) c.flush()
    }
    c.line('::1', 2 ** 40, 0, 2 ** 52 + 7, 'big numbers')
    await c.close()
    const lines = (await readFile(join(dir, 'lines'), 'utf8')).split('\n')
    assert.equal(lines.pop(), '')
    assert.equal(lines.length, n + 1)
    for (let i = 0; i < n; i++) {
      const text = i % 1000 === 0 ? `ünïcode ${i}` : `message ${i}`
      assert.equal(lines[i], `::ffff:10.0.0.${i % 3} ${Math.floor(i / 3)} 6 ${i * 1000} ${text}`)
    }
    assert.equal(lines[n], `::1 ${2 ** 40} 0 ${2 ** 52 + 7} big numbers`)
    const status = JSON.parse(await readFile(join(dir, 'status.json'), 'utf8'))
    assert.deepEqual(status, { count: n + 1, outOfOrder: 0, gaps: 0, hosts: 4 })
  } finally {
    await rm(dir, { recursive: true, force: true })
  }
})

test('bench consumer: out-of-order and gaps are counted per host', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'nc-consumer-'))
  try {
    const c = new LineConsumer(join(dir, 'lines'), join(dir, 'status.json'))
    for (const s of [1, 2, 5, 4, 6]) c.line('::ffff:1.1.1.1', s, 6, 0, 'x')
    c.line('::ffff:1.1.1.2', 9, 6, 0, 'y')
    await c.close()
    // Against the previous seq of the host: 2→5 skips two, 5→4 is out of order, 4→6 skips one.
    assert.deepEqual(c.status(), { count: 6, outOfOrder: 1, gaps: 3, hosts: 2 })
  } finally {
    await rm(dir, { recursive: true, force: true })
  }
})
