/**
 * Delivery's stats types and latency buckets: a leaf module (it imports only the sink contract)
 * so the delivery runner, the disk buffer and the metrics snapshot can all use them without
 * importing each other.
 */
import type { SinkStats } from '../types.js'

/** Upper bounds (ms) of the send-latency histogram buckets; cumulative like Prometheus' `le`. */
export const LATENCY_BUCKETS_MS: readonly number[] = [5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10_000]

export interface LatencySummary {
  /** Send attempts measured (every attempt, successful or not). */
  count: number
  sumMs: number
  maxMs: number
  /** Cumulative counts per `LATENCY_BUCKETS_MS` bound, then +Inf (equal to `count`). */
  buckets: number[]
}

/**
 * All counts are in records unless named otherwise.
 * - `sent`: delivered (peer said ok).
 * - `failed`: given up on after reaching the peer side (`rejected` + `retries_exhausted`); also in `dropped`.
 * - `retried`: records re-sent (a batch of 100 retried twice adds 200).
 * - `dropped`: every lost record by reason, the complete loss count.
 * - `queueDepth`: queued plus in flight.
 */
export interface DeliveryStats extends SinkStats {
  /** Batches handed to the transport (first attempts only). */
  batches: number
  /** Records in the batch being sent now (part of `queueDepth`). */
  inFlight: number
  maxQueueRecords: number
  /** Estimated bytes of the records held, and this instance's bound (its worker's share of maxQueueBytes). */
  queuedBytes: number
  maxQueueBytes: number
  latencyMs: LatencySummary
  /** Last delivery error message, for `status` output; null after a success. */
  lastError: string | null
  /** Disk buffer fill, when the sink has one. */
  buffer?: BufferedStats['buffer']
}

export interface BufferedStats {
  /** Records the peer accepted (delivered from the buffer). */
  sent: number
  /** Records the peer refused for good (`rejected`). */
  failed: number
  /** Records re-sent after a retryable failure. */
  retried: number
  /** Records lost in or at the buffer, by reason. */
  dropped: Record<string, number>
  buffer: { records: number, bytes: number, maxBytes: number }
  latencyMs: LatencySummary
  lastError: string | null
}
