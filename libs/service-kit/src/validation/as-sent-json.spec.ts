import 'reflect-metadata';
import { Type } from 'class-transformer';
import { IsObject, IsOptional, IsString, ValidateNested } from 'class-validator';
import type { EventBatchItem } from '@pancha/contracts';
import { answerEachItem, validateBatchItem } from './batch-items';
import { AsSent, type DtoClass, holdsStrippedMembers, keepAsSent, plainToInstanceAsSent, withoutStrippedMembers } from './as-sent-json';
import { createValidationPipe } from './validation.pipe';

class InnerDto {
  @IsString()
  kind: string;

  @IsOptional() @IsObject()
  payload?: Record<string, unknown>;
}

class RunDto {
  @IsString()
  user_id: string;

  @IsOptional() @IsObject()
  inputs?: Record<string, unknown>;

  /** Not declared as sent: validated and copied like any member. */
  @IsOptional() @IsObject()
  other?: Record<string, unknown>;

  @IsOptional() @IsObject() @ValidateNested() @Type(() => InnerDto)
  data?: InnerDto;
}
keepAsSent(RunDto, 'inputs', 'data.payload');

class OwnDto {
  @IsObject() @AsSent()
  record: Record<string, unknown>;
}

class ChildDto extends RunDto {}

const pipe = createValidationPipe();
const body = (metatype: DtoClass) => ({ type: 'body' as const, metatype: metatype as never, data: undefined });
const AS_SENT = '{"list":[{"__proto__":{"polluted":true},"constructor":1,"prototype":{"p":[{"constructor":{"x":2}}]}}]}';

describe('members named __proto__, constructor, prototype (AsSentValidationPipe)', () => {
  it('keeps a declared free-form member as sent at any depth, and never changes the body nor a prototype', async () => {
    const sent = JSON.parse(`{"user_id":"u","inputs":${AS_SENT},"data":{"kind":"k","payload":${AS_SENT},"constructor":5},"__proto__":{"a":1}}`);
    const before = JSON.stringify(sent);
    const dto = (await pipe.transform(sent, body(RunDto))) as RunDto;
    expect(dto).toBeInstanceOf(RunDto);
    expect(dto.data).toBeInstanceOf(InnerDto);
    expect(JSON.stringify(dto.inputs)).toBe(AS_SENT);
    expect(JSON.stringify(dto.data?.payload)).toBe(AS_SENT);
    // The body itself is left as sent, for whatever else reads it (`@Body('inputs')`).
    expect(JSON.stringify(sent)).toBe(before);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    expect(Object.getPrototypeOf((dto.inputs as { list: object[] }).list[0])).toBe(Object.prototype);
    // What the DTO does not declare is dropped (whitelist), as any unknown member.
    expect(Object.keys(dto.data as object)).toEqual(['kind', 'payload']);
  });

  it('a member the DTO does not declare free-form is validated without them, with no 500', async () => {
    const dto = (await pipe.transform(JSON.parse('{"user_id":"u","other":{"a":{"__proto__":{"b":1}},"c":2}}'), body(RunDto))) as RunDto;
    expect(dto.other).toEqual({ a: {}, c: 2 });
  });

  it('still refuses a bad body with the 422 naming its fields', async () => {
    await expect(pipe.transform(JSON.parse('{"user_id":1,"inputs":{"__proto__":{"x":1}}}'), body(RunDto))).rejects.toMatchObject({
      response: { errors: [{ field: 'user_id' }] },
    });
  });

  it('a subclass inherits the declaration; @AsSent() declares a field of its own', async () => {
    const child = (await pipe.transform(JSON.parse(`{"user_id":"u","inputs":${AS_SENT}}`), body(ChildDto))) as ChildDto;
    expect(JSON.stringify(child.inputs)).toBe(AS_SENT);
    const own = (await pipe.transform(JSON.parse(`{"record":${AS_SENT}}`), body(OwnDto))) as OwnDto;
    expect(JSON.stringify(own.record)).toBe(AS_SENT);
  });

  it('refuses to declare a stripped name as a member path', () => {
    expect(() => keepAsSent(RunDto, 'inputs.__proto__')).toThrow(/not a member path/);
  });
});

describe('members named __proto__, constructor, prototype (batch items)', () => {
  it('validateBatchItem keeps declared members as sent and leaves the item body as sent', async () => {
    const plain = JSON.parse(`{"user_id":"u","inputs":${AS_SENT}}`);
    const dto = await validateBatchItem(RunDto, plain);
    expect(JSON.stringify(dto.inputs)).toBe(AS_SENT);
    expect(JSON.stringify(plain.inputs)).toBe(AS_SENT);
  });

  it('a nested __proto__ object in an undeclared member is that item alone, never a 500', async () => {
    const items: EventBatchItem[] = [
      { body: JSON.parse('{"user_id":"u","other":{"a":{"__proto__":{"b":1}}}}') },
      { body: JSON.parse('{"user_id":2,"other":{"__proto__":{"b":1}}}') },
      { body: JSON.parse(`{"user_id":"w","inputs":${AS_SENT}}`) },
    ];
    const outcomes = await answerEachItem(items, RunDto, 'test', async (dto) => ({ status: 201, body: dto }));
    expect(outcomes.map((o) => o.status)).toEqual([201, 422, 201]);
    expect(JSON.stringify((outcomes[2].body as RunDto).inputs)).toBe(AS_SENT);
  });

  it('plainToInstanceAsSent is class-transformer safe for such bodies', () => {
    const dto = plainToInstanceAsSent(RunDto, JSON.parse(`{"user_id":"u","inputs":${AS_SENT},"other":{"__proto__":{"b":1}}}`));
    expect(JSON.stringify(dto.inputs)).toBe(AS_SENT);
    expect(dto.other).toEqual({});
  });
});

describe('holdsStrippedMembers / withoutStrippedMembers', () => {
  it('finds the members at any depth, through arrays, and copies without them', () => {
    expect(holdsStrippedMembers(JSON.parse('{"a":[{"b":{"c":1}}],"d":"__proto__"}'))).toBe(false);
    for (const name of ['__proto__', 'constructor', 'prototype']) {
      const value = JSON.parse(`{"a":[1,{"b":{"${name}":{"c":1},"k":true}}]}`);
      expect(holdsStrippedMembers(value)).toBe(true);
      expect(withoutStrippedMembers(value)).toEqual({ a: [1, { b: { k: true } }] });
      expect(JSON.stringify(value)).toContain(`"${name}":{"c":1}`);
    }
  });

  it('walks a deeply nested value without recursion', () => {
    const deep = JSON.parse(`${'{"a":'.repeat(50_000)}{"constructor":1}${'}'.repeat(50_000)}`);
    expect(holdsStrippedMembers(deep)).toBe(true);
    expect(holdsStrippedMembers(withoutStrippedMembers(deep))).toBe(false);
  });
});
