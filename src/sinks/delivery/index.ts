/** The shared delivery machinery for batching sinks: runner, options, result classification. */
export { createDeliveryRunner, DeliveryRunner, DROP_REASONS, LATENCY_BUCKETS_MS } from './runner.js'
export type { DeliveryStats, DropReason, LatencySummary } from './runner.js'
export { DELIVERY_DEFAULTS, DELIVERY_OPTION_KEYS, resolveDeliveryOptions, splitDeliveryOptions } from './options.js'
export type { DeliveryOptions, ResolvedDeliveryOptions, WhenFull } from './options.js'
export { classifyHttpStatus, classifyNetworkError, parseRetryAfter, RETRYABLE_HTTP_STATUS, RETRYABLE_NETWORK_CODES } from './classify.js'
