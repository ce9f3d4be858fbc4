/**
 * Durations as s3-orchestrator writes them: Go's `time.ParseDuration` syntax (`500ms`, `30s`,
 * `5m`, `1h`, `1m30s`, `1.5h`, `250us`), converted to milliseconds.
 *
 * readpath additionally accepts a plain YAML/JSON number, read as **milliseconds** (the unit every
 * readpath API uses). Go's YAML decoder reads a bare integer as nanoseconds, so a file shared with
 * s3-orchestrator should always spell durations with a unit.
 */

const UNIT_NS: Readonly<Record<string, bigint>> = {
  ns: 1n,
  us: 1_000n,
  'µs': 1_000n, // U+00B5 micro sign
  'μs': 1_000n, // U+03BC Greek mu
  ms: 1_000_000n,
  s: 1_000_000_000n,
  m: 60_000_000_000n,
  h: 3_600_000_000_000n,
};

const MAX_NS = (1n << 63n) - 1n; // Go's time.Duration is an int64 of nanoseconds
const COMPONENT = /^(\d*)(?:\.(\d*))?(ns|us|µs|μs|ms|s|m|h)/;

/** The outcome of parsing a duration: milliseconds, or a message that never echoes the input. */
export type DurationParse = { ok: true; ms: number } | { ok: false; message: string };

const FORMAT_HINT = 'expected a duration like 500ms, 30s, 5m or 1m30s';

/**
 * Parse a Go-style duration string into milliseconds (may be fractional for sub-millisecond
 * units). Negative durations parse; callers decide whether they are meaningful.
 */
export function parseDuration(text: string): DurationParse {
  let s = text.trim();
  if (s === '') return { ok: false, message: FORMAT_HINT };
  let negative = false;
  if (s[0] === '-' || s[0] === '+') {
    negative = s[0] === '-';
    s = s.slice(1);
  }
  if (s === '0') return { ok: true, ms: 0 };
  if (s === '') return { ok: false, message: FORMAT_HINT };
  let totalNs = 0n;
  while (s !== '') {
    const m = COMPONENT.exec(s);
    if (m === null) {
      // Tell a missing unit apart from garbage: "500" is the common slip.
      return { ok: false, message: /^[\d.]+$/.test(s) ? `missing unit; ${FORMAT_HINT}` : FORMAT_HINT };
    }
    const intPart = m[1] ?? '';
    const fracPart = m[2] ?? '';
    const unit = UNIT_NS[m[3] ?? ''];
    if ((intPart === '' && fracPart === '') || unit === undefined) return { ok: false, message: FORMAT_HINT };
    // Integer arithmetic in nanoseconds, truncating the fraction as Go does, so "1.1s" is exactly 1100 ms.
    let ns = BigInt(intPart === '' ? '0' : intPart) * unit;
    if (fracPart !== '') {
      ns += (BigInt(fracPart) * unit) / 10n ** BigInt(fracPart.length);
    }
    totalNs += ns;
    if (totalNs > MAX_NS) return { ok: false, message: 'duration out of range' };
    s = s.slice(m[0].length);
  }
  const ms = Number(totalNs / 1_000_000n) + Number(totalNs % 1_000_000n) / 1e6;
  return { ok: true, ms: negative ? -ms : ms };
}

/**
 * A duration value from a config: a Go-style string, or a finite number of milliseconds.
 * Anything else is rejected with a message that does not echo the value.
 */
export function durationToMs(value: unknown): DurationParse {
  if (typeof value === 'number') {
    return Number.isFinite(value) ? { ok: true, ms: value } : { ok: false, message: 'expected a finite duration' };
  }
  if (typeof value === 'string') return parseDuration(value);
  return { ok: false, message: `${FORMAT_HINT}, got ${kindOf(value)}` };
}

/**
 * Render milliseconds in the same syntax `parseDuration` reads, compactly: `15s`, `1m30s`, `5m`,
 * `1h`, `500ms`, `1s500ms`. `parseDuration(formatDuration(x))` gives back `x` for any integer
 * millisecond count and for sub-millisecond values down to whole nanoseconds.
 */
export function formatDuration(ms: number): string {
  if (!Number.isFinite(ms)) return String(ms);
  if (ms === 0) return '0s';
  const sign = ms < 0 ? '-' : '';
  let rest = Math.abs(ms);
  const parts: string[] = [];
  const h = Math.floor(rest / 3_600_000);
  if (h > 0) parts.push(`${h}h`);
  rest -= h * 3_600_000;
  const m = Math.floor(rest / 60_000);
  if (m > 0) parts.push(`${m}m`);
  rest -= m * 60_000;
  const s = Math.floor(rest / 1000);
  rest -= s * 1000;
  if (s > 0) parts.push(`${s}s`);
  if (rest > 0) {
    if (Number.isInteger(rest)) parts.push(`${rest}ms`);
    else parts.push(`${Math.round(rest * 1e6)}ns`);
  }
  return sign + parts.join('');
}

/** A short name for a value's type, for messages (never the value itself). */
export function kindOf(value: unknown): string {
  if (value === null) return 'null';
  if (value === undefined) return 'nothing';
  if (Array.isArray(value)) return 'array';
  if (typeof value === 'object') {
    const proto: unknown = Object.getPrototypeOf(value);
    if (proto === Object.prototype || proto === null) return 'object';
    const tag = Object.prototype.toString.call(value).slice(8, -1);
    return tag === 'Object' ? 'object' : tag.toLowerCase();
  }
  return typeof value;
}
