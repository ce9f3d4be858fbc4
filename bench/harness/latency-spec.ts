/**
 * The `--latency` SPEC of `readpath bench` (API.md §4): a comma list `NAME=DIST` over b1..bN.
 *
 *   DIST  const(MS) | lognormal(MEDIAN_MS,SIGMA) | tail(MEDIAN_MS,P,FACTOR) | fail(P) | down
 *
 * Extensions, all optional: terms combine with `+` (`lognormal(10,0.3)+fail(0.05)`: a 5%
 * failing fraction on top of a latency; a failed read fails after its sampled latency, as a 503
 * does); `down(MS)` fails every read after MS (plain `down` = at once, a refused connection);
 * NAME `*` sets every backend not named. A backend without an entry, or with only `fail(P)`,
 * takes `const(10)` as its latency.
 */
import { ReadPathError } from '../../src/errors.js';
import type { Draws } from './rng.js';

/** How long a read takes, before failures are decided. */
export type LatencyTerm =
  | { kind: 'const'; ms: number }
  | { kind: 'lognormal'; medianMs: number; sigma: number }
  | { kind: 'tail'; medianMs: number; p: number; factor: number };

/** One simulated backend's behaviour. */
export interface BackendModel {
  name: string;
  /** The DIST text it was parsed from (canonical form). */
  text: string;
  latency: LatencyTerm;
  /** Fraction of reads that fail (after their latency). */
  failP: number;
  /** Every read fails after `downMs`. */
  down: boolean;
  downMs: number;
}

/** Latency of backends the SPEC does not name. */
export const DEFAULT_LATENCY: LatencyTerm = Object.freeze({ kind: 'const', ms: 10 });

function bad(part: string, why: string): ReadPathError {
  return new ReadPathError('INVALID_CONFIG', `--latency: ${JSON.stringify(part)}: ${why}`);
}

/** Split on commas outside parentheses. */
export function splitTopLevel(s: string, sep = ','): string[] {
  const out: string[] = [];
  let depth = 0;
  let cur = '';
  for (const ch of s) {
    if (ch === '(') depth++;
    else if (ch === ')') depth--;
    if (ch === sep && depth === 0) {
      out.push(cur);
      cur = '';
    } else cur += ch;
  }
  out.push(cur);
  return out.map((x) => x.trim());
}

/** A number of ms (an optional `ms` suffix is allowed), or a plain number. */
export function parseNumberArg(text: string, allowMs: boolean): number | undefined {
  let t = text.trim();
  if (allowMs && t.endsWith('ms')) t = t.slice(0, -2).trim();
  if (!/^[+-]?(\d+(\.\d*)?|\.\d+)([eE][-+]?\d+)?$/.test(t)) return undefined;
  const n = Number(t);
  return Number.isFinite(n) ? n : undefined;
}

interface Term {
  name: string;
  args: string[];
}

function parseTerm(part: string, text: string): Term {
  const m = /^([a-z]+)\s*(?:\((.*)\))?$/i.exec(text.trim());
  if (m === null) throw bad(part, `cannot read ${JSON.stringify(text)}: expected const(MS), lognormal(MEDIAN_MS,SIGMA), tail(MEDIAN_MS,P,FACTOR), fail(P) or down`);
  const name = (m[1] as string).toLowerCase();
  const args = m[2] === undefined ? [] : m[2].split(',').map((a) => a.trim());
  return { name, args };
}

function nums(part: string, t: Term, names: readonly string[], checks: readonly ((n: number) => string | undefined)[], minArgs = names.length): number[] {
  const sig = `${t.name}(${names.join(',')})`;
  if (t.args.length < minArgs || t.args.length > names.length || (t.args.length === 1 && t.args[0] === '' && minArgs > 0)) {
    throw bad(part, `${t.name} takes ${sig}, got ${t.args.length === 1 && t.args[0] === '' ? 0 : t.args.length} argument(s)`);
  }
  return t.args.map((a, i) => {
    const argName = names[i] as string;
    const n = parseNumberArg(a, argName.endsWith('MS'));
    if (n === undefined) throw bad(part, `${sig}: ${argName} must be a number, got ${JSON.stringify(a)}`);
    const why = checks[i]?.(n);
    if (why !== undefined) throw bad(part, `${sig}: ${argName} ${why}, got ${a}`);
    return n;
  });
}

const nonNeg = (n: number): string | undefined => (n >= 0 ? undefined : 'must be >= 0');
const positive = (n: number): string | undefined => (n > 0 ? undefined : 'must be > 0');
const fraction = (n: number): string | undefined => (n >= 0 && n <= 1 ? undefined : 'must be in [0, 1]');
const atLeastOne = (n: number): string | undefined => (n >= 1 ? undefined : 'must be >= 1');

/** The canonical text of a latency term. */
export function formatLatency(t: LatencyTerm): string {
  switch (t.kind) {
    case 'const':
      return `const(${t.ms})`;
    case 'lognormal':
      return `lognormal(${t.medianMs},${t.sigma})`;
    case 'tail':
      return `tail(${t.medianMs},${t.p},${t.factor})`;
  }
}

function formatModel(m: Omit<BackendModel, 'text' | 'name'>): string {
  if (m.down) return m.downMs > 0 ? `down(${m.downMs})` : 'down';
  const lat = formatLatency(m.latency);
  return m.failP > 0 ? `${lat}+fail(${m.failP})` : lat;
}

/** Parse one DIST (the part after `NAME=`); `part` names the entry in errors. */
export function parseDist(text: string, part = text, name = ''): BackendModel {
  if (text.trim() === '') throw bad(part, 'empty distribution');
  let latency: LatencyTerm | undefined;
  let failP: number | undefined;
  let down: number | undefined;
  for (const termText of splitTopLevel(text, '+')) {
    const t = parseTerm(part, termText);
    switch (t.name) {
      case 'const': {
        if (latency !== undefined) throw bad(part, 'more than one latency term (const, lognormal, tail)');
        const [ms] = nums(part, t, ['MS'], [nonNeg]) as [number];
        latency = { kind: 'const', ms };
        break;
      }
      case 'lognormal': {
        if (latency !== undefined) throw bad(part, 'more than one latency term (const, lognormal, tail)');
        const [medianMs, sigma] = nums(part, t, ['MEDIAN_MS', 'SIGMA'], [positive, nonNeg]) as [number, number];
        latency = { kind: 'lognormal', medianMs, sigma };
        break;
      }
      case 'tail': {
        if (latency !== undefined) throw bad(part, 'more than one latency term (const, lognormal, tail)');
        const [medianMs, p, factor] = nums(part, t, ['MEDIAN_MS', 'P', 'FACTOR'], [nonNeg, fraction, atLeastOne]) as [number, number, number];
        latency = { kind: 'tail', medianMs, p, factor };
        break;
      }
      case 'fail': {
        if (failP !== undefined) throw bad(part, 'fail(P) given twice');
        [failP] = nums(part, t, ['P'], [fraction]) as [number];
        break;
      }
      case 'down': {
        if (t.args.length === 0) down = 0;
        else [down] = nums(part, t, ['MS'], [nonNeg], 0) as [number];
        break;
      }
      default:
        throw bad(part, `unknown distribution ${JSON.stringify(t.name)}: expected const, lognormal, tail, fail or down`);
    }
  }
  if (down !== undefined && (latency !== undefined || failP !== undefined)) throw bad(part, 'down cannot be combined with other terms');
  const m = { latency: latency ?? DEFAULT_LATENCY, failP: failP ?? 0, down: down !== undefined, downMs: down ?? 0 };
  return { name, text: formatModel(m), ...m };
}

/**
 * Parse a SPEC into one model per backend b1..bN, in order. Throws INVALID_CONFIG naming the
 * entry at fault (unknown backend, duplicate, bad distribution).
 */
export function parseLatencySpec(spec: string | undefined, backends: number): BackendModel[] {
  const names = Array.from({ length: backends }, (_, i) => `b${i + 1}`);
  const given = new Map<string, BackendModel>();
  let fallback: BackendModel | undefined;
  if (spec !== undefined && spec.trim() !== '') {
    for (const part of splitTopLevel(spec)) {
      if (part === '') throw bad(spec, 'empty entry (two commas in a row, or a trailing comma)');
      const eq = part.indexOf('=');
      if (eq < 0) throw bad(part, 'expected NAME=DIST, e.g. b1=const(10)');
      const name = part.slice(0, eq).trim();
      const dist = part.slice(eq + 1).trim();
      if (name === '*') {
        if (fallback !== undefined) throw bad(part, '* given twice');
        fallback = parseDist(dist, part);
        continue;
      }
      if (!/^b[1-9]\d*$/.test(name)) throw bad(part, `backend names are b1..b${backends}, got ${JSON.stringify(name)}`);
      if (Number(name.slice(1)) > backends) throw bad(part, `no backend ${name}: --backends is ${backends} (b1..b${backends})`);
      if (given.has(name)) throw bad(part, `${name} given twice`);
      given.set(name, parseDist(dist, part, name));
    }
  }
  return names.map((name) => {
    const m = given.get(name) ?? fallback ?? parseDist(formatLatency(DEFAULT_LATENCY));
    return { ...m, name };
  });
}

/** The canonical SPEC text of a list of models. */
export function formatLatencySpec(models: readonly BackendModel[]): string {
  return models.map((m) => `${m.name}=${m.text}`).join(',');
}

/** One read's behaviour on one backend. */
export interface Sample {
  ms: number;
  fail: boolean;
}

function sampleLatency(t: LatencyTerm, d: Draws): number {
  switch (t.kind) {
    case 'const':
      return t.ms;
    case 'lognormal':
      return t.medianMs * Math.exp(t.sigma * d.normal());
    case 'tail':
      return d.uniform() < t.p ? t.medianMs * t.factor : t.medianMs;
  }
}

/** Draw one read's latency and fate from a model. */
export function sampleModel(m: BackendModel, d: Draws): Sample {
  if (m.down) return { ms: m.downMs, fail: true };
  const ms = sampleLatency(m.latency, d);
  const fail = m.failP > 0 && d.uniform() < m.failP;
  return { ms, fail };
}
