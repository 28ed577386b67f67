/**
 * Sink types by name. Adding a sink type is one folder under `src/sinks/<type>/` exporting a
 * `SinkFactory`, plus one line here and its options schema in `schemas/sinks/<type>.schema.json`.
 */
import type { Sink, SinkContext, SinkFactory } from './types.js'
import type { SinkConfig } from '../config/types.js'
import { NetconsdError } from '../errors.js'

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- each factory takes its own options type; createSink passes the validated ones
export const sinkTypes: Record<string, () => Promise<SinkFactory<any>>> = {
  stdout: async () => (await import('./stdout/index.js')).createStdoutSink,
  module: async () => (await import('./module/index.js')).createModuleSink,
  otlp: async () => (await import('./otlp/index.js')).createOtlpSink,
  webhook: async () => (await import('./webhook/index.js')).createWebhookSink,
  syslog: async () => (await import('./syslog/index.js')).createSyslogSink,
  file: async () => (await import('./file/index.js')).createFileSink,
  // Worker half of paging: forwards to the main-thread Pager (src/incidents/pager-sink.ts).
  pager: async () => (await import('../incidents/pager-sink.js')).createPagerSink
}

/**
 * Creates one instance of a configured sink: looks its type up, strips `type`, calls the
 * factory. The one place that does this (workers, the main-thread pagers, check-config, replay).
 */
export async function createSink (id: string, sc: SinkConfig, ctx: SinkContext): Promise<Sink> {
  const load = sinkTypes[sc.type]
  if (load === undefined) {
    throw new NetconsdError('NETCONSD_ERR_CONFIG_INVALID', `Sink ${id} has unknown type ${sc.type}; known types: ${Object.keys(sinkTypes).join(', ')}.`, { sinkId: id, known: Object.keys(sinkTypes) })
  }
  const { type: _type, ...options } = sc
  return await (await load())(options, ctx)
}
