#!/usr/bin/env node
/**
 * Command line, compatible with C netconsd's flags (`-w -l -b -a -u -g -h`, `-p` as in its README,
 * output modules as positional arguments) plus the config file and the offline tools.
 */
import { parseArgs } from 'node:util'
import { resolve } from 'node:path'
import { readFileSync } from 'node:fs'
import { NetconsdError } from './errors.js'
import { redactText } from './redact.js'
import type { Config } from './config/types.js'

export const USAGE = `Usage:
  netconsd [options] [MODULE ...]          run the daemon
  netconsd check-config FILE [--no-health] validate a config (schema, references, regexes,
                                           module paths, route test cases, sink health checks);
                                           exit 1 on problems
  netconsd test-routes FILE ...            run route test cases (*.cases.json5)
  netconsd replay CAPTURE [-c FILE] [--send]
                                           feed a capture (JSONL fixture, pcap, pcapng) through ncrx
                                           and the router; print where each record would go
  netconsd incidents FILE ...              print the kernel incidents found in captures (JSON lines)

Options (daemon):
  -c, --config FILE       JSON5 config file (default: built-in: port 1514, print to stdout)
  -w, --workers N         worker threads, 1..256 (default 2); a source address always maps to one worker
  -l, --listeners N       listener sockets with SO_REUSEPORT (default 1; JS path needs Node >= 22.12)
  -b, --batch N           datagrams per receive batch, 1..4096 (default 512)
  -a, --address ADDR      bind address (default ::, dual-stack; an IPv4 address binds ::ffff:ADDR)
  -u, -p, --port PORT     UDP port (default 1514)
  -g, --gc INTERVAL/AGE   every INTERVAL ms forget hosts idle for more than AGE ms (default off)
      --receive-path P    auto | native | js (default auto: native recvmmsg addon when it loads)
      --log-level L       trace | debug | info | warn | error | fatal | silent (default info)
      --log-format F      json | pretty | auto (default auto: pretty when stderr is a TTY)
  -h, --help              show this help
  -V, --version           print the version

MODULE is a JS output module (ES module or CommonJS) exporting handler(thread, src, buf, msg)
and optionally init(workerCount) and exit(), or a C module (.so) built for netconsd (loaded by
the native addon). With modules and no config file, only the modules
receive messages (as in netconsd); otherwise they receive every message besides the configured sinks.

Signals: SIGTERM/SIGINT stop gracefully (held messages delivered, sinks flushed);
SIGHUP reloads the config (a bad config keeps the running one) and reopens files.`

function usageError (message: string, field: string): NetconsdError {
  return new NetconsdError('NETCONSD_ERR_CLI_USAGE', message, { field })
}

type OptionSpec = NonNullable<Parameters<typeof parseArgs>[0]>['options']

/** A subcommand's flags: an unknown one is a usage error (exit 2), never a file name or a stack. */
function parseCommandArgs (args: string[], options: OptionSpec): { values: Record<string, string | boolean | undefined>, positionals: string[] } {
  try {
    return parseArgs({ args, options, allowPositionals: true, strict: true })
  } catch (err) {
    throw usageError(`${(err as Error).message} (see --help)`, 'argv')
  }
}

function intFlag (v: string | undefined, name: string, min: number, max: number): number | undefined {
  if (v === undefined) return undefined
  if (!/^\d+$/.test(v)) throw usageError(`${name} expects a whole number from ${min} to ${max}, got "${v}".`, name)
  const n = Number(v)
  if (n < min || n > max) throw usageError(`${name} expects a whole number from ${min} to ${max}, got ${n}.`, name)
  return n
}

export interface RunArgs {
  configFile?: string
  modules: string[]
  overrides: Record<string, unknown>
  receivePath?: 'auto' | 'native' | 'js'
  logLevel?: string
  logFormat?: 'json' | 'pretty' | 'auto'
}

/** Parses daemon flags. Throws NETCONSD_ERR_CLI_USAGE naming the flag. */
export function parseRunArgs (argv: string[]): RunArgs | 'help' | 'version' {
  let parsed
  try {
    parsed = parseArgs({
      args: argv,
      allowPositionals: true,
      strict: true,
      options: {
        config: { type: 'string', short: 'c' },
        workers: { type: 'string', short: 'w' },
        listeners: { type: 'string', short: 'l' },
        batch: { type: 'string', short: 'b' },
        address: { type: 'string', short: 'a' },
        port: { type: 'string', short: 'u' },
        'port-p': { type: 'string', short: 'p' },
        gc: { type: 'string', short: 'g' },
        'receive-path': { type: 'string' },
        'log-level': { type: 'string' },
        'log-format': { type: 'string' },
        help: { type: 'boolean', short: 'h' },
        version: { type: 'boolean', short: 'V' }
      }
    })
  } catch (err) {
    throw usageError(`${(err as Error).message} (see --help)`, 'argv')
  }
  const v = parsed.values
  if (v.help === true) return 'help'
  if (v.version === true) return 'version'
  const overrides: Record<string, unknown> = {}
  const listen: Record<string, unknown> = {}
  const workers: Record<string, unknown> = {}
  const w = intFlag(v.workers, '-w', 1, 256)
  if (w !== undefined) workers.count = w
  const b = intFlag(v.batch, '-b', 1, 4096)
  if (b !== undefined) workers.batchSize = b
  const l = intFlag(v.listeners, '-l', 1, 64)
  if (l !== undefined) listen.listeners = l
  const port = intFlag(v.port ?? v['port-p'], '-u/-p', 0, 65535)
  if (port !== undefined) listen.port = port
  if (v.address !== undefined) {
    if (!/^[0-9a-fA-F:.]+(%\w+)?$/.test(v.address)) throw usageError(`-a expects an IPv4 or IPv6 address, got "${v.address}".`, '-a')
    listen.address = v.address
  }
  if (v.gc !== undefined) {
    const m = /^(\d+)\/(\d+)$/.exec(v.gc)
    if (m === null) throw usageError(`-g expects INTERVAL/AGE in ms (e.g. 60000/600000), got "${v.gc}".`, '-g')
    const interval = Number(m[1]); const age = Number(m[2])
    if (age < interval) throw usageError(`-g: the GC age (${age} ms) must be at least the interval (${interval} ms).`, '-g')
    overrides.ncrx = { gcIntervalMs: interval, gcAgeMs: age }
  }
  const rp = v['receive-path']
  if (rp !== undefined && rp !== 'auto' && rp !== 'native' && rp !== 'js') throw usageError(`--receive-path expects auto, native or js, got "${rp}".`, '--receive-path')
  if (rp !== undefined) listen.receivePath = rp
  const lf = v['log-format']
  if (lf !== undefined && lf !== 'json' && lf !== 'pretty' && lf !== 'auto') throw usageError(`--log-format expects json, pretty or auto, got "${lf}".`, '--log-format')
  const levels = ['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent']
  if (v['log-level'] !== undefined && !levels.includes(v['log-level'])) throw usageError(`--log-level expects one of ${levels.join(', ')}, got "${v['log-level']}".`, '--log-level')
  if (Object.keys(listen).length > 0) overrides.listen = listen
  if (Object.keys(workers).length > 0) overrides.workers = workers
  if (v['log-level'] !== undefined) overrides.log = { level: v['log-level'] }
  const out: RunArgs = { modules: parsed.positionals.map((p) => resolve(p)), overrides }
  if (v.config !== undefined) out.configFile = v.config
  if (rp !== undefined) out.receivePath = rp
  if (v['log-level'] !== undefined) out.logLevel = v['log-level']
  if (lf !== undefined) out.logFormat = lf
  return out
}

async function runDaemon (args: RunArgs): Promise<number> {
  const { createLogger } = await import('./log.js')
  const { loadConfig, formatConfigErrors } = await import('./config/load.js')
  const { Daemon } = await import('./daemon.js')
  const bootLog = createLogger({ level: args.logLevel ?? 'info', format: args.logFormat ?? 'auto' })
  const load = async (fileText?: string): Promise<Config> => {
    const opts: Parameters<typeof loadConfig>[0] = { env: process.env, overrides: { ...args.overrides, modules: args.modules } }
    if (args.configFile !== undefined) opts.file = args.configFile
    if (fileText !== undefined) opts.fileText = fileText
    // netconsd semantics: modules on the command line without a config file are the only output.
    else if (args.modules.length > 0) opts.source = { value: { version: 1, sinks: {}, rules: [] }, dir: process.cwd(), name: '<command line>' }
    return await loadConfig(opts)
  }
  let config: Config
  try {
    config = await load()
  } catch (err) {
    process.stderr.write(redactText(formatConfigErrors(err)) + '\n')
    return 1
  }
  const log = createLogger({ level: args.logLevel ?? config.log.level, format: args.logFormat ?? 'auto' })
  const opts: ConstructorParameters<typeof Daemon>[0] = { config, logger: log }
  if (args.receivePath !== undefined) opts.receivePath = args.receivePath
  // What this run is made of, so the log answers "which config, which sinks, which packs?".
  log.info({
    config: config.file,
    sinks: Object.entries(config.sinks).map(([id, s]) => `${id} (${s.type})`),
    rules: config.rules.length,
    include: config.include,
    modules: config.modules
  }, `Loaded ${config.file === '<built-in>' ? 'the built-in config' : config.file}: ${Object.keys(config.sinks).length} sink(s), ${config.rules.length} rule(s), ${config.include.length} include pattern(s), ${config.modules.length} module(s).`)
  const daemon = new Daemon(opts)
  // Signal handlers go in before start(): a ^C while the sockets come up (right after "Listening.")
  // must stop the daemon gracefully, not kill it with Node's default action.
  let signalled: string | undefined
  let onSignal = (signal: string): void => { signalled ??= signal }
  process.once('SIGTERM', () => onSignal('SIGTERM'))
  process.once('SIGINT', () => onSignal('SIGINT'))
  try {
    await daemon.start()
  } catch (err) {
    // A NetconsdError is the operator's to fix (port in use, addon missing) and says how: its code
    // and message, no stack. Anything else is a bug, and the stack is for its report.
    if (err instanceof NetconsdError) log.fatal({ code: err.code }, `Start-up failed: ${err.message}`)
    else log.fatal({ err }, `Start-up failed: ${(err as Error).message}`)
    return 1
  }
  bootLog.flush?.()

  // Reloads run one after another, but each SIGHUP reads the config file when it arrives: a
  // signal queued behind a slow reload evaluates the file as it was then, not as it is later.
  let reloading = Promise.resolve()
  let hup = 0
  process.on('SIGHUP', () => {
    const n = ++hup
    let text: string | undefined
    if (args.configFile !== undefined) {
      try {
        text = readFileSync(args.configFile, 'utf8')
      } catch {
        text = undefined // the load below reports why it cannot be read
      }
    }
    reloading = reloading.then(async () => {
      log.info({ sighup: n }, 'SIGHUP: reloading the config (as the file was when the signal arrived) and reopening files.')
      daemon.reopen()
      let next: Config
      try {
        next = await load(text)
      } catch (err) {
        log.error({ sighup: n, errors: (err as { errors?: unknown }).errors, err }, `Reload refused, the running config stays: ${formatConfigErrors(err)}`)
        daemon.reloadRefused()
        return
      }
      const r = await daemon.reload(next)
      if (r.ok) log.info({ sighup: n }, 'Config reloaded.')
      else log.error({ sighup: n, errors: r.errors.map((e) => e.message) }, 'Reload failed in a worker; the running config stays.')
    })
  })
  return await new Promise<number>((resolveExit) => {
    const stop = (signal: string): void => {
      log.info({ signal }, `Signal ${signal}: stopping.`)
      void daemon.stop().then(() => resolveExit(0), (err: unknown) => { log.error({ err }, 'Shutdown failed.'); resolveExit(1) })
    }
    onSignal = stop
    if (signalled !== undefined) stop(signalled)
  })
}

export async function main (argv: string[]): Promise<number> {
  const [cmd, ...rest] = argv
  const io = { stdout: process.stdout, stderr: process.stderr, env: process.env }
  try {
    switch (cmd) {
      case 'check-config': {
        const files = parseCommandArgs(rest, { 'no-health': { type: 'boolean' } }).positionals
        if (files.length !== 1) throw usageError('check-config takes exactly one FILE (and optionally --no-health).', 'check-config')
        const { runCheckConfig } = await import('./config/check.js')
        return await runCheckConfig(files[0]!, io, { health: !rest.includes('--no-health') })
      }
      case 'test-routes': {
        if (rest.length === 0) throw usageError('test-routes takes one or more FILEs.', 'test-routes')
        const { runTestRoutes } = await import('./config/check.js')
        return await runTestRoutes(rest, io)
      }
      case 'replay': {
        const p = parseCommandArgs(rest, { config: { type: 'string', short: 'c' }, send: { type: 'boolean' } })
        if (p.positionals.length !== 1) throw usageError('replay takes exactly one CAPTURE.', 'replay')
        const { runReplay } = await import('./capture/replay.js')
        const o: { config?: string, send?: boolean } = { send: p.values.send === true }
        if (typeof p.values.config === 'string') o.config = p.values.config
        return await runReplay(p.positionals[0]!, o, io)
      }
      case 'incidents': {
        if (rest.length === 0) throw usageError('incidents takes one or more capture FILEs.', 'incidents')
        parseCommandArgs(rest, {})
        const { runIncidents } = await import('./incidents/command.js')
        return await runIncidents(rest, io)
      }
      default: {
        const args = parseRunArgs(cmd === 'run' ? rest : argv)
        if (args === 'help') { process.stdout.write(USAGE + '\n'); return 0 }
        if (args === 'version') { process.stdout.write((await import('./version.js')).VERSION + '\n'); return 0 }
        return await runDaemon(args)
      }
    }
  } catch (err) {
    if (err instanceof NetconsdError && err.code === 'NETCONSD_ERR_CLI_USAGE') {
      process.stderr.write(`netconsd: ${redactText(err.message)}\n`)
      return 2
    }
    // An operator's problem (a file that cannot be read, a port in use) is one line, not a stack.
    if (err instanceof NetconsdError) {
      process.stderr.write(`netconsd: ${err.message} (${err.code})\n`)
      return 1
    }
    throw err
  }
}

// Resolve symlinks: npm installs the `netconsd` bin as a link to this file.
const isMain = process.argv[1] !== undefined &&
  import.meta.url === (await import('node:url')).pathToFileURL((await import('node:fs')).realpathSync(process.argv[1])).href
if (isMain) {
  // `netconsd … | head`: the reader left, so there is nobody to tell; end quietly, as cat does.
  process.stdout.on('error', (err: NodeJS.ErrnoException) => {
    if (err.code === 'EPIPE') process.exit(0)
    throw err
  })
  main(process.argv.slice(2)).then((code) => { process.exitCode = code }, (err: unknown) => {
    process.stderr.write(`netconsd: ${redactText((err as Error)?.stack ?? String(err))}\n`)
    process.exitCode = 1
  })
}
