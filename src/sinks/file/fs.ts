/**
 * The file-system calls the file sink makes, behind one small interface so tests can inject
 * faults (ENOSPC after N bytes, EACCES on open) where a real full disk cannot be arranged.
 */
import { promises as fsp, constants } from 'node:fs'

export interface WritableFile {
  /** One writev(2) of the buffers in order; may be short, like write(2). */
  writev (bufs: Buffer[]): Promise<{ bytesWritten: number }>
  stat (): Promise<{ size: number, mtimeMs: number }>
  close (): Promise<void>
}

export interface FileSystem {
  /** Opens for appending (`O_APPEND | O_CREAT | O_WRONLY`). */
  openAppend (path: string, mode: number): Promise<WritableFile>
  mkdirp (dir: string, mode: number): Promise<void>
  rename (from: string, to: string): Promise<void>
  unlink (path: string): Promise<void>
  readdir (dir: string): Promise<string[]>
  exists (path: string): Promise<boolean>
  /** Creates and removes a probe file: is the directory writable now? */
  probeWritable (dir: string): Promise<void>
}

export const nodeFs: FileSystem = {
  async openAppend (path, mode) {
    const fh = await fsp.open(path, constants.O_APPEND | constants.O_CREAT | constants.O_WRONLY, mode)
    return {
      writev: async (bufs) => await fh.writev(bufs),
      stat: async () => await fh.stat(),
      close: async () => { await fh.close() }
    }
  },
  async mkdirp (dir, mode) { await fsp.mkdir(dir, { recursive: true, mode }) },
  async rename (from, to) { await fsp.rename(from, to) },
  async unlink (path) { await fsp.unlink(path) },
  async readdir (dir) { return await fsp.readdir(dir) },
  async exists (path) {
    try { await fsp.access(path); return true } catch { return false }
  },
  async probeWritable (dir) {
    const p = `${dir}/.netconsd-probe-${process.pid}-${Math.random().toString(36).slice(2)}`
    const fh = await fsp.open(p, 'wx', 0o600)
    try {
      await fh.write('probe\n')
    } finally {
      await fh.close()
      await fsp.unlink(p)
    }
  }
}
