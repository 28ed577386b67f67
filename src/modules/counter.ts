/**
 * `counter` output module: counts messages and checks per-host order, for the benchmark and
 * tests. At exit it writes one JSON line to stderr (or to $NETCONSD_COUNTER_OUT if set):
 * `{"counter": {messages, legacy, extended, hosts, outOfOrder, lost}}`.
 */
import { appendFileSync } from 'node:fs'
import type { NetconsRecord } from '../types.js'

let messages = 0
let legacy = 0
let outOfOrder = 0
let lost = 0
const lastSeq = new Map<string, number>()

export function handler (_t: number, src: string, buf: NetconsRecord | null, msg: NetconsRecord | null): void {
  messages++
  if (buf !== null) { legacy++; return }
  if (msg === null || msg.seq === null) return
  lost += msg.lostBefore
  const prev = lastSeq.get(src)
  if (prev !== undefined && msg.seq <= prev && !msg.seqReset && !msg.oos) outOfOrder++
  lastSeq.set(src, msg.seq)
}

export function exit (): void {
  const line = JSON.stringify({ counter: { messages, legacy, extended: messages - legacy, hosts: lastSeq.size, outOfOrder, lost } }) + '\n'
  const out = process.env.NETCONSD_COUNTER_OUT
  if (out !== undefined && out !== '') appendFileSync(out, line)
  else process.stderr.write(line)
}
