/**
 * The library entry (`import … from 'netconsd'`): what a program embedding netconsd needs.
 *
 *   loadConfig() ──► Config ──► new Daemon({ config, logger }).start()   whole daemon: sockets, workers, metrics
 *                          └──► new Pipeline({ config, … }).receive()    one worker's stages, in this thread
 *
 * A custom sink implements `Sink` (see `SinkFactory`); an output module exports
 * `handler(thread, src, buf, msg)`. Everything else in dist/ is internal and may change.
 */
export { Daemon, type DaemonOptions } from './daemon.js'
export { Pipeline, type PipelineOptions, type PipelineSnapshot } from './worker/pipeline.js'
export { loadConfig, formatConfigErrors, CONFIG_VERSION, type LoadOptions, type ConfigIssue } from './config/load.js'
export type { Config, SinkConfig, RuleConfig, RuleMatch, ListenConfig, WorkersConfig, NcrxConfig, DeepPartial } from './config/types.js'
export type { Sink, SinkContext, SinkFactory, SinkStats, SendResult, Transport, HealthResult } from './sinks/types.js'
export type { NetconsRecord, HostInfo, IncidentInfo, HostEvent, RecordFormat, RecordKind } from './types.js'
export { NetconsdError, ERROR_CODES, type ErrorCode } from './errors.js'
export { createLogger, type Logger, type LogOptions } from './log.js'
