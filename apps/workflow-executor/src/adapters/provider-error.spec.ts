import { AxiosError, AxiosHeaders } from 'axios';
import { describeProviderError } from './provider-error';

function httpError(status: number, data: unknown): AxiosError {
  const config = { headers: new AxiosHeaders({ authorization: 'Bearer sk-secret' }), url: 'https://api.example/v1?key=sk-secret' };
  return new AxiosError('Request failed', 'ERR_BAD_RESPONSE', config, undefined, {
    status,
    statusText: '',
    data,
    headers: {},
    config,
  });
}

describe('describeProviderError', () => {
  it('keeps the status and the provider message, never the credentials', () => {
    const text = describeProviderError('ai provider', httpError(401, { error: { message: 'Incorrect API key provided' } }));
    expect(text).toBe('ai provider answered HTTP 401: Incorrect API key provided');
    expect(text).not.toContain('sk-secret');
  });

  it('names network failures by code', () => {
    const error = new AxiosError('connect ECONNREFUSED 127.0.0.1:1', 'ECONNREFUSED');
    expect(describeProviderError('whatsapp provider', error)).toBe('whatsapp provider unreachable (ECONNREFUSED)');
  });

  it('quotes an SMTP server reply line', () => {
    const error = Object.assign(new Error('Message failed'), { code: 'EENVELOPE', responseCode: 550, response: '550 5.1.1 mailbox unavailable' });
    expect(describeProviderError('smtp server', error)).toBe('smtp server rejected the message: 550 5.1.1 mailbox unavailable');
  });

  it('truncates long provider text', () => {
    expect(describeProviderError('p', httpError(500, 'x'.repeat(1000))).length).toBeLessThan(260);
  });
});
