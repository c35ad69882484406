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

/** Core answered with an error (4xx/5xx): exit 1. `body` is Core's error body as it came, what `--json` prints. */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string | undefined,
    message: string,
    readonly errors?: FieldError[],
    readonly body?: unknown,
  ) {
    super(message);
  }
}

/** Each bad field with its messages, as every command prints them: `data.metric: is required; data.value: must be number`. */
export function fieldDetails(errors: readonly FieldError[]): string {
  return errors.map(({ field, messages }) => (messages.length ? `${field}: ${messages.join(', ')}` : field)).join('; ');
}

/**
 * Core's message with each field's messages: a message that ends with the fields' names (`invalid event: data.metric,
 * data.value`, as Core words a 422) has them replaced by the fields with their messages; another gets them after it.
 */
export function withFieldDetails(message: string, errors: readonly FieldError[] | undefined): string {
  if (!errors?.length) return message;
  const names = errors.map((e) => e.field).join(', ');
  const details = fieldDetails(errors);
  const head = message.slice(0, message.length - names.length);
  return message.endsWith(names) && (head === '' || head.endsWith(' ')) ? `${head}${details}` : `${message} (${details})`;
}

export function exitCodeOf(error: unknown): number {
  return error instanceof UsageError || error instanceof ConnectionError ? EXIT_USAGE : EXIT_FAILURE;
}
