/**
 * The simulated kernel clock: a monotonic nanosecond counter and the timers that run off it
 * (kernel/time/timer.c timer_list with mod_timer()/del_timer(), and schedule_delayed_work() on
 * top of it). Nothing happens by itself: time moves only when the simulation calls advance(), which
 * runs every timer that falls due on the way, in expiry order, with `now` set to its expiry. The
 * model has no jiffies: expiries are exact nanoseconds, so msecs_to_jiffies() rounding is not
 * modelled.
 *
 * One clock per simulated kernel (bound as a singleton by createKernelContainer()).
 */

/** Nanoseconds in a millisecond, for callers converting the kernel's msecs constants. */
export const NSEC_PER_MSEC = 1_000_000;

/** A struct timer_list: a callback and, while pending, its expiry on the owning clock. */
export class SimTimer {
  /** Expiry in ns; meaningful while pending. */
  expires = 0;
  /** Bumped on every re-arm or delete, so stale heap entries are recognised and skipped. */
  gen = 0;
  pending = false;

  constructor(
    readonly clock: SimClock,
    readonly fn: () => void,
  ) {}

  /**
   * mod_timer(): (re)arms the timer to fire at `atNs`, whether or not it is pending.
   * @returns true if the timer was pending (as mod_timer() returns 1), else false
   */
  mod(atNs: number): boolean {
    return this.clock.modTimer(this, atNs);
  }

  /** del_timer(): disarms the timer. @returns true if it was pending */
  del(): boolean {
    return this.clock.delTimer(this);
  }

  /**
   * schedule_delayed_work() on a timer-backed work item: arms the timer `delayNs` from now unless
   * it is already pending, in which case nothing changes (the kernel does not push the expiry).
   * @returns true if it was armed now
   */
  scheduleDelayed(delayNs: number): boolean {
    if (this.pending) return false;
    this.clock.modTimer(this, this.clock.now + delayNs);
    return true;
  }
}

interface HeapEntry {
  at: number;
  seq: number;
  gen: number;
  timer: SimTimer;
}

export class SimClock {
  private nowNs = 0;
  private seq = 0;
  /** Binary min-heap on (at, seq): equal expiries run in arming order, as the timer wheel does. */
  private readonly heap: HeapEntry[] = [];
  private running = false;

  /** Current time in ns since the simulated boot. */
  get now(): number {
    return this.nowNs;
  }

  /** timer_setup(): a timer that is not armed yet. */
  timer(fn: () => void): SimTimer {
    return new SimTimer(this, fn);
  }

  /** timer_setup() + add_timer(): a timer armed to fire at `atNs`. */
  schedule(fn: () => void, atNs: number): SimTimer {
    const t = new SimTimer(this, fn);
    this.modTimer(t, atNs);
    return t;
  }

  /** mod_timer(); see SimTimer.mod(). An expiry in the past fires on the next advance(). */
  modTimer(t: SimTimer, atNs: number): boolean {
    if (t.clock !== this) throw new Error('SimClock.modTimer: the timer belongs to another clock');
    if (!Number.isFinite(atNs)) throw new RangeError(`SimClock.modTimer: bad expiry ${atNs}`);
    const was = t.pending;
    t.gen++;
    t.pending = true;
    t.expires = atNs;
    this.push({ at: atNs, seq: this.seq++, gen: t.gen, timer: t });
    return was;
  }

  /** del_timer(); see SimTimer.del(). */
  delTimer(t: SimTimer): boolean {
    const was = t.pending;
    t.gen++;
    t.pending = false;
    return was;
  }

  /**
   * Moves time forward by `ns`, running each timer that expires at or before the new time in
   * expiry order (a callback may arm further timers; those run too if they fall due in time).
   */
  advance(ns: number): void {
    if (!(ns >= 0) || !Number.isFinite(ns)) {
      throw new RangeError(`SimClock.advance: ${ns} is not a non-negative duration`);
    }
    if (this.running) throw new Error('SimClock.advance: called from a timer callback');
    const target = this.nowNs + ns;
    this.running = true;
    try {
      for (;;) {
        const top = this.heap[0];
        if (top === undefined || top.at > target) break;
        this.pop();
        const t = top.timer;
        if (top.gen !== t.gen || !t.pending) continue; // re-armed or deleted since
        t.pending = false;
        if (top.at > this.nowNs) this.nowNs = top.at;
        t.fn();
      }
    } finally {
      this.running = false;
    }
    this.nowNs = target;
  }

  /** Timers currently armed. */
  pendingTimers(): number {
    let n = 0;
    for (const e of this.heap) if (e.gen === e.timer.gen && e.timer.pending) n++;
    return n;
  }

  private less(a: HeapEntry, b: HeapEntry): boolean {
    return a.at < b.at || (a.at === b.at && a.seq < b.seq);
  }

  private push(e: HeapEntry): void {
    const h = this.heap;
    let i = h.length;
    h.push(e);
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (!this.less(h[i], h[p])) break;
      [h[i], h[p]] = [h[p], h[i]];
      i = p;
    }
  }

  private pop(): void {
    const h = this.heap;
    const last = h.pop();
    if (h.length === 0 || last === undefined) return;
    h[0] = last;
    let i = 0;
    for (;;) {
      const l = 2 * i + 1;
      const r = l + 1;
      let m = i;
      if (l < h.length && this.less(h[l], h[m])) m = l;
      if (r < h.length && this.less(h[r], h[m])) m = r;
      if (m === i) break;
      [h[i], h[m]] = [h[m], h[i]];
      i = m;
    }
  }
}
