/**
 * The longest value (in UTF-16 code units, what `string.length` and class-validator's MaxLength count) each
 * field that crosses a hop may have. One set for every pillar: a receiver's DTO and a sender's checks use the
 * same numbers, so nothing a sender acknowledged can be refused by the next hop and dead-lettered
 * (an event is delivered after its producer answered 2xx: a refusal there is a loss).
 */
export const FIELD_LIMITS = {
  userId: 128,
  product: 128,
  traceId: 128,
  /** payload.action_type: refused up front when longer (the executor's 422), it is an id, not text. */
  actionType: 64,
  /** Karma vocabulary names: an action, a claimed role, an atonement kind, a plan id. */
  name: 64,
  /** Where an event came from (Karma's top-level `source`). */
  source: 128,
  /** Karma's free-text `note`. */
  note: 1000,
  /** Karma's `context`: a string, or the JSON of an object. */
  context: 4000,
  /**
   * One string inside an execution_result that an event carries to Bucket (an AI answer, a provider's id
   * or error text). The executor's reply keeps the whole string; the event keeps the first this many
   * characters and names the field in `execution_result.truncated_fields`.
   */
  resultText: 8000,
  /** The JSON (UTF-8 bytes) of an execution_result an event carries; longer strings are cut further to fit. */
  resultBytes: 64 * 1024,
} as const;

/** Cuts `text` to at most `max` UTF-16 units without splitting a surrogate pair (which JSON would mangle). */
export function truncateText(text: string, max: number): string {
  if (text.length <= max) return text;
  const end = max > 0 && isHighSurrogate(text.charCodeAt(max - 1)) ? max - 1 : max;
  return text.slice(0, end);
}

function isHighSurrogate(code: number): boolean {
  return code >= 0xd800 && code <= 0xdbff;
}

const utf8 = new TextEncoder();

/**
 * An execution_result as an event may carry it to Bucket: every top-level string cut to FIELD_LIMITS.resultText
 * characters, then the longest ones halved until the whole fits FIELD_LIMITS.resultBytes, the cut fields named
 * in `truncated_fields`. The action happened, so its record must be deliverable whatever a provider answered
 * (an AI reply of 1 MB would exceed Bucket's body limit and be dead-lettered). Results within bounds are
 * returned unchanged.
 */
export function boundExecutionResult<R extends Record<string, unknown>>(result: R): R & { truncated_fields?: string[] } {
  const bounded: Record<string, unknown> = { ...result };
  const cut = new Set<string>();
  const strings = () => Object.keys(bounded).filter((k) => typeof bounded[k] === 'string');
  for (const field of strings()) {
    const value = bounded[field] as string;
    if (value.length > FIELD_LIMITS.resultText) {
      bounded[field] = truncateText(value, FIELD_LIMITS.resultText);
      cut.add(field);
    }
  }
  while (utf8.encode(JSON.stringify(bounded)).length > FIELD_LIMITS.resultBytes) {
    const longest = strings().sort((a, b) => (bounded[b] as string).length - (bounded[a] as string).length)[0];
    const value = longest === undefined ? '' : (bounded[longest] as string);
    if (value.length === 0) break;
    bounded[longest] = truncateText(value, Math.floor(value.length / 2));
    cut.add(longest);
  }
  return (cut.size ? { ...bounded, truncated_fields: [...cut].sort() } : bounded) as R & { truncated_fields?: string[] };
}
