import 'reflect-metadata';
import { getMetadataStorage, IsInt, IsString, validate } from 'class-validator';
import { plainToInstance } from 'class-transformer';
import { validateBatchItem } from './batch-items';
import { memoizeValidationMetadata } from './validation-metadata-cache';

class Base {
  @IsString() name!: string;
}

class Child extends Base {
  @IsInt() count!: number;
}

class Grouped {
  @IsString({ groups: ['strict'] }) label!: string;
  @IsInt() size!: number;
}

const fieldsOf = async (cls: new () => object, plain: object): Promise<string[]> => {
  try {
    await validateBatchItem(cls, plain);
    return [];
  } catch (error) {
    return ((error as { errors?: { field: string }[] }).errors ?? []).map((d) => d.field).sort();
  }
};

describe('memoizeValidationMetadata', () => {
  beforeAll(() => memoizeValidationMetadata()); // installed on import already; a second call changes nothing

  it('answers a repeated lookup from its cache instead of scanning every class again', () => {
    const storage = getMetadataStorage();
    const first = storage.getTargetValidationMetadatas(Child, '', false, false);
    expect(storage.getTargetValidationMetadatas(Child, '', false, false)).toBe(first);
    expect(storage.groupByPropertyName(first)).toBe(storage.groupByPropertyName(first));
    // Inherited rules are part of the cached answer.
    expect(first.map((m) => m.propertyName).sort()).toEqual(['count', 'name']);
  });

  it('validates as before: inherited rules, unknown members dropped', async () => {
    expect(await fieldsOf(Child, { name: 1, count: 'x' })).toEqual(['count', 'name']);
    const ok = await validateBatchItem(Child, { name: 'a', count: 2, extra: true });
    expect(ok).toEqual(Object.assign(new Child(), { name: 'a', count: 2 }));
  });

  it('keeps lookups with different groups apart', async () => {
    const bad = plainToInstance(Grouped, { label: 1, size: 'x' });
    const withGroup = await validate(bad, { groups: ['strict'] });
    const without = await validate(bad);
    expect(withGroup.map((e) => e.property)).toEqual(['label']);
    expect(without.map((e) => e.property).sort()).toEqual(['label', 'size']);
  });

  it('passes a plain object whose own `constructor` is not a class through to class-validator (no throw)', async () => {
    const errors = await validate(JSON.parse('{"constructor":"x","a":1}') as object);
    expect(errors.map((e) => Object.keys(e.constraints ?? {}))).toEqual([['unknownValue']]);
  });

  it('applies a rule added after the class was first validated', async () => {
    class Late {
      @IsString() a!: string;
    }
    expect(await fieldsOf(Late, { a: 'x', b: 'no' })).toEqual([]);
    IsInt()(Late.prototype, 'b');
    expect(await fieldsOf(Late, { a: 'x', b: 'no' })).toEqual(['b']);
  });
});
