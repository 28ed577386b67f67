/**
 * A small HTTP(S) client for the HTTP sinks (OTLP, webhook): one keep-alive agent per sink
 * instance, TLS files read once at start-up, responses classified into `SendResult`s.
 * No retries or sleeps here; the delivery runner owns those.
 */
import http from 'node:http'
import https from 'node:https'
import net from 'node:net'
import tls from 'node:tls'
import { readFileSync } from 'node:fs'
import { resolve as resolvePath } from 'node:path'
import { gzip as gzipCb } from 'node:zlib'
import { promisify } from 'node:util'
import type { HealthResult, SendResult } from '../types.js'
import { NetconsdError } from '../../errors.js'
import { classifyHttpStatus, classifyNetworkError } from './classify.js'
import { redactText } from '../../redact.js'

const gzip = promisify(gzipCb)

export interface TlsOptions {
  /** PEM CA bundle to trust instead of the system store (relative to the config file). */
  caFile?: string
  /** Client certificate (PEM) for mutual TLS. */
  certFile?: string
  /** Client key (PEM) for mutual TLS. */
  keyFile?: string
  /** Accept any server certificate. For tests only; logged as a warning. */
  insecureSkipVerify?: boolean
  /** SNI / certificate name to check instead of the URL's host. */
  serverName?: string
}

export interface HttpClientOptions {
  url: string
  method?: 'POST' | 'PUT'
  headers?: Record<string, string>
  compression?: 'gzip' | 'none'
  tls?: TlsOptions
  /** For resolving relative TLS file paths. */
  configDir: string
  /** For error messages: `sinks.<id>`. */
  sinkId: string
  userAgent?: string
}

export interface HttpResponse {
  status: number
  headers: http.IncomingHttpHeaders
  /** At most `MAX_RESPONSE_BYTES` of the body. */
  body: Buffer
}

/** Response bytes kept (for partial-success parsing and error logs); the rest is discarded. */
const MAX_RESPONSE_BYTES = 64 * 1024

function readTlsFile (opts: HttpClientOptions, field: 'caFile' | 'certFile' | 'keyFile'): Buffer | undefined {
  const p = opts.tls?.[field]
  if (p === undefined) return undefined
  const full = resolvePath(opts.configDir, p)
  try {
    return readFileSync(full)
  } catch (err) {
    throw new NetconsdError('NETCONSD_ERR_SINK_OPTIONS', `sinks.${opts.sinkId}.tls.${field}: cannot read ${full}: ${(err as Error).message}. Fix the path or the file's permissions.`, {
      sinkId: opts.sinkId, path: `sinks.${opts.sinkId}.tls.${field}`, file: full
    }, { cause: err })
  }
}

export class HttpClient {
  readonly url: URL
  readonly #opts: HttpClientOptions
  readonly #agent: http.Agent
  readonly #request: typeof http.request
  #tlsOpts: https.AgentOptions = {}

  /** Throws NETCONSD_ERR_SINK_OPTIONS for a bad URL or unreadable TLS files (at start-up, not per send). */
  constructor (opts: HttpClientOptions) {
    this.#opts = opts
    try {
      this.url = new URL(opts.url)
    } catch (err) {
      throw new NetconsdError('NETCONSD_ERR_SINK_OPTIONS', `sinks.${opts.sinkId}.url: not a valid URL (${JSON.stringify(redactText(opts.url))}).`, {
        sinkId: opts.sinkId, path: `sinks.${opts.sinkId}.url`
      }, { cause: err })
    }
    if (this.url.protocol === 'https:') {
      const tlsOpts: https.AgentOptions = { keepAlive: true, maxSockets: 2 }
      const ca = readTlsFile(opts, 'caFile')
      const cert = readTlsFile(opts, 'certFile')
      const key = readTlsFile(opts, 'keyFile')
      if (ca !== undefined) tlsOpts.ca = ca
      if (cert !== undefined) tlsOpts.cert = cert
      if (key !== undefined) tlsOpts.key = key
      if (opts.tls?.insecureSkipVerify === true) tlsOpts.rejectUnauthorized = false
      if (opts.tls?.serverName !== undefined) tlsOpts.servername = opts.tls.serverName
      this.#tlsOpts = tlsOpts
      this.#agent = new https.Agent(tlsOpts)
      this.#request = https.request
    } else if (this.url.protocol === 'http:') {
      this.#agent = new http.Agent({ keepAlive: true, maxSockets: 2 })
      this.#request = http.request
    } else {
      throw new NetconsdError('NETCONSD_ERR_SINK_OPTIONS', `sinks.${opts.sinkId}.url: only http: and https: are supported, got ${this.url.protocol}.`, {
        sinkId: opts.sinkId, path: `sinks.${opts.sinkId}.url`
      })
    }
  }

  /** Sends `body` and resolves with the response; rejects on network errors and aborts. */
  async request (body: Uint8Array, contentType: string, signal?: AbortSignal, opts: { url?: URL, compress?: boolean } = {}): Promise<HttpResponse> {
    let payload: Uint8Array = body
    const headers: Record<string, string> = {
      'user-agent': this.#opts.userAgent ?? 'netconsd',
      ...this.#opts.headers,
      'content-type': contentType
    }
    if ((opts.compress ?? true) && this.#opts.compression === 'gzip') {
      // zlib's async gzip runs on libuv's thread pool, not on this (worker) thread.
      payload = await gzip(body)
      headers['content-encoding'] = 'gzip'
    }
    headers['content-length'] = String(payload.byteLength)
    const url = opts.url ?? this.url
    return await new Promise<HttpResponse>((resolve, reject) => {
      const reqOpts: http.RequestOptions = { method: this.#opts.method ?? 'POST', headers, agent: this.#agent }
      if (signal !== undefined) reqOpts.signal = signal
      const req = this.#request(url, reqOpts, (res) => {
        const chunks: Buffer[] = []
        let kept = 0
        res.on('data', (chunk: Buffer) => {
          if (kept >= MAX_RESPONSE_BYTES) return
          chunks.push(chunk)
          kept += chunk.length
        })
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).subarray(0, MAX_RESPONSE_BYTES) }))
        res.on('error', reject)
      })
      req.on('error', reject)
      req.end(payload)
    })
  }

  /** `request` classified: 2xx ok, 429/5xx-gateway retryable (with Retry-After), other 4xx/5xx failed, network errors retryable. */
  async send (body: Uint8Array, contentType: string, signal?: AbortSignal): Promise<SendResult & { response?: HttpResponse }> {
    let res: HttpResponse
    try {
      res = await this.request(body, contentType, signal)
    } catch (err) {
      return classifyNetworkError(err)
    }
    const result = classifyHttpStatus(res.status, res.headers, res.status >= 300 ? res.body.toString('utf8') : '')
    return { ...result, response: res }
  }

  /**
   * Connects (TCP, plus the TLS handshake with the configured trust for https:) without sending
   * a request: a health check for peers where any request has side effects (a webhook pages).
   */
  async probe (timeoutMs = 5000): Promise<HealthResult> {
    const host = this.url.hostname.replace(/^\[|\]$/g, '')
    const port = Number(this.url.port !== '' ? this.url.port : (this.url.protocol === 'https:' ? 443 : 80))
    return await new Promise<HealthResult>((resolve) => {
      let sock: net.Socket
      const done = (r: HealthResult): void => { clearTimeout(timer); sock.destroy(); resolve(r) }
      const timer = setTimeout(() => done({ ok: false, message: `${this.url.origin}: no connection within ${timeoutMs} ms` }), timeoutMs)
      if (this.url.protocol === 'https:') {
        const o = this.#tlsOpts
        const opts: tls.ConnectionOptions = { host, port, rejectUnauthorized: o.rejectUnauthorized !== false }
        if (o.ca !== undefined) opts.ca = o.ca
        if (o.cert !== undefined) opts.cert = o.cert
        if (o.key !== undefined) opts.key = o.key
        const sni = o.servername ?? (net.isIP(host) === 0 ? host : undefined)
        if (sni !== undefined) opts.servername = sni
        sock = tls.connect(opts, () => done({ ok: true }))
      } else {
        sock = net.connect({ host, port }, () => done({ ok: true }))
      }
      sock.on('error', (err) => done({ ok: false, message: `${this.url.origin}: ${redactText(err.message)}` }))
    })
  }

  close (): void {
    this.#agent.destroy()
  }
}
