import { BadRequestException, HttpStatus } from '@nestjs/common';
import { CommonErrorCode } from '@pancha/contracts';
import { DomainException } from './domain.exception';
import { ApiExceptionFilter } from './api-exception.filter';

describe('ApiExceptionFilter.toBody', () => {
  const filter = new ApiExceptionFilter();

  it('names a body that is not JSON invalid_json (Nest hands it over as a bare 400)', () => {
    let parseError: Error | undefined;
    try {
      JSON.parse('{"input": "x", bad');
    } catch (e) {
      parseError = e as Error;
    }
    const { status, body } = filter.toBody(new BadRequestException(parseError?.message));
    expect(status).toBe(400);
    expect(body.code).toBe(CommonErrorCode.InvalidJson);
  });

  it('maps an oversized body to 413 payload_too_large', () => {
    const tooLarge = Object.assign(new Error('request entity too large'), { type: 'entity.too.large', status: 413 });
    expect(filter.toBody(tooLarge)).toMatchObject({ status: 413, body: { code: CommonErrorCode.PayloadTooLarge } });
  });

  it('keeps a domain code and its field errors', () => {
    const e = new DomainException(HttpStatus.CONFLICT, 'event_id_conflict', 'taken');
    expect(filter.toBody(e)).toMatchObject({ status: 409, body: { code: 'event_id_conflict', message: 'taken' } });
  });

  it('answers 503 database_unavailable when the database is gone, 500 otherwise', () => {
    expect(filter.toBody(Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' })).status).toBe(503);
    expect(filter.toBody(new Error('bug')).status).toBe(500);
  });
});
