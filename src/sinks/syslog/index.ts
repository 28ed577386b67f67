/**
 * `type: "syslog"`: forwards records to a syslog receiver (rsyslog, syslog-ng, a SIEM).
 *
 *   records ──► delivery runner (queue, batches, retries, drops by reason; src/sinks/delivery)
 *                 │ batch
 *                 ▼
 *               SyslogEncoder (RFC 5424 or RFC 3164 + framing) ──► UdpTransport (RFC 5426)
 *                                                              └─► StreamTransport (TCP RFC 6587 / TLS RFC 5425)
 *
 * Options: `SyslogSinkOptions` (options.ts) plus the delivery options; schema in
 * `schemas/sinks/syslog.schema.json`, reference in `docs/sinks-syslog-file.md`.
 */
import type { HealthResult, Sink, SinkContext, SinkFactory, Transport } from '../types.js'
import { createDeliveryRunner, resolveDeliveryOptions, splitDeliveryOptions, type DeliveryOptions, type DeliveryStats } from '../delivery/index.js'
import { SyslogEncoder } from './encode.js'
import { resolveSyslogOptions, type ResolvedSyslogOptions, type SyslogSinkOptions } from './options.js'
import { StreamTransport, type StreamTransportStats } from './stream.js'
import { UdpTransport } from './udp.js'

export type { SyslogSinkOptions } from './options.js'
export { formatRfc5424 } from './rfc5424.js'
export { formatRfc3164 } from './rfc3164.js'

export interface SyslogSinkStats extends DeliveryStats {
  /** Messages whose MSG was cut to fit `maxMessageBytes` (sent, but shortened). */
  truncated: number
  /** Structured-data elements left out to fit `maxMessageBytes`. */
  sdElementsDropped: number
  /** TCP/TLS only. */
  connection?: StreamTransportStats
}

export interface SyslogSink extends Sink {
  readonly options: Readonly<ResolvedSyslogOptions>
  health (): Promise<HealthResult>
  stats (): SyslogSinkStats
}

export function createTransport (opts: ResolvedSyslogOptions, encoder: SyslogEncoder, ctx: SinkContext, writeTimeoutMs: number): UdpTransport | StreamTransport {
  const logger = ctx.logger.child({ sinkId: ctx.sinkId })
  if (opts.protocol === 'udp') return new UdpTransport({ host: opts.host, port: opts.port, writeTimeoutMs }, encoder, logger)
  return new StreamTransport({
    host: opts.host,
    port: opts.port,
    protocol: opts.protocol,
    tls: opts.tls,
    connectTimeoutMs: opts.connectTimeoutMs,
    reconnectBackoffMs: opts.reconnectBackoffMs,
    reconnectBackoffMaxMs: opts.reconnectBackoffMaxMs,
    writeTimeoutMs
  }, encoder, logger)
}

export const createSyslogSink: SinkFactory<SyslogSinkOptions & DeliveryOptions> = (options, ctx): SyslogSink => {
  const { own, delivery } = splitDeliveryOptions(options as unknown as Record<string, unknown>)
  const opts = Object.freeze(resolveSyslogOptions(own as unknown as SyslogSinkOptions, ctx.sinkId, ctx.configDir))
  const encoder = new SyslogEncoder(opts)
  const transport: Transport =
    createTransport(opts, encoder, ctx, resolveDeliveryOptions(delivery).requestTimeoutMs)
  const runner = createDeliveryRunner(transport, delivery, ctx)
  return {
    options: opts,
    write: (record) => { runner.write(record) },
    // Without it the worker never paused reading for a slow syslog peer: the queue filled within
    // one receive wakeup and the excess was parsed only to be dropped (`queue_full`).
    pressure: () => runner.pressure(),
    flush: async () => { await runner.flush() },
    close: async (deadlineMs) => { await runner.close(deadlineMs) },
    health: async () => await runner.health(),
    stats: () => {
      const s: SyslogSinkStats = { ...runner.stats(), truncated: encoder.truncated, sdElementsDropped: encoder.sdElementsDropped }
      if (transport instanceof StreamTransport) s.connection = transport.connectionStats()
      return s
    }
  }
}
