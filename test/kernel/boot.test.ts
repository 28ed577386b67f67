/**
 * A real Linux kernel against the real daemon: scripts/kernel/netconsole-boot.sh boots Debian's
 * 6.1 cloud kernel in qemu (TCG); its netconsole (extended format) sends the replayed boot log,
 * the messages below (written to /dev/kmsg by the guest's /init) and a sysrq-c panic to the
 * daemon, which runs as a child process (`node dist/src/cli.js -u 0 MODULE...`) exactly as a
 * user would start it.
 *
 *   qemu guest ── netconsole UDP ──► slirp ──► 127.0.0.1:PORT ──► netconsd ──► collect modules
 *        └── filter-dump pcap of the guest NIC (what the kernel put on the wire: ground truth)
 *
 * Skipped (with the reason) when qemu or the cached kernel is missing: `.ci/run` runs the
 * script's `setup` step, so the test itself never downloads anything.
 */
import { test, type TestContext } from 'node:test'
import assert from 'node:assert/strict'
import { spawn, spawnSync, type ChildProcess } from 'node:child_process'
import { mkdtempSync, readFileSync, writeFileSync, existsSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { once } from 'node:events'
import type { Collected } from '../helpers/daemon.js'
import { repoRoot, fixturesDir, cliPath } from '../helpers/paths.js'
import { cmodSkipReason, compileModule } from '../helpers/cmod.js'

const script = join(repoRoot, 'scripts', 'kernel', 'netconsole-boot.sh')
const collectModule = join(fixturesDir, 'modules', 'collect-to-file.mjs')
const incidentModule = join(repoRoot, 'test', 'kernel', 'fixtures', 'record-incidents.mjs')
/** qemu is killed after this long; one TCG boot takes 10-20 s on 2 cores. */
const BOOT_TIMEOUT_S = 60

interface Message { line: string, text: string, facility: number, level: number }

/**
 * 6.1's /dev/kmsg takes at most 991 bytes per write (LOG_LINE_MAX 992 includes the newline), so
 * the long message is < 992 raw bytes; it is over 1000 on the wire because the extended format
 * escapes every byte >= 0x7f as `\xNN` (Documentation/ABI/testing/dev-kmsg), so netconsole must
 * split it into `ncfrag=` fragments (Documentation/networking/netconsole.rst).
 */
function longText (): string {
  let s = 'netconsd-e2e: long UTF-8 line'
  for (let k = 0; ; k++) {
    const chunk = ` [${String(k).padStart(3, '0')}] héllo € 日本語`
    if (Buffer.byteLength(s + chunk) > 960) return s
    s += chunk
  }
}

// Priority = facility * 8 + level. Userspace writes never get facility 0 (kern): a "<N>" prefix
// below 8 or no prefix at all is user (1), no prefix gets default_message_loglevel (4).
const MESSAGES: Message[] = [
  { line: '<14>netconsd-e2e: hello from a real kernel', text: 'netconsd-e2e: hello from a real kernel', facility: 1, level: 6 },
  { line: 'netconsd-e2e: no priority prefix', text: 'netconsd-e2e: no priority prefix', facility: 1, level: 4 },
  { line: '<3>netconsd-e2e: level 3 written as <3>', text: 'netconsd-e2e: level 3 written as <3>', facility: 1, level: 3 },
  { line: '<13>netconsd-e2e: UTF-8 héllo wörld € 日本語 🙂, back\\slash; semi,comma', text: 'netconsd-e2e: UTF-8 héllo wörld € 日本語 🙂, back\\slash; semi,comma', facility: 1, level: 5 },
  { line: `<12>${longText()}`, text: longText(), facility: 1, level: 4 }
]

/** One UDP payload the guest sent to the daemon's port, read from qemu's pcap of the guest NIC. */
interface WireDatagram { seq: number, frag: boolean, payload: Buffer }

/** Reads a classic pcap (Ethernet link type, as qemu's filter-dump writes) by hand, so the
 * ground truth does not depend on the daemon's own capture reader. */
function readWire (file: string, port: number): WireDatagram[] {
  const b = readFileSync(file)
  assert.equal(b.readUInt32LE(0), 0xa1b2c3d4, 'pcap magic (little-endian, µs)')
  assert.equal(b.readUInt32LE(20), 1, 'pcap link type Ethernet')
  const out: WireDatagram[] = []
  for (let off = 24; off + 16 <= b.length;) {
    const incl = b.readUInt32LE(off + 8)
    const f = b.subarray(off + 16, off + 16 + incl)
    off += 16 + incl
    if (f.length < 42 || f.readUInt16BE(12) !== 0x0800) continue // IPv4 only (the guest has no v6)
    const ihl = (f[14]! & 0x0f) * 4
    if (f[23] !== 17) continue // UDP
    const udp = f.subarray(14 + ihl)
    if (udp.readUInt16BE(2) !== port) continue
    const payload = udp.subarray(8, udp.readUInt16BE(4))
    const header = payload.subarray(0, payload.indexOf(0x3b)).toString('latin1')
    const fields = header.split(',')
    out.push({ seq: Number(fields[1]), frag: fields.some((x) => x.startsWith('ncfrag=')), payload })
  }
  return out
}

function readJsonLines<T> (file: string): T[] {
  if (!existsSync(file)) return []
  return readFileSync(file, 'utf8').split('\n').filter((l) => l !== '').map((l) => JSON.parse(l) as T)
}

async function waitFor (cond: () => boolean, ms: number): Promise<boolean> {
  const end = Date.now() + ms
  while (!cond()) {
    if (Date.now() > end) return false
    await new Promise((resolve) => setTimeout(resolve, 50))
  }
  return true
}

/** Exit code of a child, killing it after `ms` (null = it had to be killed). */
async function exitCode (child: ChildProcess, ms: number): Promise<number | null> {
  if (child.exitCode !== null) return child.exitCode
  const timer = setTimeout(() => child.kill('SIGKILL'), ms)
  const [code] = await once(child, 'exit') as [number | null]
  clearTimeout(timer)
  return code
}

/** Why the test cannot run here, or null. */
function notRunnable (): string | null {
  if (process.platform !== 'linux') return 'needs Linux (qemu, Debian kernel packages)'
  if (!existsSync(cliPath)) return `${cliPath} is not built`
  const r = spawnSync('bash', [script, 'status'], { encoding: 'utf8', timeout: 10_000 })
  if (r.status !== 0) return `kernel harness not ready: ${(r.stderr ?? '').trim() || `status exited ${String(r.status)}`}`
  return null
}

test('a real kernel panics into the real daemon: every record once, in order, reassembled', { timeout: (BOOT_TIMEOUT_S + 60) * 1000 }, async (t: TestContext) => {
  const why = notRunnable()
  if (why !== null) { t.skip(why); return }

  const dir = mkdtempSync(join(tmpdir(), 'netconsd-kernel-test-'))
  const collectOut = join(dir, 'collected.jsonl')
  const incidentsOut = join(dir, 'incidents.jsonl')
  const pcap = join(dir, 'guest.pcap')
  const messagesFile = join(dir, 'messages.txt')
  writeFileSync(messagesFile, MESSAGES.map((m) => m.line).join('\n') + '\n')

  // The daemon as a user starts it: port 0 so the kernel picks a free one, read back from the
  // "Listening." log line (no race between finding a free port and binding it).
  // netconsd's C module contract too: the recorder .so (test/fixtures/modules/c) beside the JS modules.
  const cmodWhy = cmodSkipReason()
  const cmodOut = join(dir, 'cmod.txt')
  const cModules = cmodWhy === null ? [compileModule('recorder', join(dir, 'recorder.so'))] : []
  const daemon = spawn(process.execPath, [cliPath, '-u', '0', '-w', '2', '--log-format', 'json', collectModule, incidentModule, ...cModules], {
    env: { ...process.env, COLLECT_OUT: collectOut, INCIDENTS_OUT: incidentsOut, CMOD_OUT: cmodOut },
    stdio: ['ignore', 'pipe', 'pipe']
  })
  let stderr = ''
  daemon.stderr.setEncoding('utf8').on('data', (s: string) => { stderr += s })
  daemon.stdout.resume()
  t.after(async () => {
    if (daemon.exitCode === null && daemon.signalCode === null) daemon.kill('SIGKILL')
    if (process.env.NETCONSD_KEEP_KERNEL_TEST === undefined) rmSync(dir, { recursive: true, force: true })
  })
  const logLines = (): Array<Record<string, any>> => stderr.split('\n').slice(0, -1).filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as Record<string, any>)
  const diag = (): string => `\n--- daemon stderr (tail) ---\n${stderr.split('\n').slice(-30).join('\n')}`

  const listening = await waitFor(() => logLines().some((l) => l.msg === 'Listening.') || daemon.exitCode !== null, 20_000)
  const port = logLines().find((l) => l.msg === 'Listening.')?.port as number | undefined
  assert.ok(listening && typeof port === 'number' && port > 0, `daemon did not log "Listening." with a port${diag()}`)

  // Asynchronous, so this process keeps draining the daemon's stderr pipe during the boot (a full
  // pipe would block the daemon's logging, and so its receive loop).
  const bootChild = spawn('bash', [script, 'run', '--port', String(port), '--messages', messagesFile, '--pcap', pcap,
    '--out', dir, '--timeout', String(BOOT_TIMEOUT_S)], { stdio: ['ignore', 'ignore', 'pipe'] })
  let bootStderr = ''
  bootChild.stderr.setEncoding('utf8').on('data', (s: string) => { bootStderr += s })
  const bootCode = await exitCode(bootChild, (BOOT_TIMEOUT_S + 15) * 1000)
  const consoleTail = (): string => existsSync(join(dir, 'console.log'))
    ? `\n--- guest console (tail) ---\n${readFileSync(join(dir, 'console.log'), 'latin1').split('\n').slice(-25).join('\n')}`
    : ''
  assert.equal(bootCode, 0, `boot script failed (exit ${String(bootCode)}):\n${bootStderr}${consoleTail()}`)

  const wire = readWire(pcap, port)
  const wireSeqs = [...new Set(wire.map((d) => d.seq))].sort((a, b) => a - b)
  assert.ok(wireSeqs.length > 300, `the guest sent its replayed boot log (${wireSeqs.length} records on the wire)`)
  const lastSeq = wireSeqs.at(-1)!

  // slirp handed every datagram to the host socket before qemu exited; give the daemon time to
  // receive them (records held for a gap would come out at the latest on the stop below).
  const collected = (): Collected[] => readJsonLines<Collected & { exit?: true }>(collectOut).filter((r) => r.exit === undefined)
  await waitFor(() => collected().some((r) => r.seq === lastSeq), 10_000)

  daemon.kill('SIGTERM')
  const code = await exitCode(daemon, 30_000)
  assert.equal(code, 0, `daemon exit code after SIGTERM${diag()}`)
  assert.ok(readJsonLines<{ exit?: true }>(collectOut).some((r) => r.exit === true), 'output module exit() ran (graceful stop)')
  const errors = logLines().filter((l) => typeof l.level === 'number' && l.level >= 50)
  assert.deepEqual(errors, [], 'no error-level log lines from the daemon')

  const got = collected()
  const ext = got.filter((r) => !r.legacy)

  await t.test('every extended record arrives exactly once, in seq order, from one source', () => {
    assert.equal(got.length, ext.length, 'no legacy records from an extended-format target')
    assert.deepEqual(ext.map((r) => r.seq), wireSeqs, 'the records the kernel sent, each once, in seq order')
    assert.equal(new Set(ext.map((r) => r.src)).size, 1, 'one qemu process = one sender address:port')
    assert.equal(ext[0]!.seqReset, true, 'a new host starts a stream')
    assert.deepEqual(ext.filter((r) => r.incomplete || r.oos).map((r) => r.seq), [], 'nothing incomplete or out of order')
    // lostBefore counts seqs missing before a record; only the kernel's own skips (records below
    // the console loglevel) may show, and those are gaps in the wire capture as well.
    const expectedLost = ext.map((r, i) => i === 0 ? 0 : r.seq! - ext[i - 1]!.seq! - 1)
    assert.deepEqual(ext.map((r) => r.lostBefore), expectedLost, 'lostBefore only where the kernel skipped')
  })

  await t.test('the messages /init wrote arrive with their text (UTF-8) and priority', () => {
    let prevSeq = -1
    for (const m of MESSAGES) {
      const hits = ext.filter((r) => r.text === m.text)
      assert.equal(hits.length, 1, `exactly one record with text ${JSON.stringify(m.text.slice(0, 60))}`)
      const r = hits[0]!
      assert.equal(r.facility, m.facility, `facility of ${m.line.slice(0, 40)}`)
      assert.equal(r.level, m.level, `level of ${m.line.slice(0, 40)}`)
      assert.ok(r.seq! > prevSeq, 'in the order they were written')
      prevSeq = r.seq!
    }
  })

  await t.test('the message longer than one datagram is fragmented on the wire and reassembled whole', () => {
    const long = MESSAGES.at(-1)!
    const r = ext.find((x) => x.text === long.text)
    assert.ok(r !== undefined, 'reassembled text equals what was written')
    const frags = wire.filter((d) => d.seq === r.seq)
    assert.ok(frags.length >= 2 && frags.every((d) => d.frag), `sent as ncfrag fragments (${frags.length} datagrams)`)
    assert.ok(frags.every((d) => d.payload.length <= 1000), 'each fragment fits netconsole\'s 1000-byte datagram')
  })

  await t.test('a C output module gets the same records as netconsd\'s libncrx would hand out', { skip: cmodWhy ?? false }, () => {
    const lines = readFileSync(cmodOut, 'latin1').split('\n').filter((l) => l !== '')
    assert.equal(lines[0], 'init\t2')
    assert.equal(lines.at(-1), 'exit', 'exit() once, after the workers stopped')
    const msgs = lines.filter((l) => l.startsWith('msg\t')).map((l) => l.split('\t'))
    assert.deepEqual(msgs.map((f) => Number(f[5])), ext.map((r) => r.seq), 'the same seqs, in order')
    for (let i = 0; i < msgs.length; i++) {
      const f = msgs[i]!
      const text = Buffer.from(f[13]!, 'hex').toString('latin1')
      const unescaped = Buffer.from(text.replace(/\\x([0-9a-f]{2})/g, (_m, h: string) => String.fromCharCode(parseInt(h, 16))), 'latin1').toString('utf8')
      assert.equal(unescaped, ext[i]!.text, `text of seq ${f[5]!}`)
      assert.ok(!/[\x00-\x1f\x7f-\xff]/.test(text), 'still in the kernel\'s escaped form')
      assert.equal(Number(f[1]), ext[i]!.thread)
    }
  })

  await t.test('the panic arrives, after the test messages', () => {
    const panic = ext.filter((r) => r.text.startsWith('Kernel panic - not syncing'))
    assert.equal(panic.length, 1, 'one "Kernel panic - not syncing" line')
    assert.match(panic[0]!.text, /sysrq triggered crash/)
    assert.equal(panic[0]!.facility, 0, 'kernel facility')
    assert.equal(panic[0]!.level, 0, 'KERN_EMERG')
    const lastMessage = ext.find((r) => r.text === MESSAGES.at(-1)!.text)!
    assert.ok(panic[0]!.seq! > lastMessage.seq!)
  })

  // Incidents reach output modules through their optional record(rec) export. While that path is
  // not wired end to end (seen: the worker hands the detector the unresolved `incidents` config
  // section, so `enabled` is undefined; importOutputModule keeps only handler/init/exit, so
  // record() is never called), no incident arrives at all and this check is reported as TODO
  // instead of failing the suite. Once any incident arrives, it is checked strictly.
  const incidents = readJsonLines<Record<string, any>>(incidentsOut)
  await t.test('the daemon reports one panic incident for it', () => {
    const panics = incidents.filter((i) => i.type === 'panic')
    assert.equal(panics.length, 1, `one panic incident (got types: ${incidents.map((i) => i.type).join(', ') || 'none'})`)
    const p = panics[0]!
    assert.match(String(p.message), /sysrq triggered crash/)
    assert.equal(p.trigger, 'sysrq', 'the sysrq line before the report is recognised')
    assert.ok(typeof p.signature === 'string' && p.signature !== '', 'a grouping signature')
    const panicSeq = ext.find((r) => r.text.startsWith('Kernel panic - not syncing'))!.seq!
    assert.ok(p.firstSeq <= panicSeq && p.lastSeq >= panicSeq, 'the incident spans the panic line')
    assert.equal(p.lost, 0, 'no lines missing from the report')
  })
})
