/**
 * What PostgreSQL's text and jsonb cannot hold: U+0000 and unpaired UTF-16 surrogates. JSON.parse accepts both, and an
 * expression can make both, so every place that stores text it did not check (a request guard, the workflow engine's
 * rendered values, a provider's reply) asks the same two questions here.
 */
const NUL = String.fromCharCode(0);
const LONE_SURROGATE = /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/;
const LONE_SURROGATES = new RegExp(LONE_SURROGATE.source, 'g');
const REPLACEMENT = '\ufffd';

/** Why `text` cannot be stored, or undefined when it can. */
export function unstorableTextProblem(text: string): 'nul' | 'lone_surrogate' | undefined {
  if (text.includes(NUL)) return 'nul';
  if (LONE_SURROGATE.test(text)) return 'lone_surrogate';
  return undefined;
}

/** `text` with U+0000 and unpaired surrogates replaced by U+FFFD (for messages and text no guard saw, never silently for data). */
export function storableText(text: string): string {
  return text.split(NUL).join(REPLACEMENT).replace(LONE_SURROGATES, REPLACEMENT);
}
