/**
 * The batch progress bar: one line on a TTY stderr, redrawn a few times a second, with the
 * count, the rate over the last few seconds and, when the number of keys is known, a bar and
 * an ETA. When stderr is not a TTY nothing is drawn at all (logs and pipes stay clean).
 */

/** What the bar draws on: a TTY stream. */
export interface ProgressStream {
  write(text: string): unknown;
  isTTY?: boolean;
  columns?: number;
}

/** Options of {@link Progress}. */
export interface ProgressOptions {
  label?: string;
  /** Redraw period in ms. Default 100. */
  intervalMs?: number;
  /** Clock in ms, for tests. */
  now?: () => number;
  /** Start the redraw timer. Default true; tests call {@link Progress.render} themselves. */
  autoRender?: boolean;
  /** What is counted: keys (default, {@link Progress.tick}) or bytes ({@link Progress.advance}). */
  unit?: 'keys' | 'bytes';
}

const RATE_WINDOW_MS = 5000;

/** A progress bar; see the module comment. Use {@link createProgress}. */
export class Progress {
  readonly #stream: ProgressStream;
  readonly #label: string;
  readonly #now: () => number;
  readonly #started: number;
  readonly #samples: { t: number; done: number }[] = [];
  readonly #intervalMs: number;
  #timer: NodeJS.Timeout | undefined;
  #lastDraw = -Infinity;
  #total: number | undefined;
  #done = 0;
  #failed = 0;
  #drawn = false;
  #stopped = false;
  readonly #bytes: boolean;

  constructor(stream: ProgressStream, opts: ProgressOptions = {}) {
    this.#stream = stream;
    this.#label = opts.label ?? 'batch';
    this.#now = opts.now ?? (() => performance.now());
    this.#started = this.#now();
    this.#intervalMs = opts.intervalMs ?? 100;
    this.#bytes = opts.unit === 'bytes';
    if (opts.autoRender !== false) {
      // The timer covers quiet periods; tick() redraws when reads finish faster than timers
      // get a turn (a busy event loop delays them).
      this.#timer = setInterval(() => this.draw(), this.#intervalMs);
      this.#timer.unref();
    }
  }

  /** The number of keys, once known (the file is counted in the background). */
  setTotal(total: number | undefined): void {
    this.#total = total;
  }

  /** Count one finished key. */
  tick(ok: boolean): void {
    this.#done++;
    if (!ok) this.#failed++;
    if (this.#timer !== undefined && this.#now() - this.#lastDraw >= this.#intervalMs) this.draw();
  }

  /** Count `n` more bytes (unit `bytes`). */
  advance(n: number): void {
    this.#done += n;
    if (this.#timer !== undefined && this.#now() - this.#lastDraw >= this.#intervalMs) this.draw();
  }

  /** The line as it would be drawn now (without control characters). */
  render(): string {
    const now = this.#now();
    this.#samples.push({ t: now, done: this.#done });
    while (this.#samples.length > 2 && (this.#samples[0] as { t: number }).t < now - RATE_WINDOW_MS) this.#samples.shift();
    const first = this.#samples[0] as { t: number; done: number };
    const span = now - first.t;
    const rate = span >= 250 ? ((this.#done - first.done) / span) * 1000 : elapsedRate(this.#done, now - this.#started);
    const cols = this.#stream.columns;
    // A terminal that reports no size (0, as some ptys do) is treated as 80 columns.
    const width = Math.max(40, (cols !== undefined && cols > 0 ? cols : 80) - 1);
    const failed = this.#failed > 0 ? `  ${this.#failed} failed` : '';
    const rateText = this.#bytes ? `${formatBytes(rate)}/s` : `${formatRate(rate)}/s`;
    const total = this.#total;
    const count = (n: number): string => (this.#bytes ? formatBytes(n) : String(n));
    if (total === undefined || total < this.#done) {
      return clip(`${this.#label} ${count(this.#done)}${this.#bytes ? '' : ' keys'}${failed}  ${rateText}`, width);
    }
    const fraction = total === 0 ? 1 : this.#done / total;
    const eta = rate > 0 ? formatEta((total - this.#done) / rate) : '--:--';
    const tail = ` ${String(Math.floor(fraction * 100)).padStart(3)}% ${count(this.#done)}/${count(total)}${failed}  ${rateText}  ETA ${eta}`;
    const barWidth = Math.max(10, Math.min(40, width - this.#label.length - tail.length - 3));
    const filled = Math.round(fraction * barWidth);
    return clip(`${this.#label} [${'#'.repeat(filled)}${'-'.repeat(barWidth - filled)}]${tail}`, width);
  }

  /** Redraw the line. */
  draw(): void {
    if (this.#stopped) return;
    this.#lastDraw = this.#now();
    this.#stream.write(`\r\x1b[2K${this.render()}`);
    this.#drawn = true;
  }

  /** Erase the line so other output can be written; the next redraw brings it back. */
  clear(): void {
    if (this.#drawn && !this.#stopped) this.#stream.write('\r\x1b[2K');
    this.#drawn = false;
  }

  /** Stop redrawing and erase the line, leaving the terminal as it was. Idempotent. */
  stop(): void {
    if (this.#stopped) return;
    this.#stopped = true;
    if (this.#timer !== undefined) clearInterval(this.#timer);
    if (this.#drawn) this.#stream.write('\r\x1b[2K');
  }
}

/** A bar on a TTY stream, or undefined (draw nothing) when the stream is not a TTY. */
export function createProgress(stream: ProgressStream, opts: ProgressOptions = {}): Progress | undefined {
  return stream.isTTY === true ? new Progress(stream, opts) : undefined;
}

function elapsedRate(done: number, ms: number): number {
  return ms > 0 ? (done / ms) * 1000 : 0;
}

function formatRate(rate: number): string {
  if (rate >= 10_000) return `${(rate / 1000).toFixed(0)}k`;
  if (rate >= 100) return rate.toFixed(0);
  return rate.toFixed(1);
}

/** `512 B`, `1.5 KiB`, `12.3 MiB`, `1.00 GiB`. */
export function formatBytes(n: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let v = n;
  let u = 0;
  while (v >= 1024 && u < units.length - 1) {
    v /= 1024;
    u++;
  }
  return u === 0 ? `${Math.round(v)} B` : `${v >= 100 ? v.toFixed(0) : v >= 10 ? v.toFixed(1) : v.toFixed(2)} ${units[u] as string}`;
}

/** `1:05`, `1:02:03`. */
export function formatEta(seconds: number): string {
  if (!Number.isFinite(seconds) || seconds < 0) return '--:--';
  const s = Math.ceil(seconds);
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const sec = String(s % 60).padStart(2, '0');
  return h > 0 ? `${h}:${String(m).padStart(2, '0')}:${sec}` : `${m}:${sec}`;
}

function clip(text: string, width: number): string {
  return text.length > width ? text.slice(0, width) : text;
}
