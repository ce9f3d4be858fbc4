/**
 * The gateway's admission control, as s3-orchestrator's: at most `limit` S3 requests at once;
 * over it a request waits up to `admission_wait` for a slot (first come, first served) and is
 * then refused with 503 SlowDown and `Retry-After: 1`. With `load_shed_threshold` set, requests
 * are refused at random before the limit is reached, more often the fuller it is: none at the
 * threshold, all at the limit — so a gateway under pressure sheds load gradually instead of
 * queueing everyone and timing out together.
 */

/** Where the settings come from: read on every request, so a reload applies to the next one. */
export interface AdmissionSettings {
  /** 0 = unlimited. */
  limit: number;
  /** 0 = refuse at once when full. */
  waitMs: number;
  /** (0, 1): shed from this fraction of the limit; 0 = never. */
  shedThreshold: number;
}

/** Why a request was not admitted. */
export type Refusal = 'full' | 'shed' | 'gone';

interface Waiter { grant: () => void; timer: NodeJS.Timeout }

/** The slots. `random` is injectable for tests. */
export class Admission {
  #admitted = 0;
  readonly #waiters: Waiter[] = [];
  readonly #settings: () => AdmissionSettings;
  readonly #random: () => number;

  constructor(settings: () => AdmissionSettings, opts: { random?: () => number } = {}) {
    this.#settings = settings;
    this.#random = opts.random ?? Math.random;
  }

  /** Requests holding a slot. */
  get admitted(): number {
    return this.#admitted;
  }

  /** Requests waiting for one. */
  get waiting(): number {
    return this.#waiters.length;
  }

  /**
   * Admit a request now (true), or say why not. Undefined means: full, but worth waiting
   * (`admission_wait` is set): call {@link wait}.
   */
  tryAdmit(): true | Refusal | undefined {
    const s = this.#settings();
    if (s.limit <= 0) {
      this.#admitted++;
      return true;
    }
    if (s.shedThreshold > 0) {
      const threshold = Math.floor(s.shedThreshold * s.limit);
      if (this.#admitted >= threshold && threshold < s.limit && this.#random() < (this.#admitted - threshold) / (s.limit - threshold)) return 'shed';
    }
    if (this.#admitted < s.limit && this.#waiters.length === 0) {
      this.#admitted++;
      return true;
    }
    return s.waitMs > 0 ? undefined : 'full';
  }

  /** Wait up to `admission_wait` for a slot: true once admitted; 'full' when the wait ran out; 'gone' when `signal` aborted first. */
  wait(signal: AbortSignal): Promise<true | Refusal> {
    return new Promise((resolve) => {
      const leave = (why: Refusal): void => {
        const i = this.#waiters.indexOf(w);
        if (i >= 0) this.#waiters.splice(i, 1);
        clearTimeout(w.timer);
        signal.removeEventListener('abort', onAbort);
        resolve(why);
      };
      const onAbort = (): void => leave('gone');
      const w: Waiter = {
        grant: () => {
          clearTimeout(w.timer);
          signal.removeEventListener('abort', onAbort);
          resolve(true);
        },
        timer: setTimeout(() => leave('full'), this.#settings().waitMs),
      };
      if (signal.aborted) {
        clearTimeout(w.timer);
        resolve('gone');
        return;
      }
      signal.addEventListener('abort', onAbort, { once: true });
      this.#waiters.push(w);
      // A slot may have freed between tryAdmit and now, or a reload raised the limit.
      this.#handOn();
    });
  }

  /** A request that held a slot is done: its slot goes to the longest waiter, if any. */
  release(): void {
    this.#admitted--;
    this.#handOn();
  }

  #handOn(): void {
    const limit = this.#settings().limit;
    while (this.#waiters.length > 0 && (limit <= 0 || this.#admitted < limit)) {
      const w = this.#waiters.shift() as Waiter;
      this.#admitted++;
      w.grant();
    }
  }
}
