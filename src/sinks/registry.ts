/**
 * Sink types by name. Adding a sink type is one folder under `src/sinks/<type>/` exporting a
 * `SinkFactory`, plus one line here and its options schema in `schemas/sinks/<type>.schema.json`.
 */
import type { SinkFactory } from './types.js'

export const sinkTypes: Record<string, () => Promise<SinkFactory<any>>> = {
  stdout: async () => (await import('./stdout/index.js')).createStdoutSink,
  module: async () => (await import('./module/index.js')).createModuleSink,
  otlp: async () => (await import('./otlp/index.js')).createOtlpSink,
  webhook: async () => (await import('./webhook/index.js')).createWebhookSink,
  syslog: async () => (await import('./syslog/index.js')).createSyslogSink,
  file: async () => (await import('./file/index.js')).createFileSink,
  // Worker half of paging: forwards to the main-thread Pager (src/incidents/pager-sink.ts).
  pager: async () => (await import('../incidents/pager-sink.js')).createPagerSink,
}
