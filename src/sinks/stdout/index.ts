/**
 * `type: "stdout"` sink: one line per record on standard output.
 * `format: "printer"` (default) is C netconsd's printer.so format (kernel messages and incidents;
 * host events have no printer form and are not printed); `json` is one JSON object per line.
 * Each worker writes whole lines with one write(2) per event-loop turn, so workers never tear lines.
 */
import type { Sink, SinkFactory, SinkStats } from '../types.js'
import type { NetconsRecord } from '../../types.js'
import { formatPrinterLine, LineWriter } from '../../modules/printer.js'

export interface StdoutSinkOptions {
  format?: 'printer' | 'json'
}

/** The JSON line form shared by the stdout and file sinks (no `raw`: `text` carries it). */
export function recordToJson (rec: NetconsRecord): Record<string, unknown> {
  const o: Record<string, unknown> = {
    kind: rec.kind,
    format: rec.format,
    host: rec.host.name,
    address: rec.host.address,
    receivedAt: new Date(rec.receivedAt).toISOString(),
    facility: rec.facility,
    level: rec.level,
    seq: rec.seq,
    tsUsec: rec.tsUsec,
    text: rec.text
  }
  if (Object.keys(rec.host.labels).length > 0) o.labels = rec.host.labels
  if (rec.release !== null) o.release = rec.release
  if (rec.dict.length > 0) o.dict = rec.dict
  for (const f of ['contStart', 'cont', 'oos', 'seqReset', 'incomplete'] as const) if (rec[f]) o[f] = true
  if (rec.lostBefore > 0) o.lostBefore = rec.lostBefore
  if (Object.keys(rec.attributes).length > 0) o.attributes = rec.attributes
  if (rec.incident !== undefined) o.incident = rec.incident
  if (rec.event !== undefined) o.event = rec.event
  return o
}

export const createStdoutSink: SinkFactory<StdoutSinkOptions> = (options) => {
  const json = options.format === 'json'
  const out = new LineWriter(1, json ? 'utf8' : 'latin1')
  let sent = 0
  let closed = false
  let droppedClosed = 0
  const sink: Sink = {
    // The printer format prints the kernel's text as it came: ncrx keeps the wire body for it.
    wantsWireBody: !json,
    write (rec) {
      if (closed) { droppedClosed++; return }
      // netconsd's printer prints the kernel's messages only; a host event (new host, reboot, loss)
      // is netconsd-ts's own record and has no printer form (it would read as a kernel line).
      if (!json && rec.kind === 'event') return
      out.push(json ? JSON.stringify(recordToJson(rec)) + '\n' : formatPrinterLine(rec))
      sent++
    },
    async flush () { out.flush() },
    async close () { out.flush(); closed = true },
    stats (): SinkStats { return { sent, failed: 0, retried: 0, dropped: { closed: droppedClosed }, queueDepth: 0 } }
  }
  return sink
}
