/**
 * The native receive path: a UDP socket owned by the calling thread (a worker), read with batched
 * recvmmsg(2) by a small Node-API addon (`native/recv.c`), one JS call per batch.
 *
 *   kernel ──SO_REUSEPORT (one socket per worker)──► recvmmsg ──► slots (ArrayBuffers) ──► onBatch(PacketBatch)
 *
 * Batch lifetime: the `PacketBatch` passed to `onBatch` is a set of views over memory the addon
 * reuses for the next recvmmsg. `onBatch` must finish with it before returning (the worker parses
 * each batch synchronously); anything kept longer must be copied (`Buffer.from(view)`).
 *
 * Per-host order: the kernel picks one socket of a SO_REUSEPORT group per datagram by hashing the
 * 4-tuple, so one sender address + port always reaches the same worker. See docs/native.md for the
 * one-address-several-ports corner case.
 */
import { createRequire } from 'node:module'
import { existsSync, readFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { dirname, join } from 'node:path'
import type { PacketBatch } from './batch.js'
import { NetconsdError } from '../errors.js'

/** The addon's raw interface (native/recv.c). Internal: use `openNativeSocket`. */
export interface NativeModule {
  readonly abi: number
  open: (opts: RawOpenOptions, cb: (count: number, rxMs: number) => void) => RawOpenResult
}

interface RawOpenOptions {
  address: string
  port: number
  recvBufferBytes: number
  reusePort: boolean
  batchSize: number
  slotBytes: number
  maxBatchesPerWakeup: number
  steerGroupSize: number
  ringBytes: number
}

interface RawHandle {
  close: () => void
  drain: (maxBatches?: number) => number
  kernelDrops: () => number | null
  stats: () => RawStats
  ref: () => void
  unref: () => void
  pause?: () => void
  resume?: () => void
}

interface RawStats {
  datagrams?: number
  batches?: number
  truncated?: number
  truncatedMaxBytes?: number
  slotTrims?: number
  readErrors?: number
  lastError?: string
  queuedBytes?: number
  kernelDrops?: number
  ringBytes?: number
  ringUsedBytes?: number
  ringFullWaits?: number
  ringTrims?: number
  ringResidentBytes?: number
}

interface RawOpenResult {
  handle: RawHandle
  data: ArrayBuffer
  offsets: ArrayBuffer
  lengths: ArrayBuffer
  addrs: ArrayBuffer
  ports: ArrayBuffer
  stride: number
  recvBufferBytes: number
  recvBufferForced: boolean
  boundPort: number
  family: 'ipv6' | 'ipv4'
}

/** The addon ABI this file speaks; bumped together with NC_ABI in native/recv.c. */
const ABI = 2

/**
 * Largest datagram delivered whole by default. UDP carries at most 65,507 payload bytes over IPv4
 * and 65,527 over IPv6 without jumbograms, so 65,535 never truncates and matches the JS path.
 * netconsole itself never sends more than 1000 bytes per datagram (MAX_PRINT_CHUNK); lower it to
 * shrink the slot memory (batchSize × ~maxDatagramBytes of address space, touched only as far as
 * datagrams actually reach).
 */
const DEFAULT_MAX_DATAGRAM_BYTES = 65535
/**
 * recvmmsg batches per readiness wakeup before yielding to the event loop (timers, messages, the
 * file sink's write completions). 8 × 512 datagrams is ~7 ms of work: at 32 a backlogged worker
 * ran ~28 ms per turn, so the file sink's next write waited that long, its pending lines
 * reached the push-back level and reading paused 25-50 times in 3 s at 450k msgs/s (-w 1);
 * at 8, 2-4 times. An extra turn costs one epoll_wait.
 */
const MAX_BATCHES_PER_WAKEUP = 8
const MAX_BATCH = 4096

export interface NativeSocketOptions {
  /** Bind address: `::` (dual-stack, the default everywhere), an IPv6 address, or IPv4 (bound as ::ffff:a.b.c.d). */
  address: string
  /** UDP port; 0 picks a free one (see `boundPort`). */
  port: number
  /** Requested SO_RCVBUF; SO_RCVBUFFORCE is tried first (may exceed net.core.rmem_max with CAP_NET_ADMIN). 0 keeps the kernel default. */
  recvBufferBytes: number
  /** SO_REUSEPORT: one socket per worker on the same port, spread by the kernel per 4-tuple. */
  reusePort: boolean
  /** Datagrams per recvmmsg (netconsd `-b`), 1..4096. */
  batchSize: number
  /** Datagrams longer than this are dropped and counted (`truncated`), never delivered cut. Default 65535. */
  maxDatagramBytes?: number
  /**
   * The number of sockets in the SO_REUSEPORT group (the worker count). When > 1, a classic BPF
   * program makes the kernel choose the socket by sender *address* alone, with netconsd's hash
   * (jhash2 % steerGroupSize, as src/ingest/hash.ts), so a host sending from several source ports
   * still reaches one worker. Socket i of the group is the i-th one bound. Default 0: the kernel's
   * 4-tuple hash.
   */
  steerGroupSize?: number
  /**
   * Bytes of the ring a reader thread of this socket's own fills (recv.c, "reader thread"): the
   * socket is read on that thread and the datagrams wait in the ring (32 bytes of header each)
   * until the calling thread takes them, so its pauses (garbage collection, a sink's write, the
   * scheduler) do not leave the socket unread. 0: no reader thread; the socket is read on the
   * calling thread's event loop. Default 0 here; the daemon's default is listen.receiveRingBytes.
   */
  ringBytes?: number
}

export interface NativeSocketStats {
  /** Datagrams delivered to onBatch. */
  datagrams: number
  /** recvmmsg calls that returned data. */
  batches: number
  /** Datagrams dropped because they were longer than maxDatagramBytes. */
  truncated: number
  /** Largest such datagram, bytes (what maxDatagramBytes would have to be). */
  truncatedMaxBytes: number
  /** Times the slot pages of a large datagram (> 8 KiB) were given back to the kernel (recv.c trim_slots). */
  slotTrims: number
  /** recvmmsg failures other than EAGAIN/EINTR. */
  readErrors: number
  lastError: string | null
  /** Bytes waiting in the kernel receive queue right now (SO_MEMINFO), null if unknown. */
  queuedBytes: number | null
  /** Same as kernelDrops(). */
  kernelDrops: number | null
  /** The reader thread's ring: its size, the bytes waiting in it now, and the times it was full (the reader stopped reading until there was room). 0 without a reader thread. */
  ringBytes: number
  ringUsedBytes: number
  ringFullWaits: number
  /** Times the reader gave an idle ring's pages beyond the first 256 KiB back to the kernel, and the ring's resident bytes now (mincore; -1 unknown). */
  ringTrims: number
  ringResidentBytes: number
}

export interface NativeSocket {
  /** Stops receiving and closes the socket now (the port is free when it returns). Idempotent. */
  close: () => void
  /**
   * Reads what is queued in the kernel right now and hands it to onBatch synchronously, up to
   * `maxBatches` recvmmsg calls (default 1024); returns the datagrams delivered. Call before close()
   * at shutdown so the receive queue is not thrown away. Not allowed from inside onBatch.
   */
  drain: (maxBatches?: number) => number
  /** SO_RCVBUF as the kernel reports it after setting (Linux doubles the request for overhead). */
  readonly recvBufferBytes: number
  /** True when SO_RCVBUFFORCE was allowed (the buffer could exceed net.core.rmem_max). */
  readonly recvBufferForced: boolean
  readonly boundPort: number
  /** `ipv6` (dual-stack) normally; `ipv4` on a host with IPv6 disabled. */
  readonly family: 'ipv6' | 'ipv4'
  /** Datagrams the kernel dropped for this socket since it opened (sk_drops via SO_MEMINFO; null if unsupported). */
  kernelDrops: () => number | null
  stats: () => NativeSocketStats
  /** Like dgram: an unref'd socket does not keep the event loop alive. */
  ref: () => void
  unref: () => void
  /**
   * Back-pressure: stop reading (the kernel queues, then drops and counts: /proc/net/udp drops,
   * `netconsd_socket_drops_total`), so excess datagrams cost this thread nothing; resume() reads again.
   */
  pause: () => void
  resume: () => void
}

const defaultAddonPath = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..', 'native', 'build', 'Release', 'netconsd_recv.node')

let cached: NativeLoadResult | undefined

export interface NativeLoadResult {
  module: NativeModule | null
  /** Why `module` is null (null when it loaded). */
  reason: string | null
}

/**
 * Loads the addon once per thread. Returns null when it is not available (not built, other OS,
 * wrong ABI); `nativeUnavailableReason()` says why. Never throws. `NETCONSD_NATIVE_ADDON`
 * overrides the path.
 */
export function loadNative (): NativeModule | null {
  cached ??= tryLoad(process.env.NETCONSD_NATIVE_ADDON ?? defaultAddonPath)
  return cached.module
}

/** Why `loadNative()` returns null (null when the addon loads). */
export function nativeUnavailableReason (): string | null {
  loadNative()
  return cached!.reason
}

/** Loads the addon from an explicit path, uncached (tests, diagnostics). */
export function loadNativeFrom (path: string): NativeLoadResult {
  return tryLoad(path)
}

function tryLoad (path: string): { module: NativeModule | null, reason: string | null } {
  if (process.platform !== 'linux') return { module: null, reason: `the native receive path is Linux-only (this is ${process.platform})` }
  if (!existsSync(path)) return { module: null, reason: `addon not built (${path} is missing; npm rebuild builds it, which needs a C compiler and Node's headers)` }
  try {
    const req = createRequire(import.meta.url)
    const m = req(path) as Partial<NativeModule>
    if (typeof m.open !== 'function' || m.abi !== ABI) {
      return { module: null, reason: `addon at ${path} speaks ABI ${String(m.abi)}, expected ${ABI} (rebuild it: npm rebuild)` }
    }
    return { module: m as NativeModule, reason: null }
  } catch (err) {
    return { module: null, reason: `addon at ${path} failed to load: ${(err as Error).message}` }
  }
}

function optionError (field: string, expected: string, found: unknown): NetconsdError {
  return new NetconsdError('NETCONSD_ERR_INGEST_OPTIONS', `Native receive option ${field} must be ${expected}; got ${String(found)}.`, { field, expected, found })
}

function checkInt (field: string, v: unknown, min: number, max: number): number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) throw optionError(field, `an integer in ${min}..${max}`, v)
  return v
}

/**
 * Opens a receive socket in the calling thread and calls `onBatch` once per recvmmsg batch.
 * Throws NETCONSD_ERR_NATIVE_UNAVAILABLE (no addon), NETCONSD_ERR_INGEST_OPTIONS (bad option) or
 * NETCONSD_ERR_INGEST_BIND (socket/bind failed; `errno` is the errno name, e.g. EADDRINUSE).
 */
export function openNativeSocket (opts: NativeSocketOptions, onBatch: (b: PacketBatch) => void): NativeSocket {
  const mod = loadNative()
  if (mod === null) {
    const reason = nativeUnavailableReason() ?? 'unknown'
    throw new NetconsdError('NETCONSD_ERR_NATIVE_UNAVAILABLE', `The native receive addon is not available: ${reason}. Use the JS receive path (--receive-path js) or rebuild (npm rebuild).`, { reason })
  }
  const port = checkInt('port', opts.port, 0, 65535)
  const batchSize = checkInt('batchSize', opts.batchSize, 1, MAX_BATCH)
  const recvBufferBytes = checkInt('recvBufferBytes', opts.recvBufferBytes, 0, 2 ** 31 - 1)
  const maxDatagramBytes = checkInt('maxDatagramBytes', opts.maxDatagramBytes ?? DEFAULT_MAX_DATAGRAM_BYTES, 1, 65535)
  const steerGroupSize = checkInt('steerGroupSize', opts.steerGroupSize ?? 0, 0, 65536)
  const ringBytes = checkInt('ringBytes', opts.ringBytes ?? 0, 0, 2 ** 31 - 1)
  if (typeof opts.address !== 'string' || opts.address === '') throw optionError('address', 'an IPv4 or IPv6 address', opts.address)

  // Port 0 with SO_REUSEPORT is a trap: the kernel may hand out a port that another SO_REUSEPORT
  // socket of the same user already holds and put us into *its* group (udp_lib_lport_inuse treats
  // a compatible reuseport socket as "not in use"), so two unrelated daemons would share traffic.
  // Retry until the ephemeral port is ours alone.
  if (port === 0 && opts.reusePort) {
    for (let attempt = 0; ; attempt++) {
      const s = openNativeSocket({ ...opts, port: 0, reusePort: false }, onBatch)
      const p = s.boundPort
      s.close()
      try {
        const sock = openNativeSocket({ ...opts, port: p }, onBatch)
        if (socketsOnPort(p) <= 1 || attempt >= 8) return sock
        sock.close()
      } catch (err) {
        if ((err as { errno?: string }).errno !== 'EADDRINUSE' || attempt >= 8) throw err
      }
    }
  }

  // One batch object for the socket's life: the addon writes the arrays in place and we only
  // update `count` and `rxMs`, so a batch costs no allocation at all.
  let batch: PacketBatch | undefined
  let raw: RawOpenResult
  try {
    raw = mod.open({
      address: opts.address,
      port,
      recvBufferBytes,
      reusePort: opts.reusePort === true,
      batchSize,
      slotBytes: maxDatagramBytes,
      maxBatchesPerWakeup: MAX_BATCHES_PER_WAKEUP,
      steerGroupSize,
      ringBytes
    }, (count, rxMs) => {
      const b = batch!
      b.count = count
      b.rxMs = rxMs
      onBatch(b)
    })
  } catch (err) {
    const e = err as { code?: string, syscall?: string, message?: string }
    if (e.code === 'EINVAL' && e.syscall === undefined) throw optionError('address', 'an IPv4 or IPv6 address', opts.address)
    const reader = e.syscall !== undefined && READER_SYSCALLS.has(e.syscall)
    throw new NetconsdError('NETCONSD_ERR_INGEST_BIND',
      `Cannot listen on UDP [${opts.address}]:${port}: ${e.message ?? String(err)}.` + (reader ? readerHint(e.syscall!) : bindHint(e.code)),
      { address: opts.address, port, errno: e.code, syscall: e.syscall, ...(reader ? { field: 'listen.receiveRingBytes' } : {}) }, { cause: err })
  }
  batch = {
    count: 0,
    // A Buffer view (no copy), so the worker decodes text straight out of the slots.
    data: Buffer.from(raw.data),
    offsets: new Uint32Array(raw.offsets),
    lengths: new Uint32Array(raw.lengths),
    addrs: new Uint8Array(raw.addrs),
    ports: new Uint16Array(raw.ports),
    rxMs: 0
  }
  const h = raw.handle
  return {
    close: () => { h.close() },
    drain: (maxBatches) => h.drain(maxBatches),
    recvBufferBytes: raw.recvBufferBytes,
    recvBufferForced: raw.recvBufferForced,
    boundPort: raw.boundPort,
    family: raw.family,
    kernelDrops: () => h.kernelDrops(),
    stats: () => {
      const s = h.stats()
      return {
        datagrams: s.datagrams ?? 0,
        batches: s.batches ?? 0,
        truncated: s.truncated ?? 0,
        truncatedMaxBytes: s.truncatedMaxBytes ?? 0,
        slotTrims: s.slotTrims ?? 0,
        readErrors: s.readErrors ?? 0,
        lastError: s.lastError ?? null,
        queuedBytes: s.queuedBytes ?? null,
        kernelDrops: s.kernelDrops ?? null,
        ringBytes: s.ringBytes ?? 0,
        ringUsedBytes: s.ringUsedBytes ?? 0,
        ringFullWaits: s.ringFullWaits ?? 0,
        ringTrims: s.ringTrims ?? 0,
        ringResidentBytes: s.ringResidentBytes ?? 0
      }
    },
    ref: () => { h.ref() },
    unref: () => { h.unref() },
    pause: () => { h.pause?.() },
    resume: () => { h.resume?.() }
  }
}

/** UDP sockets bound to local port `port` (IPv4 and IPv6 tables); 0 if /proc is unreadable. */
function socketsOnPort (port: number): number {
  let n = 0
  for (const f of ['/proc/net/udp', '/proc/net/udp6']) {
    let text: string
    try { text = readFileSync(f, 'utf8') } catch { continue }
    const hex = `:${port.toString(16).toUpperCase().padStart(4, '0')} `
    for (const line of text.split('\n')) {
      const local = line.trim().split(/\s+/)[1]
      if (local !== undefined && `${local.slice(local.lastIndexOf(':'))} ` === hex) n++
    }
  }
  return n
}

/** What the addon calls to set up the reader thread (recv.c m_open) rather than the socket. */
const READER_SYSCALLS = new Set(['pthread_create', 'eventfd', 'mmap', 'malloc', 'uv_async_init'])

function readerHint (syscall: string): string {
  return syscall === 'mmap' || syscall === 'malloc'
    ? ' The reader thread\'s ring (listen.receiveRingBytes) could not be allocated: lower listen.receiveRingBytes, or set it to 0 to read the socket on the worker\'s own thread.'
    : ' The socket\'s reader thread could not be started (a thread or process limit: systemd TasksMax, a cgroup\'s pids.max, ulimit -u): raise the limit, or set listen.receiveRingBytes to 0 to read the socket on the worker\'s own thread.'
}

function bindHint (code: string | undefined): string {
  switch (code) {
    case 'EADDRINUSE': return ' Another process holds the port without SO_REUSEPORT (or under another user); stop it or pick another port (-u).'
    case 'EADDRNOTAVAIL': return ' The address is not configured on this host; use :: or an address from `ip addr` (-a).'
    case 'EACCES': return ' Ports below 1024 need root or CAP_NET_BIND_SERVICE.'
    default: return ''
  }
}
