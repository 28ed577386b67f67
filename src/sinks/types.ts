/**
 * The sink contract. Every sink instance lives inside one worker thread, so records of one
 * host reach it in order. Batch-oriented network sinks implement `Transport` and are wrapped
 * by the shared delivery runner (`src/sinks/delivery`), which owns queueing, batching,
 * retries and drop accounting; a transport only knows how to send one batch.
 */
import type { Logger } from 'pino'
import type { NetconsRecord } from '../types.js'

/** What a sink instance is told about where it runs. */
export interface SinkContext {
  /** The sink's id in the config (`sinks: { <id>: {...} }`). */
  sinkId: string
  /** 0-based worker index. */
  thread: number
  workerCount: number
  logger: Logger
  /** Directory of the config file, for resolving relative paths. */
  configDir: string
  /**
   * Set when the sink has a durable disk buffer (`buffer.sinks.<id>`): the delivery runner
   * sends through the wrapped transport (disk first, then the peer).
   */
  wrapTransport?: (transport: Transport) => Transport
}

export interface HealthResult {
  ok: boolean
  /** Why not, when `ok` is false. */
  message?: string
}

export interface Sink {
  /** Accept one record. Never throws and never blocks; a record that cannot be kept is counted as dropped with a reason. */
  write (record: NetconsRecord): void
  /**
   * Optional: accept the records routed to this sink from one receive batch (or one timer run),
   * in order, at the batch's end, so a sink pays its fixed costs once per batch. Same contract
   * as `write` for each record. The array is reused after the call: copy what you keep.
   */
  writeBatch? (records: readonly NetconsRecord[]): void
  /** Resolves when every record accepted so far was delivered or dropped with a counted reason. */
  flush (): Promise<void>
  /** Graceful: flush within `deadlineMs`, then release resources. Idempotent. */
  close (deadlineMs?: number): Promise<void>
  /** Reopen files (SIGHUP, for external logrotate). */
  reopen? (): Promise<void>
  /** Used by `check-config` and at start-up. */
  health? (): Promise<HealthResult>
  /** Counters for the metrics endpoint. */
  stats? (): SinkStats
  /**
   * Back-pressure, 0..1: how full the sink's queue is *while it is delivering* (a peer that is
   * up but slower than the input). The worker stops reading its socket above 0.75 and reads
   * again below 0.5, so excess input is dropped by the kernel, counted, before costing any
   * parsing. A sink whose peer is failing answers 0: a dead peer never holds up other sinks;
   * its queue fills and drops `queue_full` as before.
   */
  pressure? (): number
  /**
   * Set by sinks that need each extended record's wire body (`LogRecord.wire`: the kernel's
   * escaped text and raw dictionary), i.e. C output modules; ncrx copies it only while one is configured.
   */
  readonly wantsWireBody?: boolean
}

export interface SinkStats {
  sent: number
  failed: number
  retried: number
  dropped: Record<string, number>
  queueDepth: number
}

/** A send result is a value: the runner decides what to do with it. */
export type SendResult =
  | { status: 'ok', /** Records the peer accepted the request for but rejected (OTLP partial success); counted as dropped `rejected`. */ rejected?: number }
  | { status: 'retryable', error: Error, retryAfterMs?: number }
  | { status: 'failed', error: Error }

/** How to send one batch; the runner decides when. */
export interface Transport {
  /** `signal` aborts when the runner gives up on the attempt (request timeout, shutdown deadline). */
  send (batch: readonly NetconsRecord[], signal?: AbortSignal): Promise<SendResult>
  close (): Promise<void>
  health? (): Promise<HealthResult>
}

export type SinkFactory<O = Record<string, unknown>> = (options: O, ctx: SinkContext) => Sink | Promise<Sink>
