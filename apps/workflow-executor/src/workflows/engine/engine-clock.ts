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
