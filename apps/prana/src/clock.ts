/** Time as PRANA reads it: injected so that tests can move it instead of waiting on the wall clock. */
export class Clock {
  now(): number {
    return Date.now();
  }
}
