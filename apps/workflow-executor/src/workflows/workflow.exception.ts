import type { WorkflowErrorCode } from '@pancha/contracts';
import { DomainException } from '@pancha/service-kit';

/** A refusal of the workflows API the caller can act on: unknown workflow, disabled, run not found or finished. */
export class WorkflowException extends DomainException {
  constructor(code: WorkflowErrorCode, message: string, status: 400 | 404 | 409 | 422) {
    super(status, code, message);
  }
}
