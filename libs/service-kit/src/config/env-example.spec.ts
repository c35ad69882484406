import { getMetadataStorage } from 'class-validator';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { BaseServiceConfig } from './env.validation';

describe('.env.example', () => {
  it('lists every variable of BaseServiceConfig (the edge, identity and rate-limit settings included)', () => {
    const example = readFileSync(path.resolve(__dirname, '../../../../.env.example'), 'utf8');
    const listed = new Set([...example.matchAll(/^([A-Z][A-Z0-9_]*)=/gm)].map((m) => m[1]));
    const names = new Set(
      getMetadataStorage()
        .getTargetValidationMetadatas(BaseServiceConfig, '', true, false)
        .map((m) => m.propertyName),
    );
    expect(names.size).toBeGreaterThan(20);
    expect([...names].filter((name) => !listed.has(name))).toEqual([]);
  });
});
