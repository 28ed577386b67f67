import { test } from 'node:test'
import assert from 'node:assert/strict'
import { extendedRecord, fragmentRecord, escapeText, legacyLine } from '../../src/blaster/messages.js'

test('fragmentation reproduces the kernel byte-exact example (research spec §10.6)', () => {
  let x = ''
  for (let i = 0; i < 300; i++) x += String(i).padStart(4, '0') + ' '
  const rec = Buffer.from(`6,1200,99887766,-;${x}\n`)
  const frags = fragmentRecord(rec)
  assert.equal(frags.length, 2)
  assert.equal(frags[0]!.length, 1000)
  assert.equal(frags[0]!.subarray(0, 32).toString(), '6,1200,99887766,-,ncfrag=0/1501;')
  assert.equal(frags[1]!.length, 567)
  assert.equal(frags[1]!.subarray(0, 34).toString(), '6,1200,99887766,-,ncfrag=968/1501;')
  assert.deepEqual(fragmentRecord(Buffer.from('6,1,1,-;short\n')), [Buffer.from('6,1,1,-;short\n')])
})

test('escaping and record layout follow the kernel', () => {
  assert.equal(escapeText('tab\there and back\\slash and café'), 'tab\\x09here and back\\x5cslash and caf\\xc3\\xa9')
  assert.equal(extendedRecord({ seq: 339, tsUsec: 5140900, text: 'eth0 up', dict: [['SUBSYSTEM', 'pci'], ['DEVICE', '+pci:0000:00:19.0']] }).toString(),
    '6,339,5140900,-;eth0 up\n SUBSYSTEM=pci\n DEVICE=+pci:0000:00:19.0\n')
  assert.equal(extendedRecord({ facility: 1, level: 4, seq: 1, tsUsec: 2, text: 'x', release: '6.12.0' }).toString(), '6.12.0,12,1,2,-;x\n')
  assert.equal(legacyLine(12345678, 'e1000e: eth0 NIC Link is Up').toString(), '[   12.345678] e1000e: eth0 NIC Link is Up\n')
})
