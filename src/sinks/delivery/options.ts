/**
 * Delivery options shared by every batching sink. The JSON schema for them is
 * `schemas/sinks/delivery.schema.json`; each sink schema includes it with `$ref`.
 * Names carry their unit (`…Ms`, `…Records`).
 */

export type WhenFull = 'dropNewest' | 'dropOldest'

export interface DeliveryOptions {
  /** Records held per sink instance (queued plus in flight). Default 10000. */
  maxQueueRecords?: number
  /** Estimated bytes held by the sink, all workers together (each worker holds its share). Default 64 MiB. */
  maxQueueBytes?: number
  /** Records per batch handed to the transport. Default 512. */
  maxBatchRecords?: number
  /** A partial batch is sent at most this long after its first record arrived. Default 1000. */
  flushIntervalMs?: number
  /** One send attempt is abandoned (and retried) after this long. Default 10000. */
  requestTimeoutMs?: number
  /** Retries per batch after the first attempt; unset = limited only by `maxRetryMs`. */
  maxRetries?: number
  /** A batch is dropped (`retries_exhausted`) when its next retry would start later than this after its first attempt. Default 300000. */
  maxRetryMs?: number
  /** First retry delay; doubles per retry, with jitter. Default 500. */
  initialBackoffMs?: number
  /** Ceiling of the computed backoff (a peer's `Retry-After` may ask for longer). Default 30000. */
  maxBackoffMs?: number
  /** Default deadline for `close()` to deliver what is queued. Default 5000. */
  shutdownDeadlineMs?: number
  /** What to drop when the queue is full: the incoming record (default) or the oldest queued one. */
  whenFull?: WhenFull
}

export interface ResolvedDeliveryOptions {
  maxQueueRecords: number
  maxQueueBytes: number
  maxBatchRecords: number
  flushIntervalMs: number
  requestTimeoutMs: number
  maxRetries: number
  maxRetryMs: number
  initialBackoffMs: number
  maxBackoffMs: number
  shutdownDeadlineMs: number
  whenFull: WhenFull
}

export const DELIVERY_DEFAULTS: Readonly<ResolvedDeliveryOptions> = Object.freeze({
  maxQueueRecords: 10_000,
  maxQueueBytes: 64 * 1024 * 1024,
  maxBatchRecords: 512,
  flushIntervalMs: 1000,
  requestTimeoutMs: 10_000,
  maxRetries: Number.POSITIVE_INFINITY,
  // The OTel Collector's exporterhelper gives up after 300 s (`max_elapsed_time`).
  maxRetryMs: 300_000,
  initialBackoffMs: 500,
  maxBackoffMs: 30_000,
  shutdownDeadlineMs: 5000,
  whenFull: 'dropNewest'
})

/** The option names above, so a sink can split its own options from the delivery ones. */
const DELIVERY_OPTION_KEYS: ReadonlySet<string> = new Set(Object.keys(DELIVERY_DEFAULTS))

/** Fills defaults. The schema already validated ranges; this only guards what would break the runner. */
export function resolveDeliveryOptions (opts: DeliveryOptions = {}): ResolvedDeliveryOptions {
  const pick = <K extends keyof ResolvedDeliveryOptions>(k: K): ResolvedDeliveryOptions[K] =>
    (opts[k] ?? DELIVERY_DEFAULTS[k]) as ResolvedDeliveryOptions[K]
  const r: ResolvedDeliveryOptions = {
    maxQueueRecords: Math.max(1, Math.floor(pick('maxQueueRecords'))),
    maxQueueBytes: Math.max(1, Math.floor(pick('maxQueueBytes'))),
    maxBatchRecords: Math.max(1, Math.floor(pick('maxBatchRecords'))),
    flushIntervalMs: Math.max(0, pick('flushIntervalMs')),
    requestTimeoutMs: Math.max(1, pick('requestTimeoutMs')),
    maxRetries: Math.max(0, pick('maxRetries')),
    maxRetryMs: Math.max(0, pick('maxRetryMs')),
    initialBackoffMs: Math.max(0, pick('initialBackoffMs')),
    maxBackoffMs: Math.max(0, pick('maxBackoffMs')),
    shutdownDeadlineMs: Math.max(0, pick('shutdownDeadlineMs')),
    whenFull: pick('whenFull')
  }
  // A batch can never be larger than what the queue may hold.
  if (r.maxBatchRecords > r.maxQueueRecords) r.maxBatchRecords = r.maxQueueRecords
  return r
}

/** Splits a sink's options into its own and the delivery ones. */
export function splitDeliveryOptions<O extends Record<string, unknown>> (options: O): { own: Record<string, unknown>, delivery: DeliveryOptions } {
  const own: Record<string, unknown> = {}
  const delivery: Record<string, unknown> = {}
  for (const [k, v] of Object.entries(options)) {
    if (DELIVERY_OPTION_KEYS.has(k)) delivery[k] = v
    else own[k] = v
  }
  return { own, delivery }
}
