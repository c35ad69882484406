import { Injectable } from '@nestjs/common';

/** The service's notion of now. Production reads the system clock; tests replace it with a FixedClock. */
@Injectable()
export class Clock {
  now(): Date {
    return new Date();
  }
}

/** A clock that only moves when told to: decay, expiry and windows become exact in tests. */
export class FixedClock extends Clock {
  private current: number;

  constructor(start: Date | string | number) {
    super();
    this.current = new Date(start).getTime();
  }

  override now(): Date {
    return new Date(this.current);
  }

  set(to: Date | string | number): void {
    this.current = new Date(to).getTime();
  }

  advance(ms: number): void {
    this.current += ms;
  }
}
