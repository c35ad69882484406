import { MAX_PREPARED_TEXTS, PREPARE_AFTER, preparedName } from './preparing-client';

describe('preparedName', () => {
  it('leaves a statement unnamed until its fifth run, then names it the same every time', () => {
    const text = 'SELECT 1 WHERE $1::int = 1 -- spec a';
    const names = Array.from({ length: PREPARE_AFTER + 2 }, () => preparedName(text, [1]));
    expect(names.slice(0, PREPARE_AFTER - 1)).toEqual(Array(PREPARE_AFTER - 1).fill(undefined));
    const name = names[PREPARE_AFTER - 1];
    expect(name).toMatch(/^select_[0-9a-f]{20}$/);
    expect(names.slice(PREPARE_AFTER)).toEqual([name, name]);
    const other = 'SELECT 2 WHERE $1::int = 1 -- spec a';
    for (let i = 0; i < PREPARE_AFTER - 1; i++) preparedName(other, [1]);
    expect(preparedName(other, [1])).not.toBe(name);
  });

  it('never names a statement without parameters (BEGIN, COMMIT, DDL)', () => {
    for (let i = 0; i < PREPARE_AFTER * 2; i++) {
      expect(preparedName('COMMIT', [])).toBeUndefined();
      expect(preparedName('COMMIT', undefined)).toBeUndefined();
    }
  });

  it('stops counting new texts once the table is full, and keeps naming the hot ones', () => {
    const hot = 'SELECT $1::int -- spec hot';
    for (let i = 0; i < PREPARE_AFTER; i++) preparedName(hot, [1]);
    for (let i = 0; i < MAX_PREPARED_TEXTS; i++) preparedName(`SELECT $1::int -- spec filler ${i}`, [1]);
    const late = 'SELECT $1::int -- spec late';
    for (let i = 0; i < PREPARE_AFTER * 2; i++) expect(preparedName(late, [1])).toBeUndefined();
    expect(preparedName(hot, [1])).toMatch(/^select_/);
  });
});
