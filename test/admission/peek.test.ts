import { test } from 'node:test'
import assert from 'node:assert/strict'
import { readFileSync, readdirSync } from 'node:fs'
import { join } from 'node:path'
import { peekLevel, containsPanic } from '../../src/admission/peek.js'
import { kernelFixturesDir } from '../helpers/paths.js'

const b = (s: string): Buffer => Buffer.from(s, 'latin1')

test('peekLevel reads the level from extended headers, with or without a release', () => {
  assert.equal(peekLevel(b('6,1042,83756215,-;EXT4-fs mounted\n')), 6)
  assert.equal(peekLevel(b('0,1,2,-;Kernel panic - not syncing: x\n')), 0)
  assert.equal(peekLevel(b('12,1043,83800001,-;Hello world!\n')), 4, 'facility user, level 4')
  assert.equal(peekLevel(b('6.6.0-rc1,3,102,5002,-;release prepended\n')), 3)
  assert.equal(peekLevel(b('6,107,5007,-,caller=T123,ncfrag=0/2000;frag\n')), 6)
  assert.equal(peekLevel(b('[   12.345678] e1000e: eth0 NIC Link is Up\n')), null)
  assert.equal(peekLevel(b('')), null)
  // Inside a packed batch: only [off, off+len) counts.
  const packed = b('xxxx2,5,6,-;hi\nyyyy')
  assert.equal(peekLevel(packed, 4, 11), 2)
})

test('peekLevel agrees with the kernel captures: a level for every extended datagram, none for legacy', () => {
  let ext = 0; let legacy = 0
  for (const dir of readdirSync(kernelFixturesDir, { withFileTypes: true })) {
    if (!dir.isDirectory()) continue
    const lines = readFileSync(join(kernelFixturesDir, dir.name, 'payloads.jsonl'), 'utf8').split('\n').filter(Boolean)
    for (const line of lines) {
      const p = Buffer.from((JSON.parse(line) as { b64: string }).b64, 'base64')
      const level = peekLevel(p)
      if (dir.name.includes('-ext-')) {
        assert.ok(level !== null && level >= 0 && level <= 7, `${dir.name}: ${p.toString('latin1', 0, 60)}`)
        ext++
      } else if (level === null) {
        legacy++
      }
    }
  }
  assert.ok(ext > 100 && legacy > 100, `${ext} ${legacy}`)
})

test('containsPanic finds the banner in extended and legacy panics, within the given range only', () => {
  let panics = 0
  for (const name of ['6.1-ext-panic', '6.1-legacy-panic', '6.12-legacy-panic']) {
    const lines = readFileSync(join(kernelFixturesDir, name, 'payloads.jsonl'), 'utf8').split('\n').filter(Boolean)
    if (lines.some((l) => containsPanic(Buffer.from((JSON.parse(l) as { b64: string }).b64, 'base64')))) panics++
  }
  assert.equal(panics, 3)
  const p = b('aaaKernel panic - not syncing: Fatal exception\nbbb')
  assert.equal(containsPanic(p), true)
  assert.equal(containsPanic(p, 10, 20), false)
  assert.equal(containsPanic(b('6,1,1,-;kernel panic mention in lowercase\n')), false)
})
