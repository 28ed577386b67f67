/**
 * `type: "otlp"`: kernel records as OpenTelemetry logs over OTLP/HTTP (protobuf or JSON).
 *
 * Protobuf is written straight from the records by `encode-protobuf.ts` (no object per record;
 * Resource and Scope bytes cached per host), checked against `@opentelemetry/otlp-transformer`'s
 * `ProtobufLogsSerializer` by a property test. JSON stays on the official `JsonLogsSerializer`
 * (fed `ReadableLogRecord`s): it is the debugging encoding, several times larger on the wire, and
 * its cost is dominated by `JSON.stringify`, which a hand-written encoder would not remove.
 * The HTTP request is ours
 * (`delivery/http.ts`), because the exporter wraps its HTTP transport in a fixed RetryingTransport
 * (5 attempts, 1–5 s backoff inside the request timeout) that cannot be turned off: it would
 * retry behind the runner's back, sleep inside `requestTimeoutMs`, and hide the status code and
 * `Retry-After` the runner needs. So the runner alone retries, times out and counts.
 */
import type { AttributeValue } from '@opentelemetry/api'
import { JsonLogsSerializer, ProtobufLogsSerializer } from '@opentelemetry/otlp-transformer'
import type { ReadableLogRecord } from '@opentelemetry/sdk-logs'
import type { NetconsRecord } from '../../types.js'
import type { HealthResult, SendResult, SinkContext, SinkFactory, Transport } from '../types.js'
import { createDeliveryRunner, type DeliveryRunner } from '../delivery/runner.js'
import type { DeliveryOptions } from '../delivery/options.js'
import { HttpClient, type TlsOptions } from '../delivery/http.js'
import { NetconsdError } from '../../errors.js'
import { BootClock } from './boot-clock.js'
import { ResourceCache, SCOPE_NAME, toLogRecord, type MapContext } from './map-record.js'
import { redactText, redactUrl } from '../../redact.js'
import { ProtobufLogsEncoder } from './encode-protobuf.js'

export { SEVERITY_NUMBER, SEVERITY_TEXT, FACILITY_NAMES, toLogRecord, recordAttributes, ResourceCache } from './map-record.js'
export { BootClock } from './boot-clock.js'
export { ProtobufLogsEncoder } from './encode-protobuf.js'

export interface OtlpSinkOptions extends DeliveryOptions {
  type?: 'otlp'
  /** Full logs endpoint, e.g. `http://collector:4318/v1/logs`. */
  url?: string
  /** Base URL; `/v1/logs` is appended (as OTEL_EXPORTER_OTLP_ENDPOINT). One of `url`/`endpoint` is required. */
  endpoint?: string
  encoding?: 'protobuf' | 'json'
  compression?: 'gzip' | 'none'
  /** Extra request headers (auth). `${ENV}` in values is substituted by the config loader. */
  headers?: Record<string, string>
  tls?: TlsOptions
  /** Extra resource attributes for every host (e.g. `deployment.environment`). */
  resource?: Record<string, AttributeValue>
  /** Hosts whose boot-time estimate is kept (per worker). Default 100000. */
  maxHosts?: number
}

const VERSION = '0.1.0'

interface Serializer {
  serializeRequest: (records: ReadableLogRecord[]) => Uint8Array | undefined
  deserializeResponse: (data: Uint8Array) => { partialSuccess?: { rejectedLogRecords?: unknown, errorMessage?: string } }
}

export function resolveOtlpUrl (opts: OtlpSinkOptions, sinkId: string): string {
  if (opts.url !== undefined) return opts.url
  if (opts.endpoint !== undefined) return opts.endpoint.replace(/\/+$/, '') + '/v1/logs'
  throw new NetconsdError('NETCONSD_ERR_SINK_OPTIONS', `sinks.${sinkId}: set "url" (full logs endpoint) or "endpoint" (base URL).`, {
    sinkId, path: `sinks.${sinkId}.url`
  })
}

export class OtlpTransport implements Transport {
  readonly #http: HttpClient
  readonly #serializer: Serializer
  readonly #contentType: string
  readonly #map: MapContext
  readonly #ctx: SinkContext
  readonly #protobuf: ProtobufLogsEncoder | undefined

  constructor (opts: OtlpSinkOptions, ctx: SinkContext) {
    this.#ctx = ctx
    const json = opts.encoding === 'json'
    this.#serializer = json ? JsonLogsSerializer : ProtobufLogsSerializer
    this.#contentType = json ? 'application/json' : 'application/x-protobuf'
    const clientOpts: ConstructorParameters<typeof HttpClient>[0] = {
      url: resolveOtlpUrl(opts, ctx.sinkId),
      headers: opts.headers ?? {},
      compression: opts.compression ?? 'gzip',
      configDir: ctx.configDir,
      sinkId: ctx.sinkId,
      userAgent: `netconsd/${VERSION}`
    }
    if (opts.tls !== undefined) clientOpts.tls = opts.tls
    this.#http = new HttpClient(clientOpts)
    if (opts.tls?.insecureSkipVerify === true) {
      ctx.logger.warn({ sinkId: ctx.sinkId }, 'OTLP sink does not verify the server certificate (tls.insecureSkipVerify).')
    }
    this.#map = {
      resources: new ResourceCache(opts.resource ?? {}),
      bootClock: new BootClock({ maxHosts: opts.maxHosts ?? 100_000 }),
      scope: { name: SCOPE_NAME, version: VERSION }
    }
    this.#protobuf = json ? undefined : new ProtobufLogsEncoder(this.#map)
  }

  /** Builds the OTLP request body for a batch (exposed for tests and `netconsd check`). */
  encode (batch: readonly NetconsRecord[]): Uint8Array {
    if (this.#protobuf !== undefined) return this.#protobuf.encode(batch)
    const logs = batch.map((r) => toLogRecord(r, this.#map))
    return this.#serializer.serializeRequest(logs) ?? new Uint8Array(0)
  }

  async send (batch: readonly NetconsRecord[], signal?: AbortSignal): Promise<SendResult> {
    let body: Uint8Array
    try {
      // No copy of the request body: see ProtobufLogsEncoder.encodeView.
      body = this.#protobuf !== undefined ? this.#protobuf.encodeView(batch) : this.encode(batch)
    } catch (err) {
      // Encoding will fail the same way every time: do not retry.
      return { status: 'failed', error: new NetconsdError('NETCONSD_ERR_SINK_SEND', 'OTLP encoding failed.', { sinkId: this.#ctx.sinkId }, { cause: err }) }
    }
    const r = await this.#http.send(body, this.#contentType, signal)
    if (r.status !== 'ok') return r
    // OTLP/HTTP "Partial Success": 200 with rejected_log_records > 0.
    const data = r.response?.body
    if (data === undefined || data.length === 0) return { status: 'ok' }
    try {
      const ps = this.#serializer.deserializeResponse(data).partialSuccess
      const rejected = Number(ps?.rejectedLogRecords ?? 0)
      if (rejected > 0) {
        this.#ctx.logger.warn({ sinkId: this.#ctx.sinkId, rejected, message: ps?.errorMessage }, 'OTLP peer rejected some records (partial success).')
        return { status: 'ok', rejected }
      }
    } catch {
      // A body we cannot parse on a 2xx is still a success (as the OTel exporter treats it).
    }
    return { status: 'ok' }
  }

  /**
   * Sends an empty ExportLogsServiceRequest, which the OTLP spec allows and collectors answer
   * with 200: proves DNS, TCP, TLS, the path and the auth headers without sending data.
   */
  async health (): Promise<HealthResult> {
    const ac = new AbortController()
    const timer = setTimeout(() => ac.abort(), 5000)
    try {
      const empty = this.#contentType === 'application/json' ? new TextEncoder().encode('{}') : new Uint8Array(0)
      const res = await this.#http.request(empty, this.#contentType, ac.signal, { compress: false })
      if (res.status >= 200 && res.status < 300) return { ok: true }
      return { ok: false, message: `${redactUrl(this.#http.url)} answered HTTP ${res.status}${res.status === 401 || res.status === 403 ? ' (check the auth headers)' : ''}` }
    } catch (err) {
      return { ok: false, message: `${redactUrl(this.#http.url)}: ${redactText((err as Error).message)}` }
    } finally {
      clearTimeout(timer)
    }
  }

  async close (): Promise<void> {
    this.#http.close()
  }
}

/** The `otlp` sink factory (a `SinkFactory<OtlpSinkOptions>`). Throws NETCONSD_ERR_SINK_OPTIONS for unusable options. */
export function createOtlpSink (options: OtlpSinkOptions, ctx: SinkContext): DeliveryRunner {
  const transport = new OtlpTransport(options, ctx)
  return createDeliveryRunner(transport, options, ctx)
}
createOtlpSink satisfies SinkFactory<OtlpSinkOptions>
