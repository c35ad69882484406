import { readFileSync } from 'node:fs';
import path from 'node:path';
import { getMetadataStorage } from 'class-validator';
import { WorkflowExecutorConfig } from './env.validation';

describe('.env.example', () => {
  it('lists every variable WorkflowExecutorConfig reads', () => {
    const example = readFileSync(path.resolve(__dirname, '../../../../.env.example'), 'utf8');
    const listed = new Set([...example.matchAll(/^([A-Z][A-Z0-9_]*)=/gm)].map((m) => m[1]));
    const names = getMetadataStorage()
      .getTargetValidationMetadatas(WorkflowExecutorConfig, '', true, false)
      .map((m) => m.propertyName);
    expect(names.length).toBeGreaterThan(10);
    expect([...new Set(names)].filter((name) => !listed.has(name))).toEqual([]);
  });
});
