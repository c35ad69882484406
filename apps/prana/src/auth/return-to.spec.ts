import { safeReturnTo } from './return-to';

describe('safeReturnTo', () => {
  it.each([
    ['/runs', '/runs'],
    ['/runs/abc?tab=steps#s1', '/runs/abc?tab=steps#s1'],
    ['/', '/'],
  ])('keeps the same-origin path %j', (given, kept) => {
    expect(safeReturnTo(given)).toBe(kept);
  });

  it.each([
    '//evil.com',
    '///evil.com',
    'https://evil.com',
    'http:/evil.com',
    '/\\evil.com',
    '\\\\evil.com',
    '/\t/evil.com',
    '/\n/evil.com',
    'javascript:alert(1)',
    'evil.com',
    '/.//evil.com',
    '/..//evil.com',
    '/%2e//evil.com',
    '/%2E%2E//evil.com',
    '/a/..//evil.com',
    '',
    `/${'a'.repeat(3000)}`,
  ])('sends %j to /', (given) => {
    expect(safeReturnTo(given)).toBe('/');
  });

  it('ignores anything that is not one string (repeated query parameters)', () => {
    expect(safeReturnTo(['/a', '/b'])).toBe('/');
    expect(safeReturnTo(undefined)).toBe('/');
  });
});
