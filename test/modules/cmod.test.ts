/**
 * netconsd's C output modules run unchanged: real shared objects compiled here, loaded by the
 * daemon, called with netconsd's structures. The recorder module writes every call with every
 * field; the test checks them field by field against what the JS module API shows for the same
 * datagrams, on both receive paths, from IPv4 and IPv6 senders, with two workers.
 */
import { describe, test, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { copyFileSync, existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { cmodSkipReason, compileModule } from '../helpers/cmod.js'
import { startTestDaemon, sendDatagrams, waitFor, receivePaths, collectModule, type TestDaemon, type Collected } from '../helpers/daemon.js'
import { createModuleSink } from '../../src/sinks/module/index.js'
import { isSharedObject, loadCmodAddon } from '../../src/sinks/module/native.js'
import { parseDict } from '../../src/ncrx/decode.js'
import { pino } from 'pino'
import { NetconsdError } from '../../src/errors.js'
import type { SinkContext } from '../../src/sinks/types.js'
import { runCheckConfig } from '../../src/config/check.js'
import { PassThrough } from 'node:stream'
import { fixturesDir } from '../helpers/paths.js'

const skip = cmodSkipReason()
if (skip !== null) console.log(`# C output module tests skipped: ${skip}`)

const ctx = (workerCount = 2): SinkContext => ({ sinkId: 'm', thread: 0, workerCount, logger: pino({ level: 'silent' }), configDir: process.cwd() })

async function rejectsWith (p: Promise<unknown>, code: string, re: RegExp): Promise<void> {
  await assert.rejects(p, (err: unknown) => {
    assert.ok(err instanceof NetconsdError, String(err))
    assert.equal(err.code, code)
    assert.match(err.message, re)
    return true
  })
}

describe('C output modules: loading', { skip: skip ?? false }, () => {
  test('a module without netconsd_output_handler is NETCONSD_ERR_MODULE_LOAD naming the file and the symbol', async () => {
    const so = compileModule('no-handler')
    await rejectsWith(Promise.resolve(createModuleSink({ path: so }, ctx())), 'NETCONSD_ERR_MODULE_LOAD', /no-handler\.so.*netconsd_output_handler/)
  })

  test('init returning non-zero is NETCONSD_ERR_MODULE_INIT naming the file and the value', async () => {
    const so = compileModule('init-fails')
    await rejectsWith(Promise.resolve(createModuleSink({ path: so }, ctx(3))), 'NETCONSD_ERR_MODULE_INIT', /init-fails\.so.*netconsd_output_init\(3\) returned 1/)
  })

  test('an unloadable ELF file (truncated, wrong class) is NETCONSD_ERR_MODULE_LOAD with the loader\'s reason', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'netconsd-cmod-bad-'))
    const bad = join(dir, 'broken.so')
    writeFileSync(bad, Buffer.concat([Buffer.from([0x7f, 0x45, 0x4c, 0x46, 1, 1, 1, 0]), Buffer.alloc(56)]))
    assert.equal(isSharedObject(bad), true)
    await rejectsWith(Promise.resolve(createModuleSink({ path: bad }, ctx())), 'NETCONSD_ERR_MODULE_LOAD', /broken\.so failed to load: .+/)
  })

  test('shared objects are told apart by their ELF magic, not their name', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'netconsd-cmod-name-'))
    const odd = join(dir, 'recorder.plugin')
    copyFileSync(compileModule('recorder'), odd)
    process.env.CMOD_OUT = join(dir, 'out.txt')
    const sink = await createModuleSink({ path: odd }, ctx(1))
    assert.equal(sink.wantsWireBody, true)
    await sink.close()
    assert.deepEqual(readFileSync(join(dir, 'out.txt'), 'utf8'), 'init\t1\nexit\n')
    assert.equal(isSharedObject(join(dir, 'out.txt')), false)
  })

  test('check-config loads C modules (dlopen, symbols) and JS modules the same way, without running init', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'netconsd-cmod-check-'))
    process.env.CMOD_OUT = join(dir, 'out.txt')
    const cfg = join(dir, 'netconsd.json5')
    const write = (modules: string[]): void => writeFileSync(cfg, JSON.stringify({ version: 1, sinks: {}, rules: [], modules }))
    const run = async (): Promise<[number, string]> => {
      const stdout = new PassThrough()
      let o = ''
      stdout.on('data', (b: Buffer) => { o += b.toString() })
      const code = await runCheckConfig(cfg, { stdout, stderr: stdout, env: {} })
      return [code, o]
    }
    write([compileModule('recorder'), join(fixturesDir, 'modules', 'good.mjs')])
    let [code, out] = await run()
    assert.equal(code, 0, out)
    assert.match(out, /recorder\.so loads \(C shared object, defines handler, init, exit\)/)
    assert.match(out, /good\.mjs loads \(JS module, exports handler/)
    assert.equal(existsSync(join(dir, 'out.txt')), false, 'init was not run')
    write([compileModule('no-handler')]);
    [code, out] = await run()
    assert.equal(code, 1)
    assert.match(out, /no-handler\.so: NETCONSD_ERR_MODULE_LOAD: .*netconsd_output_handler/)
  })

  test('without the addon a .so module is refused at start-up with the reason, never ignored', async () => {
    const missing = join(tmpdir(), 'no-such-dir', 'netconsd_cmod.node')
    const r = loadCmodAddon(missing)
    assert.equal(r.addon, null)
    assert.match(r.reason, /not built/)
    process.env.NETCONSD_CMOD_ADDON = missing
    try {
      await rejectsWith(Promise.resolve(createModuleSink({ path: compileModule('recorder') }, ctx())), 'NETCONSD_ERR_MODULE_LOAD',
        /recorder\.so is a C shared object, and the native addon is not built .*C modules need the addon/)
    } finally {
      delete process.env.NETCONSD_CMOD_ADDON
    }
  })
})

function ext (seq: number, body: string, o: { level?: number, facility?: number, release?: string, frag?: [number, number] } = {}): Buffer {
  const prio = (o.facility ?? 0) * 8 + (o.level ?? 6)
  const frag = o.frag !== undefined ? `,ncfrag=${o.frag[0]}/${o.frag[1]}` : ''
  return Buffer.from(`${o.release !== undefined ? `${o.release},` : ''}${prio},${seq},${seq * 1000 + 7},-${frag};${body}`, 'latin1')
}

function fragments (seq: number, body: string, size: number): Buffer[] {
  const b = Buffer.from(body, 'latin1')
  const out: Buffer[] = []
  for (let off = 0; off < b.length; off += size) out.push(ext(seq, b.subarray(off, off + size).toString('latin1'), { frag: [off, b.length] }))
  return out
}

/* eslint-disable @stylistic/member-delimiter-style -- rows of fields, as recorder.c prints them */
interface CMsg {
  kind: 'msg'
  thread: number, workers: number, tid: number, addr: string, seq: number, ts: number, facility: number, level: number
  flags: string, byte42: number, emgBit: number, textLen: number, text: Buffer, textNul: boolean
  dictLen: number, dict: Buffer | null, dictNul: boolean, version: string, rxMono: number, rxReal: number
}
interface CBuf {
  kind: 'buf'
  thread: number, workers: number, tid: number, addr: string, srcAddr: string, port: number, v6family: boolean
  rcvTime: number, rcvFlags: number, rcvBytes: number, payload: Buffer, nul: boolean
}
/* eslint-enable @stylistic/member-delimiter-style */

function parseRecorder (path: string): { init: string[], exit: number, calls: Array<CMsg | CBuf>, lines: string[] } {
  const lines = existsSync(path) ? readFileSync(path, 'utf8').split('\n').filter((l) => l !== '') : []
  const calls: Array<CMsg | CBuf> = []
  const init: string[] = []
  let exit = 0
  for (const l of lines) {
    const f = l.split('\t')
    if (f[0] === 'init') init.push(f[1]!)
    else if (f[0] === 'exit') exit++
    else if (f[0] === 'msg') {
      calls.push({
        kind: 'msg', thread: +f[1]!, workers: +f[2]!, tid: +f[3]!, addr: f[4]!, seq: +f[5]!, ts: +f[6]!, facility: +f[7]!, level: +f[8]!,
        flags: f[9]!, byte42: +f[10]!, emgBit: +f[11]!, textLen: +f[12]!, text: Buffer.from(f[13]!, 'hex'), textNul: f[14] === '1',
        dictLen: +f[15]!, dict: f[15] === '-1' ? null : Buffer.from(f[16]!, 'hex'), dictNul: f[17] === '1', version: f[18]!, rxMono: +f[19]!, rxReal: +f[20]!
      })
    } else if (f[0] === 'buf') {
      calls.push({
        kind: 'buf', thread: +f[1]!, workers: +f[2]!, tid: +f[3]!, addr: f[4]!, srcAddr: f[5]!, port: +f[6]!, v6family: f[7] === '1',
        rcvTime: +f[8]!, rcvFlags: +f[9]!, rcvBytes: +f[10]!, payload: Buffer.from(f[11]!, 'hex'), nul: f[12] === '1'
      })
    } else {
      assert.fail(`recorder wrote an unexpected line: ${l}`)
    }
  }
  return { init, exit, calls, lines }
}

/** The kernel's `\xNN` unescaping, as a C module would do it. */
function unescape (b: Buffer): Buffer {
  return Buffer.from(b.toString('latin1').replace(/\\x([0-9a-f]{2})/g, (_m, h: string) => String.fromCharCode(parseInt(h, 16))), 'latin1')
}

for (const receivePath of receivePaths) {
  describe(`C output modules on the ${receivePath} receive path`, { skip: skip ?? false }, () => {
    let d: TestDaemon
    let out: string
    const t0 = Date.now()
    const hosts = ['127.0.0.1', '127.0.0.2', '127.0.0.3', '127.0.0.4', '127.0.0.5', '127.0.0.6', '::1']
    const extPerHost = 6
    before(async () => {
      const so = compileModule('recorder')
      out = join(mkdtempSync(join(tmpdir(), 'netconsd-cmod-e2e-')), 'calls.txt')
      process.env.CMOD_OUT = out
      // JS and C modules mixed, in argument order: the collect module shows the JS API's view.
      d = await startTestDaemon({ receivePath, modules: [collectModule, so] })
      await Promise.all(hosts.map(async (from, h) => {
        const pk: Buffer[] = []
        pk.push(ext(100, `host ${h} plain line\n`))
        pk.push(ext(101, `escaped \\x5c back\\x0aslash caf\\xc3\\xa9\n SUBSYSTEM=pci\n DEVICE=+pci:0000:00:19.0\n`, { level: 3, facility: 0 }))
        pk.push(ext(102, `from /dev/kmsg\n`, { facility: 1, level: 4, release: '6.12.0-test' }))
        pk.push(...fragments(103, `${'fragmented '.repeat(40)}end\n KEY=v\n`, 150).reverse())
        pk.push(ext(104, 'no newline at all'))
        pk.push(ext(105, `last before gap\n`))
        pk.push(Buffer.from(`[    1.000000] legacy console line from ${h}\n`))
        await sendDatagrams(d.port, pk, { from })
      }))
      await waitFor(() => d.collected().length >= hosts.length * (extPerHost + 1), 10_000, 'first round')
      // A gap (107 before 106), then the skipped seq late: it comes out `oos`; then a reboot (seq reset).
      await Promise.all(hosts.map(async (from) => { await sendDatagrams(d.port, [ext(107, 'after gap\n')], { from }) }))
      await sleep(700)
      await Promise.all(hosts.map(async (from) => { await sendDatagrams(d.port, [ext(106, 'late\n'), ext(3, 'rebooted\n')], { from }) }))
      await waitFor(() => d.collected().length >= hosts.length * (extPerHost + 4), 10_000, 'second round')
    })
    after(async () => { await d?.stop() })

    test('every call matches the JS module API view, field by field', async () => {
      const js = d.collected()
      const c = parseRecorder(out).calls
      assert.equal(c.length, js.length, 'one C call per message the JS module got')
      const key = (src: string, seq: number | null, legacy: boolean, text: string): string => `${src}|${legacy ? `L${text}` : seq}`
      const byKey = new Map<string, Collected>()
      for (const r of js) byKey.set(key(r.src, r.seq, r.legacy, r.text), r)
      let msgs = 0
      let bufs = 0
      for (const call of c) {
        assert.equal(call.workers, 2)
        if (call.kind === 'msg') {
          msgs++
          const r = byKey.get(key(call.addr, call.seq, false, ''))
          assert.ok(r !== undefined, `C saw ${call.addr} seq ${call.seq}, the JS module did not`)
          assert.equal(call.thread, r.thread)
          assert.equal(call.facility, r.facility)
          assert.equal(call.level, r.level)
          assert.equal(call.flags, `00${r.oos ? 1 : 0}${r.seqReset ? 1 : 0}0`, `flags of ${call.addr} ${call.seq}`)
          assert.equal(call.byte42, (r.oos ? 4 : 0) | (r.seqReset ? 8 : 0), 'bit fields where netconsd modules read them')
          assert.equal(call.emgBit, 0)
          assert.equal(call.ts, call.seq * 1000 + 7)
          // text: still escaped, exactly the text_len bytes, NUL-terminated
          assert.equal(call.text.length, call.textLen)
          assert.equal(call.textNul, true)
          assert.equal(unescape(call.text).toString('utf8'), r.text)
          assert.doesNotMatch(call.text.toString('latin1'), /\n/)
          if (call.dict === null) {
            assert.equal(r.text, 'no newline at all', 'dict is NULL only when the body has no newline')
          } else {
            assert.equal(call.dict.length, call.dictLen)
            assert.equal(call.dictNul, true)
            assert.deepEqual(parseDict(call.dict, 0, call.dict.length), r.dict)
          }
          assert.equal(call.version, r.release ?? '')
          assert.ok(call.rxReal >= t0 - 1000 && call.rxReal <= Date.now() + 1000, `rx_at_real ${call.rxReal}`)
          assert.ok(call.rxMono > 0)
        } else {
          bufs++
          const r = byKey.get(key(call.addr, null, true, call.payload.toString('utf8')))
          assert.ok(r !== undefined, `C saw a legacy datagram from ${call.addr} the JS module did not`)
          assert.equal(call.thread, r.thread)
          assert.equal(call.srcAddr, call.addr)
          assert.equal(call.v6family, true)
          assert.ok(call.port > 0)
          assert.equal(call.rcvBytes, call.payload.length)
          assert.equal(call.nul, true)
          assert.match(call.payload.toString(), /^\[ {4}1\.000000\] legacy console line from \d\n$/)
          assert.ok(call.rcvTime >= t0 - 1000 && call.rcvTime <= Date.now() + 1000)
        }
      }
      assert.equal(bufs, hosts.length)
      assert.equal(msgs, hosts.length * (extPerHost + 3))
    })

    test('the kernel\'s escaped text and the raw dictionary block, as libncrx hands them out', () => {
      const c = parseRecorder(out).calls.filter((x): x is CMsg => x.kind === 'msg')
      const esc = c.find((x) => x.seq === 101)!
      assert.equal(esc.text.toString('latin1'), 'escaped \\x5c back\\x0aslash caf\\xc3\\xa9')
      assert.equal(esc.dict!.toString('latin1'), ' SUBSYSTEM=pci\n DEVICE=+pci:0000:00:19.0\n')
      const plain = c.find((x) => x.seq === 100)!
      assert.equal(plain.dict!.length, 0, 'a record without dictionary has an empty, non-NULL dict')
      const frag = c.find((x) => x.seq === 103)!
      assert.equal(frag.text.toString('latin1'), `${'fragmented '.repeat(40)}end`)
      assert.equal(frag.dict!.toString('latin1'), ' KEY=v\n')
      assert.equal(c.find((x) => x.seq === 102)!.version, '6.12.0-test')
      assert.equal(c.find((x) => x.seq === 102)!.facility, 1)
      assert.ok(c.filter((x) => x.seq === 106).every((x) => x.flags[2] === '1'), 'the late seq is oos')
      assert.ok(c.filter((x) => x.seq === 3).every((x) => x.flags[2] === '1' || x.flags[3] === '1'), 'a seq far behind is oos or a reset, never in-stream')
      assert.ok(c.filter((x) => x.seq === 100).every((x) => x.flags[3] === '1'), 'a new host starts with a seq reset')
    })

    test('per host in order, each host on one worker thread, the workers calling concurrently from their own threads', () => {
      const c = parseRecorder(out).calls
      const threadOf = new Map<string, number>()
      const tidOf = new Map<number, Set<number>>()
      const lastSeq = new Map<string, number>()
      for (const call of c) {
        const t = threadOf.get(call.addr)
        if (t !== undefined) assert.equal(call.thread, t, `${call.addr} stays on one worker`)
        threadOf.set(call.addr, call.thread)
        assert.ok(call.thread >= 0 && call.thread < 2)
        if (!tidOf.has(call.thread)) tidOf.set(call.thread, new Set())
        tidOf.get(call.thread)!.add(call.tid)
        if (call.kind === 'msg' && call.seq >= 100 && call.seq !== 106) {
          assert.ok((lastSeq.get(call.addr) ?? 0) < call.seq, `${call.addr}: ${call.seq} after ${lastSeq.get(call.addr) ?? 0}`)
          lastSeq.set(call.addr, call.seq)
        }
      }
      for (const [t, tids] of tidOf) assert.equal(tids.size, 1, `worker ${t} calls from one OS thread`)
      if (tidOf.size === 2) assert.notDeepEqual([...tidOf.get(0)!], [...tidOf.get(1)!], 'two workers, two threads')
      assert.ok(!tidOf.has(-1))
      assert.ok([...tidOf.values()].every((s) => ![...s].includes(process.pid)), 'never on the main thread')
    })

    test('init once with the worker count before the first message; exit once, last, after every worker delivered', async () => {
      const before = parseRecorder(out)
      assert.deepEqual(before.init, ['2'])
      assert.equal(before.lines[0], 'init\t2')
      assert.equal(before.exit, 0)
      await d.stop()
      const r = parseRecorder(out)
      assert.deepEqual(r.init, ['2'])
      assert.equal(r.exit, 1)
      assert.equal(r.lines.at(-1), 'exit')
      assert.equal(r.calls.length, d.collected().length)
    })
  })
}
