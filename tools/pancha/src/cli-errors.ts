/** What a command can end with, and the exit status each one means (0 ok, 1 findings or failures, 2 usage or connection). */
export const EXIT_OK = 0;
export const EXIT_FAILURE = 1;
export const EXIT_USAGE = 2;

/** Bad arguments or options: exit 2. */
export class UsageError extends Error {}

/** The stack cannot be reached (or no identity to call it with): exit 2. */
export class ConnectionError extends Error {}

/**
 * The server answered, but not as Core does (a web page, an empty body, JSON of another shape): PANCHA_URL points at
 * something else, or something between rewrote the answer. Exit 2, like a Core that cannot be reached.
 */
export class UnexpectedAnswer extends ConnectionError {}

/** A bad field Core named in a 422. */
export interface FieldError {
  field: string;
  messages: string[];
}

/** Core answered with an error (4xx/5xx): exit 1. */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string | undefined,
    message: string,
    readonly errors?: FieldError[],
  ) {
    super(message);
  }
}

export function exitCodeOf(error: unknown): number {
  return error instanceof UsageError || error instanceof ConnectionError ? EXIT_USAGE : EXIT_FAILURE;
}
