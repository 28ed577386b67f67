/** The shared delivery machinery for batching sinks: the runner and its options. */
export { createDeliveryRunner } from './runner.js'
export type { DeliveryStats } from './runner.js'
export { resolveDeliveryOptions, splitDeliveryOptions } from './options.js'
export type { DeliveryOptions } from './options.js'
