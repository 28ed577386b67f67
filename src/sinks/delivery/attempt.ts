/**
 * One send attempt and the retry delay, shared by the delivery runner and the disk buffer's
 * delivery loop (the two places that talk to a transport).
 */
import type { NetconsRecord } from '../../types.js'
import type { SendResult, Transport } from '../types.js'
import { NetconsdError } from '../../errors.js'

export interface Attempt {
  /** Never rejects: a timeout, an abort or a throwing transport become `retryable`. */
  result: Promise<SendResult>
  /** Ends the attempt now (shutdown): the request is aborted and `result` resolves retryable with `reason`. */
  abort: (reason: Error) => void
}

/**
 * Starts `transport.send(batch)` bounded by `timeoutMs`: at the timeout the request is aborted
 * (its AbortSignal fires) and the result is `retryable` with NETCONSD_ERR_SINK_TIMEOUT.
 */
export function startAttempt (transport: Transport, batch: readonly NetconsRecord[], timeoutMs: number, sinkId: string): Attempt {
  const ac = new AbortController()
  let timer: NodeJS.Timeout | undefined
  const ended = new Promise<SendResult>((resolve) => {
    ac.signal.addEventListener('abort', () => {
      resolve({ status: 'retryable', error: ac.signal.reason instanceof Error ? ac.signal.reason : new Error('aborted') })
    }, { once: true })
    timer = setTimeout(() => {
      ac.abort(new NetconsdError('NETCONSD_ERR_SINK_TIMEOUT', `Send timed out after ${timeoutMs} ms.`, { sinkId, timeoutMs }))
    }, timeoutMs)
  })
  const send = (async (): Promise<SendResult> => {
    try {
      return await transport.send(batch, ac.signal)
    } catch (err) {
      // A transport should classify its own errors; a throw is treated as transient.
      return { status: 'retryable', error: err instanceof Error ? err : new Error(String(err)) }
    }
  })()
  const result = Promise.race([send, ended]).finally(() => clearTimeout(timer))
  return { result, abort: (reason) => ac.abort(reason) }
}

/**
 * Exponential backoff with "equal jitter" (half fixed, half random), so a fleet of restarted
 * daemons does not retry in lockstep.
 */
export function jitteredDelayMs (backoffMs: number, random: () => number = Math.random): number {
  return backoffMs / 2 + random() * backoffMs / 2
}
