/**
 * `netconsd check-config FILE` and `netconsd test-routes FILE...`: validate everything a config
 * refers to, print every problem, and return the exit code (0 ok, 1 problems). Nothing is sent.
 */
import { relative } from 'node:path'
import { loadConfig, formatConfigErrors } from './load.js'
import { runCasesFile, formatCasesRun } from './cases.js'
import type { Config } from './types.js'
import { createSink } from '../sinks/registry.js'
import { probeOutputModule, resolveModulePath } from '../sinks/module/load.js'
import { pino } from 'pino'
import { redactText } from '../redact.js'

export interface CommandIO {
  stdout: NodeJS.WritableStream
  stderr: NodeJS.WritableStream
  env: NodeJS.ProcessEnv
}

/**
 * The same streams with every line passed through `redactText`: a sink's health message or a
 * config error may quote a URL, and check-config output ends up in CI logs and tickets.
 */
function redactingIo (io: CommandIO): CommandIO {
  const wrap = (w: NodeJS.WritableStream): NodeJS.WritableStream => ({
    write: (chunk: string | Uint8Array, ...rest: unknown[]) => (w.write as (...a: unknown[]) => boolean)(typeof chunk === 'string' ? redactText(chunk) : chunk, ...rest)
  }) as unknown as NodeJS.WritableStream
  return { stdout: wrap(io.stdout), stderr: wrap(io.stderr), env: io.env }
}

function rel (p: string): string {
  const r = relative(process.cwd(), p)
  return r === '' || r.startsWith('..') ? p : r
}

/** Runs route case files; returns [passed, failed] and prints results. Load errors count as failures. */
async function runCaseFiles (files: readonly string[], config: Config | undefined, io: CommandIO): Promise<[number, number]> {
  let passed = 0
  let failed = 0
  for (const f of files) {
    try {
      const opts: { config?: Config, env: NodeJS.ProcessEnv } = { env: io.env }
      if (config !== undefined) opts.config = config
      const run = await runCasesFile(f, opts)
      const ok = run.results.filter((r) => r.ok).length
      passed += ok
      failed += run.results.length - ok
      io.stdout.write(`${rel(run.file)} (against ${rel(run.config.file)}): ${ok}/${run.results.length} passed\n${formatCasesRun(run)}\n`)
    } catch (err) {
      failed++
      io.stderr.write(`${rel(f)}: ${formatConfigErrors(err)}\n`)
    }
  }
  return [passed, failed]
}

/**
 * Every output module is loaded as start-up would (a JS module imported, a C module dlopen()ed)
 * and its entry points checked, without calling init (its side effects belong to the daemon).
 * Returns the count that failed.
 */
async function checkModules (config: Config, io: CommandIO): Promise<number> {
  let bad = 0
  for (const [id, sc] of Object.entries(config.sinks)) {
    if (sc.type !== 'module') continue
    const path = resolveModulePath(String(sc.path), config.dir)
    try {
      io.stdout.write(`module ${id}: ${rel(path)} loads (${await probeOutputModule(path)}).\n`)
    } catch (err) {
      bad++
      const code = (err as { code?: string }).code
      io.stdout.write(`module ${id}: ${rel(path)}: ${code !== undefined ? `${code}: ` : ''}${(err as Error).message}\n`)
    }
  }
  return bad
}

/**
 * Health check of every sink, as at start-up: each is created here (one instance, as worker 0
 * would), asked `health()` within `timeoutMs`, and closed. Output modules are checked by
 * checkModules (loaded, not initialised) and pagers have no peer of their own. Returns the unhealthy count.
 */
async function checkSinkHealth (config: Config, io: CommandIO, timeoutMs = 5000): Promise<number> {
  let bad = 0
  const logger = pino({ level: 'silent' })
  for (const [id, sc] of Object.entries(config.sinks)) {
    if (sc.type === 'module' || sc.type === 'pager') continue
    let verdict: { ok: boolean, message?: string }
    try {
      const sink = await createSink(id, sc, { sinkId: id, thread: 0, workerCount: config.workers.count, logger, configDir: config.dir })
      try {
        let timer: NodeJS.Timeout | undefined
        const timeout = new Promise<{ ok: boolean, message: string }>((resolve) => { timer = setTimeout(() => resolve({ ok: false, message: `no answer within ${timeoutMs} ms` }), timeoutMs) })
        verdict = sink.health !== undefined ? await Promise.race([sink.health(), timeout]) : { ok: true }
        clearTimeout(timer)
      } finally {
        await sink.close(0)
      }
    } catch (err) {
      verdict = { ok: false, message: (err as Error).message }
    }
    if (!verdict.ok) bad++
    io.stdout.write(`sink ${id} (${sc.type}): ${verdict.ok ? 'healthy' : `UNHEALTHY: ${verdict.message ?? 'no reason given'}`}\n`)
  }
  return bad
}

export async function runCheckConfig (file: string, rawIo: CommandIO, opts: { health?: boolean } = {}): Promise<number> {
  const io = redactingIo(rawIo)
  let config: Config
  try {
    config = await loadConfig({ file, env: io.env })
  } catch (err) {
    io.stderr.write(formatConfigErrors(err) + '\n')
    return 1
  }
  const sinkIds = Object.keys(config.sinks)
  io.stdout.write(`${rel(config.file)}: valid. ${sinkIds.length} sink(s) [${sinkIds.join(', ')}], ${config.rules.length} rule(s), listening on [${config.listen.address}]:${config.listen.port}.\n`)
  const unhealthy = await checkModules(config, io) + (opts.health === false ? 0 : await checkSinkHealth(config, io))
  if (config.tests.length === 0) {
    io.stdout.write('No route test cases (add "tests": ["routes/*.cases.json5"] to run some).\n')
    return unhealthy === 0 ? 0 : 1
  }
  const [passed, failed] = await runCaseFiles(config.tests, config, io)
  io.stdout.write(`Route cases: ${passed} passed, ${failed} failed.\n`)
  return failed === 0 && unhealthy === 0 ? 0 : 1
}

export async function runTestRoutes (files: readonly string[], io: CommandIO): Promise<number> {
  if (files.length === 0) {
    io.stderr.write('test-routes: give one or more *.cases.json5 files.\n')
    return 1
  }
  const [passed, failed] = await runCaseFiles(files, undefined, io)
  io.stdout.write(`${passed} passed, ${failed} failed.\n`)
  return failed === 0 ? 0 : 1
}
