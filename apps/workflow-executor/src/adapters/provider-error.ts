import { isAxiosError } from 'axios';

const MAX_DETAIL = 200;

/**
 * A human-readable reason for a failed provider call that is safe to store, return and log: the HTTP status
 * and the provider's own error text, never request headers, URLs with credentials or response bodies in full.
 */
export function describeProviderError(provider: string, error: unknown): string {
  if (isAxiosError(error)) {
    if (error.response) {
      const detail = providerErrorText(error.response.data);
      return `${provider} answered HTTP ${error.response.status}${detail ? `: ${detail}` : ''}`;
    }
    return `${provider} unreachable (${error.code ?? 'network error'})`;
  }
  const e = error as { code?: unknown; responseCode?: unknown; response?: unknown; message?: unknown } | undefined;
  // nodemailer: `responseCode` + `response` is the SMTP server's reply line (e.g. "550 5.1.1 user unknown").
  if (typeof e?.responseCode === 'number') {
    return `${provider} rejected the message: ${truncate(String(e.response ?? e.responseCode))}`;
  }
  if (typeof e?.code === 'string') return `${provider} failed (${e.code})`;
  return `${provider} failed`;
}

/** The usual error fields of JSON APIs (WhatsApp Cloud API and OpenAI both use `error.message`). */
export function providerErrorText(data: unknown): string | undefined {
  if (typeof data === 'string') return truncate(data);
  if (!data || typeof data !== 'object') return undefined;
  const error = (data as { error?: unknown }).error;
  if (typeof error === 'string') return truncate(error);
  if (error && typeof error === 'object') {
    const message = (error as { message?: unknown }).message;
    if (typeof message === 'string') return truncate(message);
  }
  const message = (data as { message?: unknown }).message;
  return typeof message === 'string' ? truncate(message) : undefined;
}

function truncate(text: string): string {
  const oneLine = text.replace(/\s+/g, ' ').trim();
  return oneLine.length > MAX_DETAIL ? `${oneLine.slice(0, MAX_DETAIL)}…` : oneLine;
}
