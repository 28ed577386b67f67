/**
 * Loading JS output modules — the counterpart of netconsd's dlopen()ed `.so` modules.
 *
 * A module exports `handler(thread, src, buf, msg)` (required) and optionally `init(workerCount)`
 * and `exit()`. ES modules and CommonJS both work (CommonJS exports arrive as `default`). Every
 * worker thread has its own JS realm, so each worker loads its own instance and calls its `init`.
 */
import { isAbsolute, resolve } from 'node:path'
import { pathToFileURL } from 'node:url'
import { existsSync } from 'node:fs'
import { NetconsdError } from '../../errors.js'
import type { NetconsRecord } from '../../types.js'

export type ModuleHandler = (thread: number, src: string, buf: NetconsRecord | null, msg: NetconsRecord | null) => unknown

export interface OutputModule {
  path: string
  handler: ModuleHandler
  init?: (workerCount: number) => unknown
  exit?: () => unknown
  /** Optional: receives every record routed to the module, incidents and events included. */
  record?: (rec: NetconsRecord) => unknown
  /** Optional export `wantsWireBody = true`: records carry `wire`, the kernel's escaped body (see src/sinks/module/escape.ts). */
  wantsWireBody?: boolean
}

export function resolveModulePath (path: string, baseDir: string): string {
  return isAbsolute(path) ? path : resolve(baseDir, path)
}

/** Imports and checks a module. Throws NETCONSD_ERR_MODULE_LOAD naming the file and the reason. */
export async function importOutputModule (path: string): Promise<OutputModule> {
  if (!existsSync(path)) {
    throw new NetconsdError('NETCONSD_ERR_MODULE_LOAD', `Output module ${path} does not exist.`, { path, reason: 'not found' })
  }
  let ns: Record<string, unknown>
  try {
    ns = await import(pathToFileURL(path).href) as Record<string, unknown>
  } catch (err) {
    throw new NetconsdError('NETCONSD_ERR_MODULE_LOAD', `Output module ${path} failed to load: ${(err as Error).message}`,
      { path, reason: (err as Error).message }, { cause: err })
  }
  // CommonJS (`module.exports = { handler }`) and `export default { handler }` arrive as `default`.
  // The default object wins when it has the handler: cjs-module-lexer may detect only some of
  // CommonJS's named exports (e.g. not method shorthands), so the namespace can be partial.
  const def = ns.default as Record<string, unknown> | null | undefined
  const src = (typeof def === 'object' && def !== null && typeof def.handler === 'function') ? def : ns
  const { handler, init, exit, record, wantsWireBody } = src
  if (typeof handler !== 'function') {
    throw new NetconsdError('NETCONSD_ERR_MODULE_LOAD',
      `Output module ${path} does not export a handler(thread, src, buf, msg) function.`,
      { path, reason: `handler is ${typeof handler}`, exports: Object.keys(src) })
  }
  for (const [name, fn] of [['init', init], ['exit', exit], ['record', record]] as const) {
    if (fn !== undefined && typeof fn !== 'function') {
      throw new NetconsdError('NETCONSD_ERR_MODULE_LOAD', `Output module ${path} exports ${name} that is not a function.`, { path, reason: `${name} is ${typeof fn}` })
    }
  }
  const mod: OutputModule = { path, handler: handler as ModuleHandler }
  if (typeof init === 'function') mod.init = init as (n: number) => unknown
  if (typeof exit === 'function') mod.exit = exit as () => unknown
  if (typeof record === 'function') mod.record = record as (rec: NetconsRecord) => unknown
  if (wantsWireBody === true) mod.wantsWireBody = true
  return mod
}

/** Calls `init(workerCount)`; a throw or rejection becomes NETCONSD_ERR_MODULE_INIT naming the file. */
export async function initOutputModule (mod: OutputModule, workerCount: number): Promise<void> {
  if (mod.init === undefined) return
  try {
    await mod.init(workerCount)
  } catch (err) {
    throw new NetconsdError('NETCONSD_ERR_MODULE_INIT', `Output module ${mod.path} init() failed: ${(err as Error)?.message ?? String(err)}`,
      { path: mod.path, reason: (err as Error)?.message ?? String(err) }, { cause: err })
  }
}

/**
 * Loads a module without initialising it and says what it is, for check-config: a C shared object
 * is dlopen()ed and its symbols checked, a JS module imported and its exports checked.
 */
export async function probeOutputModule (path: string): Promise<string> {
  const { isSharedObject, probeSharedObject } = await import('./native.js')
  if (isSharedObject(path)) return probeSharedObject(path)
  const m = await importOutputModule(path)
  return `JS module, exports ${['handler', ...(m.init !== undefined ? ['init'] : []), ...(m.exit !== undefined ? ['exit'] : [])].join(', ')}`
}
