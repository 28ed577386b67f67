/**
 * Every real-kernel capture replayed over real UDP into a running daemon (2 workers, real
 * threads): extended captures come out exactly once per record, in seq order; legacy captures
 * come out as one legacy buffer per datagram, text as sent.
 */
import { test, describe, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { readdirSync } from 'node:fs'
import { kernelFixturesDir } from '../helpers/paths.js'
import { startTestDaemon, sendDatagrams, waitFor, fixturePayloads, receivePaths, type TestDaemon } from '../helpers/daemon.js'

const captures = readdirSync(kernelFixturesDir, { withFileTypes: true }).filter((d) => d.isDirectory()).map((d) => d.name).sort()

/** seq of an extended datagram, read independently of the daemon's parser. */
function headerSeq (p: Buffer): number {
  const header = p.subarray(0, p.indexOf(0x3b)).toString('latin1').split(',')
  if (header[0]!.includes('.')) header.shift()
  return Number(header[1])
}

for (const receivePath of receivePaths) {
describe(`${receivePath} receive path`, () => {
  let d: TestDaemon
  before(async () => { d = await startTestDaemon({ receivePath }) })
  after(async () => { await d.stop() })

  // Each capture is sent from its own loopback address, so each is one host with its own stream.
  captures.forEach((name, i) => {
    test(`capture ${name} comes out whole and in order`, async () => {
      const from = `127.0.9.${i + 1}`
      const src = `::ffff:${from}`
      const payloads = fixturePayloads(name)
      await sendDatagrams(d.port, payloads, { from })
      const mine = (): ReturnType<typeof d.collected> => d.collected().filter((r) => r.src === src)
      if (name.includes('-legacy-')) {
        await waitFor(() => mine().length >= payloads.length, 10_000, `${payloads.length} legacy records`)
        const got = mine()
        assert.equal(got.length, payloads.length)
        for (const [k, r] of got.entries()) {
          assert.equal(r.legacy, true)
          assert.equal(r.seq, null)
          assert.equal(r.text, payloads[k]!.toString('utf8'), `datagram ${k} text as sent`)
        }
        return
      }
      const seqs = [...new Set(payloads.map(headerSeq))].sort((a, b) => a - b)
      await waitFor(() => mine().length >= seqs.length, 10_000, `${seqs.length} extended records`)
      // Allow the gap timers to fire for anything still held, then compare exactly.
      await new Promise((resolve) => setTimeout(resolve, 300))
      const got = mine()
      assert.deepEqual(got.map((r) => r.seq), seqs, 'every record exactly once, in seq order')
      assert.ok(got.every((r) => !r.legacy && !r.incomplete && !r.oos))
      assert.equal(got[0]!.seqReset, true, 'a new host starts a stream')
      // 6.12 may cut a record at its 2048-byte cap inside an escape (`...\\xc3\\`): only whole escapes decode.
      assert.ok(got.every((r) => !/\\x[0-9a-f]{2}/.test(r.text)), 'escapes decoded')
      if (name === '6.1-ext-basic') {
        const e = got.find((r) => r.text.startsWith('knc: 960 bytes of UTF-8 e-acute: '))
        assert.ok(e !== undefined, 'the 3742-byte é record arrived reassembled')
        // The guest wrote a fixed-size line that cuts the last é in half: the lone 0xc3 decodes to U+FFFD.
        assert.match(e.text.slice('knc: 960 bytes of UTF-8 e-acute: '.length), /^é{450,}\uFFFD$/)
      }
      if (name === '6.12-ext-release-cmdline') {
        assert.ok(got.every((r) => r.release === '6.12.95+deb12-cloud-amd64'), 'release prefix parsed')
      }
      if (name.endsWith('-ext-basic')) {
        assert.ok(got.some((r) => r.dict.some(([k]) => k === 'SUBSYSTEM') && r.dict.some(([k]) => k === 'DEVICE')), 'dictionary pairs parsed')
      }
    })
  })
})
}
