/**
 * Webhook body renderers: the record view (what templates and the generic preset see) and the
 * exact body shapes of Slack incoming webhooks, PagerDuty Events API v2 and Alertmanager
 * `POST /api/v2/alerts`. Pure functions, exported for the incidents/paging code.
 */
import { createHash } from 'node:crypto'
import type { NetconsRecord } from '../../types.js'
import { displayAddress } from '../syslog/fields.js'

export const LEVEL_NAMES: readonly string[] = ['emerg', 'alert', 'crit', 'err', 'warning', 'notice', 'info', 'debug']
const FACILITY_NAMES: readonly string[] = [
  'kern', 'user', 'mail', 'daemon', 'auth', 'syslog', 'lpr', 'news', 'uucp', 'cron', 'authpriv', 'ftp',
  'ntp', 'security', 'console', 'solaris-cron', 'local0', 'local1', 'local2', 'local3', 'local4', 'local5', 'local6', 'local7'
]

/** Incident types that are "the machine is down or corrupt": paged as critical. */
const CRITICAL_INCIDENTS = new Set(['panic', 'oops', 'bug', 'gpf', 'hard_lockup', 'kasan', 'mce'])

export type AlertSeverity = 'critical' | 'error' | 'warning' | 'info'

/** Record fields a template may use (the roots of `{{path}}`). */
export const VIEW_FIELDS: ReadonlySet<string> = new Set([
  'kind', 'format', 'host', 'src', 'srcPort', 'thread', 'seq', 'facility', 'facilityName', 'level', 'levelName',
  'severity', 'tsUsec', 'receivedAt', 'time', 'text', 'summary', 'dict', 'dictList', 'release', 'contStart', 'cont',
  'oos', 'seqReset', 'incomplete', 'lostBefore', 'attributes', 'incident', 'event', 'suppressed', 'sinkId'
])

export interface RecordView {
  kind: string
  format: string
  host: { name: string, address: string, labels: Record<string, string> }
  src: string
  srcPort: number
  thread: number
  seq: number | null
  facility: number
  facilityName: string
  level: number | null
  levelName: string | null
  /** critical | error | warning | info, as the alerting presets use it. */
  severity: AlertSeverity
  tsUsec: number | null
  /** Arrival, ms since the epoch. */
  receivedAt: number
  /** Arrival as ISO 8601. */
  time: string
  text: string
  /** One line: the incident title, or the first line of the text; at most 200 characters. */
  summary: string
  /** Dictionary/userdata as an object (first value of a repeated key). */
  dict: Record<string, string>
  dictList: Array<[string, string]>
  release: string | null
  contStart: boolean
  cont: boolean
  oos: boolean
  seqReset: boolean
  incomplete: boolean
  lostBefore: number
  attributes: Record<string, string>
  incident: Record<string, unknown> | null
  event: Record<string, unknown> | null
  /** Records of the same rate-limit key dropped since the last one sent. */
  suppressed: number
  sinkId: string
}

export interface RenderContext {
  sinkId: string
  /** Rate-limit suppression count for this record (0 when none). */
  suppressed?: (rec: NetconsRecord) => number
}

function truncate (s: string, max: number): string {
  return s.length <= max ? s : s.slice(0, max - 1) + '…'
}

/** critical/error/warning/info from the incident type or the syslog level. */
export function alertSeverity (rec: NetconsRecord): AlertSeverity {
  if (rec.incident !== undefined) {
    if (CRITICAL_INCIDENTS.has(rec.incident.type)) return 'critical'
    if (rec.level === null || rec.level > 3) return 'error'
  }
  const l = rec.level
  if (l === null) return 'info'
  if (l <= 2) return 'critical'
  if (l === 3) return 'error'
  if (l === 4) return 'warning'
  return 'info'
}

export function summarize (rec: NetconsRecord): string {
  const base = rec.incident?.title ?? rec.text.split('\n', 1)[0] ?? ''
  return truncate(base.trim(), 200)
}

export function recordView (rec: NetconsRecord, ctx: RenderContext): RecordView {
  const dict: Record<string, string> = {}
  for (const [k, v] of rec.dict) if (!Object.hasOwn(dict, k)) dict[k] = v
  return {
    kind: rec.kind,
    format: rec.format,
    host: { name: rec.host.name, address: rec.host.address, labels: { ...rec.host.labels } },
    src: rec.src,
    srcPort: rec.srcPort,
    thread: rec.thread,
    seq: rec.seq,
    facility: rec.facility,
    facilityName: FACILITY_NAMES[rec.facility] ?? String(rec.facility),
    level: rec.level,
    levelName: rec.level === null ? null : LEVEL_NAMES[rec.level] ?? null,
    severity: alertSeverity(rec),
    tsUsec: rec.tsUsec,
    receivedAt: rec.receivedAt,
    time: new Date(rec.receivedAt).toISOString(),
    text: rec.text,
    summary: summarize(rec),
    dict,
    dictList: rec.dict.map(([k, v]) => [k, v]),
    release: rec.release,
    contStart: rec.contStart,
    cont: rec.cont,
    oos: rec.oos,
    seqReset: rec.seqReset,
    incomplete: rec.incomplete,
    lostBefore: rec.lostBefore,
    attributes: { ...rec.attributes },
    incident: rec.incident === undefined ? null : { ...rec.incident, frames: [...rec.incident.frames] },
    event: rec.event === undefined ? null : { ...rec.event },
    suppressed: ctx.suppressed?.(rec) ?? 0,
    sinkId: ctx.sinkId
  }
}

function topFrames (rec: NetconsRecord, n = 8): string[] {
  return rec.incident?.frames.slice(0, n) ?? []
}

function shortHash (s: string): string {
  return createHash('sha256').update(s).digest('hex').slice(0, 16)
}

/** A stable key for "the same problem on the same host": PagerDuty `dedup_key`, Alertmanager grouping. */
export function dedupKey (rec: NetconsRecord): string {
  const what = rec.incident !== undefined ? `${rec.incident.type}:${rec.incident.signature}` : `log:${shortHash(rec.text)}`
  // PagerDuty limits dedup_key to 255 characters.
  return truncate(`netconsd:${rec.host.name}:${what}`, 255)
}

// --- generic ---------------------------------------------------------------------------------

/** `{ source, sinkId, records: [view…] }`, one shape whether or not batching is on. */
export function renderGeneric (batch: readonly NetconsRecord[], ctx: RenderContext): unknown {
  return { source: 'netconsd', sinkId: ctx.sinkId, records: batch.map((r) => recordView(r, ctx)) }
}

// --- Slack -----------------------------------------------------------------------------------

export interface SlackOptions {
  /** Legacy webhooks only: override the channel / name / icon. */
  channel?: string
  username?: string
  iconEmoji?: string
}

const SLACK_EMOJI: Record<AlertSeverity, string> = { critical: ':rotating_light:', error: ':red_circle:', warning: ':warning:', info: ':information_source:' }

/** Slack mrkdwn needs &, <, > escaped (Slack "Formatting text": escaping). */
export function slackEscape (s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;')
}

function slackLine (rec: NetconsRecord, ctx: RenderContext): string {
  const sup = ctx.suppressed?.(rec) ?? 0
  const extra = sup > 0 ? ` _(+${sup} similar suppressed)_` : ''
  return `${SLACK_EMOJI[alertSeverity(rec)]} *${slackEscape(rec.host.name)}* ${slackEscape(summarize(rec))}${extra}`
}

/**
 * Slack incoming-webhook body: `text` (the notification fallback) plus Block Kit `blocks`:
 * incidents get a header, host/type/signature fields and the top frames; log lines are listed.
 * Slack caps a message at 50 blocks and a section's text at 3000 characters.
 */
export function renderSlack (batch: readonly NetconsRecord[], ctx: RenderContext, opts: SlackOptions = {}): unknown {
  const blocks: unknown[] = []
  const logLines: string[] = []
  for (const rec of batch) {
    if (rec.kind === 'incident' && rec.incident !== undefined && blocks.length < 45) {
      const inc = rec.incident
      blocks.push({ type: 'header', text: { type: 'plain_text', text: truncate(`${inc.type.toUpperCase()} on ${rec.host.name}`, 150), emoji: true } })
      blocks.push({
        type: 'section',
        text: { type: 'mrkdwn', text: truncate(`*${slackEscape(inc.title)}*`, 3000) },
        fields: [
          { type: 'mrkdwn', text: `*Host*\n${slackEscape(rec.host.name)} (${slackEscape(rec.host.address)})` },
          { type: 'mrkdwn', text: `*Type*\n${slackEscape(inc.type)}` },
          { type: 'mrkdwn', text: `*Function*\n${slackEscape(inc.function ?? '—')}` },
          { type: 'mrkdwn', text: `*Kernel*\n${slackEscape(rec.release ?? 'unknown')}` }
        ]
      })
      const frames = topFrames(rec)
      if (frames.length > 0) {
        blocks.push({ type: 'section', text: { type: 'mrkdwn', text: truncate('```' + slackEscape(frames.join('\n')) + '```', 3000) } })
      }
      blocks.push({ type: 'context', elements: [{ type: 'mrkdwn', text: truncate(`signature \`${slackEscape(inc.signature)}\` · ${new Date(rec.receivedAt).toISOString()}`, 3000) }] })
    } else {
      logLines.push(slackLine(rec, ctx))
    }
  }
  if (logLines.length > 0) {
    blocks.push({ type: 'section', text: { type: 'mrkdwn', text: truncate(logLines.join('\n'), 3000) } })
  }
  const text = truncate(batch.map((r) => slackLine(r, ctx)).join('\n'), 3000)
  const body: Record<string, unknown> = { text, blocks: blocks.slice(0, 50) }
  if (opts.channel !== undefined) body.channel = opts.channel
  if (opts.username !== undefined) body.username = opts.username
  if (opts.iconEmoji !== undefined) body.icon_emoji = opts.iconEmoji
  return body
}

// --- PagerDuty Events API v2 -----------------------------------------------------------------

export interface PagerDutyOptions {
  /** Integration key (`routing_key`); put `${PD_ROUTING_KEY}` in the config. */
  routingKey: string
  /** `payload.component`, `payload.group`, `payload.class` (defaults: incident type, host label `role`, kind). */
  component?: string
  group?: string
  class?: string
  /** Link shown in the incident. */
  clientUrl?: string
}

/**
 * One PagerDuty Events API v2 trigger event (POST https://events.pagerduty.com/v2/enqueue).
 * `dedup_key` = host + incident signature, so repeats of the same crash on the same host are
 * folded into one open PagerDuty incident. `summary` is capped at 1024 characters by the API.
 */
export function renderPagerDuty (rec: NetconsRecord, ctx: RenderContext, opts: PagerDutyOptions): unknown {
  const custom: Record<string, unknown> = {
    host: rec.host.name,
    address: rec.host.address,
    labels: { ...rec.host.labels },
    level: rec.level === null ? null : LEVEL_NAMES[rec.level],
    seq: rec.seq,
    kernel_release: rec.release,
    text: truncate(rec.text, 8000)
  }
  if (rec.incident !== undefined) {
    custom.incident_type = rec.incident.type
    custom.signature = rec.incident.signature
    custom.function = rec.incident.function
    custom.frames = topFrames(rec, 16)
  }
  const sup = ctx.suppressed?.(rec) ?? 0
  if (sup > 0) custom.suppressed = sup
  const payload: Record<string, unknown> = {
    summary: truncate(`${rec.host.name}: ${summarize(rec)}`, 1024),
    source: rec.host.name,
    severity: alertSeverity(rec),
    timestamp: new Date(rec.receivedAt).toISOString(),
    component: opts.component ?? rec.incident?.type ?? 'kernel',
    class: opts.class ?? rec.kind,
    custom_details: custom
  }
  const group = opts.group ?? rec.host.labels.role
  if (group !== undefined) payload.group = group
  const body: Record<string, unknown> = {
    routing_key: opts.routingKey,
    event_action: 'trigger',
    dedup_key: dedupKey(rec),
    payload,
    client: 'netconsd'
  }
  if (opts.clientUrl !== undefined) body.client_url = opts.clientUrl
  return body
}

// --- Alertmanager ----------------------------------------------------------------------------

export interface AlertmanagerOptions {
  /** Extra labels on every alert (e.g. `{ cluster: "eu1" }`). */
  labels?: Record<string, string>
  generatorURL?: string
  /** Sets `endsAt` this long after the record (otherwise Alertmanager's resolve_timeout applies). */
  resolveAfterMs?: number
}

function alertName (rec: NetconsRecord): string {
  if (rec.incident === undefined) return rec.kind === 'event' ? 'KernelHostEvent' : 'KernelLog'
  const camel = rec.incident.type.split(/[^A-Za-z0-9]+/).filter((p) => p !== '').map((p) => p[0]!.toUpperCase() + p.slice(1)).join('')
  return `Kernel${camel}`
}

/**
 * Alertmanager `POST /api/v2/alerts` body: an array of `{labels, annotations, startsAt, endsAt?,
 * generatorURL?}`. Labels identify the alert (Alertmanager deduplicates identical label sets),
 * so they hold host and signature, never free text; the text goes into annotations.
 */
export function renderAlertmanager (batch: readonly NetconsRecord[], ctx: RenderContext, opts: AlertmanagerOptions = {}): unknown[] {
  return batch.map((rec) => {
    const labels: Record<string, string> = {
      ...opts.labels,
      alertname: alertName(rec),
      host: rec.host.name,
      // Dotted IPv4 as every other sink shows it, not the dual-stack socket's ::ffff: form.
      instance: displayAddress(rec.host.address),
      severity: alertSeverity(rec),
      source: 'netconsd'
    }
    if (rec.incident !== undefined) {
      labels.incident_type = rec.incident.type
      labels.signature = rec.incident.signature
    } else {
      labels.message_hash = shortHash(rec.text)
    }
    const frames = topFrames(rec)
    const annotations: Record<string, string> = {
      summary: `${rec.host.name}: ${summarize(rec)}`,
      description: truncate(frames.length > 0 ? `${rec.text}\n\nTop frames:\n${frames.join('\n')}` : rec.text, 8000)
    }
    if (rec.release !== null) annotations.kernel_release = rec.release
    const sup = ctx.suppressed?.(rec) ?? 0
    if (sup > 0) annotations.suppressed = String(sup)
    const alert: Record<string, unknown> = { labels, annotations, startsAt: new Date(rec.receivedAt).toISOString() }
    if (opts.resolveAfterMs !== undefined) alert.endsAt = new Date(rec.receivedAt + opts.resolveAfterMs).toISOString()
    if (opts.generatorURL !== undefined) alert.generatorURL = opts.generatorURL
    return alert
  })
}
