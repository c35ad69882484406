import { formatWorkflowRef, parseWorkflowRef, WorkflowRefError } from './workflow-ref';

describe('parseWorkflowRef', () => {
  it('splits name and range', () => {
    expect(parseWorkflowRef('publish-one@^1')).toEqual({ name: 'publish-one', range: '^1' });
    expect(parseWorkflowRef('notify-ops@1.2.3')).toEqual({ name: 'notify-ops', range: '1.2.3' });
    expect(parseWorkflowRef('a@>=1.0.0 <2')).toEqual({ name: 'a', range: '>=1.0.0 <2' });
  });

  it('means any version without @', () => {
    expect(parseWorkflowRef('notify-ops')).toEqual({ name: 'notify-ops', range: '*' });
  });

  it.each([
    ['', /empty/],
    ['publish-one@', /invalid version range/],
    ['publish-one@latest', /invalid version range "latest"/],
    ['Publish_One@^1', /invalid workflow name/],
    ['@^1', /invalid workflow name/],
  ])('refuses %j', (text, message) => {
    expect(() => parseWorkflowRef(text)).toThrow(WorkflowRefError);
    expect(() => parseWorkflowRef(text)).toThrow(message);
  });

  it('formats back', () => {
    expect(formatWorkflowRef(parseWorkflowRef('publish-one@^1'))).toBe('publish-one@^1');
  });
});
