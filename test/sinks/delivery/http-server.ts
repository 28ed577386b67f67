/**
 * A real local HTTP server (loopback, port 0) that records requests and answers from a script,
 * for the OTLP and webhook sink tests. Also used to simulate a peer that is down, dies, hangs.
 */
import http from 'node:http'
import { gunzipSync } from 'node:zlib'
import type { AddressInfo } from 'node:net'

export interface Captured {
  method: string
  path: string
  headers: http.IncomingHttpHeaders
  /** Body after Content-Encoding was undone. */
  body: Buffer
  /** Body as sent on the wire. */
  rawBody: Buffer
}

export type Reply =
  | { status: number, headers?: Record<string, string>, body?: string | Uint8Array, delayMs?: number }
  | 'hang' // never answer
  | 'destroy' // drop the connection without an answer

export class RecordingServer {
  readonly requests: Captured[] = []
  /** Answers used in order; then `fallback`. */
  script: Reply[] = []
  fallback: Reply = { status: 200 }
  port = 0
  readonly #server: http.Server
  #waiters: Array<{ n: number, resolve: () => void }> = []

  private constructor () {
    this.#server = http.createServer((req, res) => {
      const chunks: Buffer[] = []
      req.on('data', (c: Buffer) => chunks.push(c))
      req.on('end', () => {
        const rawBody = Buffer.concat(chunks)
        const body = req.headers['content-encoding'] === 'gzip' ? gunzipSync(rawBody) : rawBody
        const reply = this.script.length > 0 ? this.script.shift()! : this.fallback
        // Record only requests that are answered: a dropped or hung request was not delivered.
        if (reply === 'hang') return
        if (reply === 'destroy') { req.socket.destroy(); return }
        this.requests.push({ method: req.method ?? '', path: req.url ?? '', headers: req.headers, body, rawBody })
        const send = (): void => {
          res.writeHead(reply.status, reply.headers ?? {})
          res.end(reply.body ?? '')
          this.#notify()
        }
        if (reply.delayMs !== undefined) setTimeout(send, reply.delayMs)
        else send()
      })
    })
  }

  static async start (port = 0): Promise<RecordingServer> {
    const s = new RecordingServer()
    await s.listen(port)
    return s
  }

  async listen (port = this.port): Promise<void> {
    await new Promise<void>((resolve, reject) => {
      this.#server.once('error', reject)
      this.#server.listen(port, '127.0.0.1', () => { this.#server.off('error', reject); resolve() })
    })
    this.port = (this.#server.address() as AddressInfo).port
  }

  get url (): string { return `http://127.0.0.1:${this.port}` }

  /** Stops listening and cuts open connections (a peer that dies). */
  async stop (): Promise<void> {
    this.#server.closeAllConnections()
    await new Promise<void>((resolve) => this.#server.close(() => resolve()))
  }

  /** Resolves once `n` requests were answered. */
  async waitForRequests (n: number, timeoutMs = 5000): Promise<void> {
    if (this.requests.length >= n) return
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`timed out waiting for ${n} requests (got ${this.requests.length})`)), timeoutMs)
      this.#waiters.push({ n, resolve: () => { clearTimeout(timer); resolve() } })
    })
  }

  #notify (): void {
    this.#waiters = this.#waiters.filter((w) => {
      if (this.requests.length >= w.n) { w.resolve(); return false }
      return true
    })
  }
}
