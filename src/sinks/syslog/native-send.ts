/**
 * The UDP half of the native addon (native/send.c, in the same .node as the receive path):
 * sendmmsg(2) from one buffer per batch. Loaded once per thread; null when the addon is missing
 * or predates send.c, and the UDP transport then uses node:dgram.
 */
import { createRequire } from 'node:module'
import { existsSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'

export interface NativeSend {
  /** A non-blocking UDP socket connect()ed to address:port; returns the fd. Throws with `code`. */
  udpConnect (address: string, port: number, ipv6: boolean, sndbuf: number): number
  /**
   * Sends datagrams `from`..`count-1` (lengths in `lens`, back to back in `buf`), at most
   * `maxPerCall` per sendmmsg; returns how many went (fewer when the send buffer is full).
   * Throws with `code` and `sent` on other errors.
   */
  udpSendBatch (fd: number, buf: Buffer, lens: Uint32Array, from: number, count: number, maxPerCall: number): number
  udpClose (fd: number): void
}

const defaultPath = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..', '..', 'native', 'build', 'Release', 'netconsd_recv.node')
let cached: NativeSend | null | undefined

export function loadNativeSend (): NativeSend | null {
  if (cached !== undefined) return cached
  cached = null
  const path = process.env.NETCONSD_NATIVE_ADDON ?? defaultPath
  if (process.platform !== 'linux' || !existsSync(path)) return null
  try {
    const m = createRequire(import.meta.url)(path) as Partial<NativeSend>
    if (typeof m.udpSendBatch === 'function' && typeof m.udpConnect === 'function' && typeof m.udpClose === 'function') cached = m as NativeSend
  } catch { /* not loadable here: the dgram path */ }
  return cached
}
