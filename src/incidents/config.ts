/**
 * Configuration of incident detection (the `incidents` section of the config file) and of the
 * pager. `schemas/incidents.schema.json` is the source of truth; this type and its defaults are
 * written once beside it and `test/incidents/config.test.ts` keeps the two in sync.
 */

/** Every incident type the detector knows, in the order the docs list them. */
export const INCIDENT_TYPES = [
  'panic', 'oops', 'bug', 'warn', 'gpf', 'soft_lockup', 'hard_lockup', 'rcu_stall', 'hung_task',
  'oom', 'ubsan', 'kasan', 'kfence', 'kcsan', 'lockdep'
] as const
export type IncidentType = typeof INCIDENT_TYPES[number]

export const EVENT_TYPES = ['reboot', 'silent_after_panic', 'loss', 'new_host'] as const
export type HostEventType = typeof EVENT_TYPES[number]

export interface IncidentsConfig {
  /** Master switch: off means the detector only passes records through (no incidents, no events). */
  enabled: boolean
  /** Incident types to report; others are still recognised (so they do not bleed into a neighbour) but not emitted. */
  types: IncidentType[]
  /** Lifecycle events to emit. */
  events: HostEventType[]
  /** A report with no new line for this long is closed and emitted (reports without an end marker: lockups, stalls, hung tasks). */
  idleTimeoutMs: number
  /** A report still open this long after its first line is emitted as `partial`. */
  maxReportMs: number
  /** Lines kept per report; later lines are counted (`droppedLines`) but the report stays open until its end. */
  maxLinesPerReport: number
  /** Bytes of text kept per report (same rule as lines). */
  maxBytesPerReport: number
  /** Reports open at once per host (one per CPU when the sender tags lines with a CPU); beyond it the oldest is emitted as `partial`. */
  maxOpenReportsPerHost: number
  /** Hosts whose state (last sequence, open reports) is kept per worker; the least recently seen is forgotten beyond it. */
  maxHosts: number
  /** Frames (after dropping stack-dumping boilerplate) that make up a signature. */
  signatureFrames: number
  /** A `loss` event is emitted when a host skipped at least this many sequence numbers since its last `loss` event. */
  lossThreshold: number
  /** At most one `loss` event per host per this interval; skipped numbers are added up into the next one. */
  lossIntervalMs: number
  /** `silent_after_panic` fires when a host sends nothing for this long after a panic. */
  silenceAfterPanicMs: number
}

/** Options of the pager (`src/incidents/pager.ts`): one instance per paging target, on the main thread. */
export interface PagerConfig {
  /** Same signature on the same host pages again only after this long (panics excepted). */
  suppressWindowMs: number
  /** This many distinct hosts with the same signature within `fleetWindowMs` trigger one fleet summary page. */
  fleetThresholdHosts: number
  /** Window for counting hosts per signature, and how long a fleet summary holds back individual pages. */
  fleetWindowMs: number
  /** Types that always page, never suppressed or folded into a summary. */
  neverSuppressTypes: string[]
  /** Signatures (and host+signature pairs) remembered; the oldest are forgotten beyond it. */
  maxKeys: number
}

export const defaultIncidentsConfig: IncidentsConfig = Object.freeze({
  enabled: true,
  types: [...INCIDENT_TYPES],
  events: [...EVENT_TYPES],
  idleTimeoutMs: 2000,
  maxReportMs: 30_000,
  maxLinesPerReport: 400,
  maxBytesPerReport: 65_536,
  maxOpenReportsPerHost: 4,
  maxHosts: 65_536,
  signatureFrames: 4,
  lossThreshold: 8,
  lossIntervalMs: 60_000,
  silenceAfterPanicMs: 300_000
})

export const defaultPagerConfig: PagerConfig = Object.freeze({
  suppressWindowMs: 3_600_000,
  fleetThresholdHosts: 5,
  fleetWindowMs: 600_000,
  neverSuppressTypes: ['panic'],
  maxKeys: 100_000
})

/** Fills unset keys from the defaults (the config loader validates; this keeps library callers short). */
export function resolveIncidentsConfig (partial: Partial<IncidentsConfig> = {}): IncidentsConfig {
  return { ...defaultIncidentsConfig, ...partial }
}

export function resolvePagerConfig (partial: Partial<PagerConfig> = {}): PagerConfig {
  return { ...defaultPagerConfig, ...partial }
}
