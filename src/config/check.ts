/**
 * `netconsd check-config FILE` and `netconsd test-routes FILE...`: validate everything a config
 * refers to, print every problem, and return the exit code (0 ok, 1 problems). Nothing is sent.
 */
import { relative } from 'node:path'
import { loadConfig, formatConfigErrors } from './load.js'
import { runCasesFile, formatCasesRun } from '../router/cases.js'
import type { Config } from './types.js'

export interface CommandIO {
  stdout: NodeJS.WritableStream
  stderr: NodeJS.WritableStream
  env: NodeJS.ProcessEnv
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

export async function runCheckConfig (file: string, io: CommandIO): Promise<number> {
  let config: Config
  try {
    config = await loadConfig({ file, env: io.env })
  } catch (err) {
    io.stderr.write(formatConfigErrors(err) + '\n')
    return 1
  }
  const sinkIds = Object.keys(config.sinks)
  io.stdout.write(`${rel(config.file)}: valid. ${sinkIds.length} sink(s) [${sinkIds.join(', ')}], ${config.rules.length} rule(s), listening on [${config.listen.address}]:${config.listen.port}.\n`)
  if (config.tests.length === 0) {
    io.stdout.write('No route test cases (add "tests": ["routes/*.cases.json5"] to run some).\n')
    return 0
  }
  const [passed, failed] = await runCaseFiles(config.tests, config, io)
  io.stdout.write(`Route cases: ${passed} passed, ${failed} failed.\n`)
  return failed === 0 ? 0 : 1
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
