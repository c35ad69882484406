import { ActionType } from '@pancha/contracts';

interface PayloadShape {
  required: readonly string[];
  optional: readonly string[];
}

/**
 * The adapter fields each action type takes (SPEC §2, executor adapters). Rule templates and LLM output are
 * held to exactly these: nothing else reaches the executor from a decision.
 */
export const ACTION_PAYLOAD_FIELDS: Record<ActionType, PayloadShape> = {
  [ActionType.Task]: { required: ['title'], optional: ['description'] },
  [ActionType.Email]: { required: ['recipient', 'subject', 'body'], optional: [] },
  [ActionType.Whatsapp]: { required: ['recipient', 'message'], optional: [] },
  [ActionType.Ai]: { required: ['prompt'], optional: [] },
};

export const MAX_PAYLOAD_FIELD_LENGTH = 10_000;
const EMAIL = /^[^\s@<>()[\]\\,;:"]+@[^\s@<>()[\]\\,;:"]+\.[^\s@<>()[\]\\,;:"]+$/;
const PHONE = /^\+?[0-9][0-9 ()-]{5,22}[0-9]$/;

/** Field names that are not allowed for the action type and required ones that are absent (names only). */
export function payloadFieldProblems(actionType: ActionType, fields: readonly string[]): string[] {
  const shape = ACTION_PAYLOAD_FIELDS[actionType];
  const allowed = new Set([...shape.required, ...shape.optional]);
  const problems: string[] = [];
  for (const field of shape.required) {
    if (!fields.includes(field)) problems.push(`payload.${field} is required for action_type ${actionType}`);
  }
  for (const field of fields) {
    if (!allowed.has(field)) {
      problems.push(`payload.${field} is not a field of action_type ${actionType} (allowed: ${[...allowed].join(', ')})`);
    }
  }
  return problems;
}

/** Full check of a concrete payload (an LLM's answer): shape, non-empty strings, sane lengths, addresses. */
export function validateActionPayload(actionType: ActionType, payload: unknown): string[] {
  if (typeof payload !== 'object' || payload === null || Array.isArray(payload)) return ['payload must be an object'];
  const entries = Object.entries(payload as Record<string, unknown>);
  const problems = payloadFieldProblems(actionType, entries.map(([k]) => k));
  for (const [field, value] of entries) {
    if (typeof value !== 'string' || value.trim() === '') {
      problems.push(`payload.${field} must be a non-empty string`);
    } else if (value.length > MAX_PAYLOAD_FIELD_LENGTH) {
      problems.push(`payload.${field} must be at most ${MAX_PAYLOAD_FIELD_LENGTH} characters`);
    }
  }
  const recipient = (payload as Record<string, unknown>).recipient;
  if (typeof recipient === 'string' && recipient.trim() !== '') {
    if (actionType === ActionType.Email && !EMAIL.test(recipient.trim())) problems.push('payload.recipient must be an email address');
    if (actionType === ActionType.Whatsapp && !PHONE.test(recipient.trim())) problems.push('payload.recipient must be a phone number');
  }
  return problems;
}
