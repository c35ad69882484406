/**
 * The engine's sense of time for workflow semantics (timers, backoffs, timeouts). Leases use the database's
 * clock instead: they are about whether a process is alive, not about the workflow.
 */
export abstract class EngineClock {
  abstract now(): Date;
}

export class SystemClock extends EngineClock {
  now(): Date {
    return new Date();
  }
}

/** A clock tests move by hand: `advance(ms)` makes timers and backoffs fall due without waiting. */
export class ManualClock extends EngineClock {
  constructor(private current = new Date('2026-01-01T00:00:00.000Z')) {
    super();
  }

  now(): Date {
    return new Date(this.current);
  }

  advance(ms: number): Date {
    this.current = new Date(this.current.getTime() + ms);
    return this.now();
  }
}

/**
 * The engine's chance: the full jitter of retry backoffs (a wait drawn from 0 up to the backoff's ceiling). Tests that
 * move time by hand fix it, so a retry never falls due without the clock moving (a draw of 0 ms would).
 */
export abstract class EngineRandom {
  /** In [0, 1). */
  abstract next(): number;
}

export class MathRandom extends EngineRandom {
  next(): number {
    return Math.random();
  }
}

export class FixedRandom extends EngineRandom {
  constructor(private readonly value = 0.5) {
    super();
  }

  next(): number {
    return this.value;
  }
}
