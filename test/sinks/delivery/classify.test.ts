import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { classifyHttpStatus, classifyNetworkError, parseRetryAfter } from '../../../src/sinks/delivery/classify.js'
import { resolveDeliveryOptions, splitDeliveryOptions } from '../../../src/sinks/delivery/options.js'

describe('parseRetryAfter', () => {
  const now = Date.parse('2024-05-01T12:00:00Z')
  it('reads delay-seconds', () => {
    assert.equal(parseRetryAfter('120', now), 120_000)
    assert.equal(parseRetryAfter('0', now), 0)
    assert.equal(parseRetryAfter([' 7 '], now), 7000)
  })
  it('reads an HTTP-date (RFC 9110 IMF-fixdate) relative to now', () => {
    assert.equal(parseRetryAfter('Wed, 01 May 2024 12:00:30 GMT', now), 30_000)
  })
  it('a past date means now', () => {
    assert.equal(parseRetryAfter('Wed, 01 May 2024 11:00:00 GMT', now), 0)
  })
  it('absent or garbage is undefined', () => {
    assert.equal(parseRetryAfter(undefined, now), undefined)
    assert.equal(parseRetryAfter('', now), undefined)
    assert.equal(parseRetryAfter('soon', now), undefined)
    assert.equal(parseRetryAfter('-5', now), undefined)
  })
})

describe('classifyHttpStatus', () => {
  it('2xx is ok', () => {
    assert.equal(classifyHttpStatus(200, {}).status, 'ok')
    assert.equal(classifyHttpStatus(204, {}).status, 'ok')
  })
  for (const code of [408, 429, 502, 503, 504]) {
    it(`${code} is retryable`, () => assert.equal(classifyHttpStatus(code, {}).status, 'retryable'))
  }
  for (const code of [400, 401, 403, 404, 413, 500, 501]) {
    it(`${code} is failed (not retried)`, () => {
      const r = classifyHttpStatus(code, {}, 'bad request')
      assert.equal(r.status, 'failed')
      assert.equal((r as unknown as { error: { code: string } }).error.code, 'NETCONSD_ERR_SINK_SEND')
      assert.equal((r as unknown as { error: { httpStatus: number } }).error.httpStatus, code)
    })
  }
  it('carries Retry-After on retryable answers', () => {
    const r = classifyHttpStatus(429, { 'retry-after': '3' })
    assert.equal(r.status, 'retryable')
    assert.equal((r as { retryAfterMs?: number }).retryAfterMs, 3000)
  })
  it('truncates a long body kept for the log', () => {
    const r = classifyHttpStatus(400, {}, 'x'.repeat(10_000))
    assert.ok(((r as unknown as { error: { body: string } }).error.body).length < 600)
  })
})

describe('classifyNetworkError', () => {
  it('connection errors are retryable', () => {
    const e = Object.assign(new Error('refused'), { code: 'ECONNREFUSED' })
    assert.equal(classifyNetworkError(e).status, 'retryable')
  })
  it('a bad URL is failed', () => {
    const e = Object.assign(new TypeError('bad'), { code: 'ERR_INVALID_URL' })
    assert.equal(classifyNetworkError(e).status, 'failed')
  })
  it('non-errors are wrapped', () => {
    const r = classifyNetworkError('boom')
    assert.equal(r.status, 'retryable')
    assert.ok((r as { error: Error }).error instanceof Error)
  })
})

describe('delivery options', () => {
  it('fills defaults', () => {
    const o = resolveDeliveryOptions()
    assert.equal(o.maxQueueRecords, 10_000)
    assert.equal(o.maxBatchRecords, 512)
    assert.equal(o.flushIntervalMs, 1000)
    assert.equal(o.maxRetries, Number.POSITIVE_INFINITY)
    assert.equal(o.whenFull, 'dropNewest')
  })
  it('caps the batch at the queue size', () => {
    assert.equal(resolveDeliveryOptions({ maxQueueRecords: 10, maxBatchRecords: 100 }).maxBatchRecords, 10)
  })
  it('splits sink options from delivery options', () => {
    const { own, delivery } = splitDeliveryOptions({ url: 'http://x', maxBatchRecords: 5, type: 'otlp' })
    assert.deepEqual(own, { url: 'http://x', type: 'otlp' })
    assert.deepEqual(delivery, { maxBatchRecords: 5 })
  })
})
