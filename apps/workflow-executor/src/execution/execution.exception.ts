import { HttpStatus } from '@nestjs/common';
import { ExecutorApiErrorCode } from '@pancha/contracts';
import { DomainException } from '@pancha/service-kit';

/** The trace_id is being executed right now by another request; the caller retries later and then gets the stored result. */
export class ExecutionInProgressException extends DomainException {
  constructor(traceId: string) {
    super(
      HttpStatus.CONFLICT,
      ExecutorApiErrorCode.ExecutionInProgress,
      `trace_id ${traceId} is being executed; retry later to get its result`,
    );
  }
}
