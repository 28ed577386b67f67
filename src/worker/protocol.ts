/**
 * Messages between the main thread and a worker thread. Everything here survives structured
 * clone; errors travel as SerializedError (clone drops `code` and the class).
 */
import type { IngestCounters } from '../metrics/snapshot.js'
import type { Config } from '../config/types.js'
import type { SerializedError } from '../errors.js'
import type { PipelineSnapshot } from './pipeline.js'
import type { NetconsRecord } from '../types.js'
import type { PacketBatch } from '../ingest/batch.js'
import type { HostStat } from '../ncrx/hosts.js'

export type { HostStat }

export interface WorkerData {
  thread: number
  workerCount: number
  config: Config
  /** `native`: this worker opens its own SO_REUSEPORT socket; `js`: batches come from the main thread. */
  receivePath: 'native' | 'js'
  logLevel: string
  /** How often the worker posts a stats snapshot, ms (0 = only at exit). */
  statsIntervalMs: number
  /**
   * Whether periodic snapshots carry the per-host list (only the metrics endpoint reads it; with
   * 100k hosts per worker, cloning it every second would be wasted work).
   */
  hostStats: boolean
}

/** A PacketBatch as it crosses threads: the typed arrays' buffers are transferred. */
export interface BatchMessage extends PacketBatch {
  type: 'batch'
}

export type ToWorker =
  | BatchMessage
  | { type: 'reload', config: Config, id: number }
  | { type: 'reopen' }
  | { type: 'shutdown', deadlineMs: number }
  | { type: 'health', id: number }

export type FromWorker =
  | { type: 'ready', receivePath: 'native' | 'js', recvBufferBytes?: number, boundPort?: number }
  | { type: 'error', stage: 'start' | 'reload' | 'runtime', error: SerializedError, id?: number }
  | { type: 'ack', bytes: number }
  /** `ingest`: this worker's own socket's counters on the native path (the main thread reads none there). */
  | { type: 'stats', snapshot: PipelineSnapshot, hosts: HostStat[], kernelDrops?: number | null, ingest?: IngestCounters, queueBytes?: number }
  | { type: 'reloaded', id: number }
  | { type: 'health', id: number, sinks: Record<string, { ok: boolean, message?: string }> }
  | { type: 'incident', record: NetconsRecord }
  /** A record a `pager` sink forwards to the main-thread pager of that sink id. */
  | { type: 'page', sinkId: string, record: NetconsRecord }
  | { type: 'closed', snapshot: PipelineSnapshot, hosts: HostStat[] }
