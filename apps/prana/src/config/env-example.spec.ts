import { getMetadataStorage } from 'class-validator';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { PranaConfig } from './env.validation';

describe('.env.example', () => {
  it('lists every variable PranaConfig reads', () => {
    const example = readFileSync(path.resolve(__dirname, '../../../../.env.example'), 'utf8');
    const listed = new Set([...example.matchAll(/^([A-Z][A-Z0-9_]*)=/gm)].map((m) => m[1]));
    const names = getMetadataStorage()
      .getTargetValidationMetadatas(PranaConfig, '', true, false)
      .map((m) => m.propertyName);
    expect(names).toContain('OIDC_CLIENT_ID');
    expect([...new Set(names)].filter((name) => !listed.has(name))).toEqual([]);
  });
});
