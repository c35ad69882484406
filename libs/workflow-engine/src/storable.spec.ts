import type { Step } from '@pancha/workflow-manifest';
import { runInMemory } from './in-memory-runner';
import type { ActionCommand, ActionResult } from './interpreter';
import { findUnstorableValue, storableError } from './storable';
import { action, manifest, retry } from './testing/manifest-builders';

const NUL = String.fromCharCode(0);
/** An expression appending U+0000 as a manifest writes it (`"\u0000"` inside the expression, as in YAML single quotes). */
const WITH_NUL = '{{ inputs.note + "\\u0000" }}';

function echo() {
  const calls: ActionCommand[] = [];
  const fn = (command: ActionCommand): ActionResult => {
    calls.push(command);
    return { ok: true, output: { echo: command.input } };
  };
  return { fn, calls };
}

/** Nothing the run would write holds a value PostgreSQL refuses: its output, error, and every step's input, output and error. */
function expectStorable(result: Awaited<ReturnType<typeof runInMemory>>): void {
  const written = { run: { output: result.run.output, error: result.run.error }, steps: result.steps.map((s) => [s.input, s.output, s.error, s.decision]) };
  expect(findUnstorableValue(written, 'round')).toBeUndefined();
}

describe('values PostgreSQL cannot store, rendered by expressions', () => {
  it('a step whose with renders U+0000 fails with an error naming the field, and is never performed', async () => {
    const a = echo();
    const result = await runInMemory({
      manifest: manifest([action('greet', 'echo', { title: WITH_NUL, ok: 'fine' }), action('after', 'echo')]),
      inputs: { note: 'hi' },
      action: a.fn,
    });
    expect(result.run.status).toBe('failed');
    expect(result.run.error).toEqual({
      code: 'value_unstorable',
      message: 'step greet: with.title: text holds U+0000, which cannot be stored',
      retryable: false,
    });
    expect(a.calls).toEqual([]);
    const greet = result.steps.find((s) => s.step_id === 'greet');
    expect(greet?.status).toBe('failed');
    expect(greet?.input).toBeUndefined();
    expectStorable(result);
  });

  it('a step with on_failure continue lets the run go on to the next step', async () => {
    const a = echo();
    const result = await runInMemory({
      manifest: manifest([action('greet', 'echo', { title: WITH_NUL }, { on_failure: { continue: true } }), action('after', 'echo', { v: 1 })]),
      inputs: { note: 'hi' },
      action: a.fn,
    });
    expect(result.run.status).toBe('completed');
    expect(a.calls.map((c) => c.step_id)).toEqual(['after']);
    expect(result.steps.find((s) => s.step_id === 'greet')?.error?.message).toBe('step greet: with.title: text holds U+0000, which cannot be stored');
  });

  it('a nested member, an unpaired surrogate and a non-finite number are named by their path', async () => {
    const run = (input: unknown, inputs: Record<string, unknown> = {}) =>
      runInMemory({ manifest: manifest([action('s', 'echo', input)]), inputs, action: echo().fn });
    expect((await run({ body: { list: ['a', '{{ inputs.s }}'] } }, { s: 'x\ud800' })).run.error?.message).toBe(
      'step s: with.body.list.1: text holds an unpaired UTF-16 surrogate, which cannot be stored',
    );
    expect((await run({ n: '{{ 1.0 / 0.0 }}' })).run.error?.message).toBe('step s: with.n: the number Infinity has no JSON form, which cannot be stored');
    expect((await run({ '{{ inputs.note }}': 'v' }, { note: 'x' })).run.status).toBe('completed');
  });

  it("the run's output template rendering U+0000 fails the run with that error", async () => {
    const result = await runInMemory({
      manifest: manifest([action('greet', 'echo', { v: 1 })], { output: { note: WITH_NUL } }),
      inputs: { note: 'hi' },
      action: echo().fn,
    });
    expect(result.run.status).toBe('failed');
    expect(result.run.output).toBeUndefined();
    expect(result.run.error).toMatchObject({ code: 'value_unstorable', message: 'output.note: text holds U+0000, which cannot be stored' });
  });

  it('foreach items, a sub-workflow input and a step fallback input are checked too', async () => {
    const fe: Step = {
      kind: 'foreach',
      id: 'each',
      items: `{{ ["a", inputs.note + "\\u0000"] }}`,
      concurrency: 1,
      body: { kind: 'action', action: 'echo', with: { p: '{{ item }}' }, retry: retry({}) },
      source: { pointer: '' },
    };
    const each = await runInMemory({ manifest: manifest([fe]), inputs: { note: 'hi' }, action: echo().fn });
    expect(each.run.error?.message).toBe('step each: foreach.1: text holds U+0000, which cannot be stored');

    const children: unknown[] = [];
    const child = (command: { run_id: string }) => {
      children.push(command);
      return { id: command.run_id, status: 'completed' as const };
    };
    const sub = await runInMemory({
      manifest: manifest([{ kind: 'workflow', id: 'sub', workflow: { name: 'kid', range: '^1' }, with: { note: WITH_NUL }, retry: retry({}), source: { pointer: '' } }]),
      inputs: { note: 'hi' },
      pins: { 'kid@^1': '1.0.0' },
      action: echo().fn,
      child,
    });
    expect(sub.run.error?.message).toBe('step sub: with.note: text holds U+0000, which cannot be stored');

    const fallback = await runInMemory({
      manifest: manifest([action('a', 'echo', {}, { on_failure: { workflow: { name: 'kid', range: '^1' }, with: { why: WITH_NUL } } })]),
      inputs: { note: 'hi' },
      pins: { 'kid@^1': '1.0.0' },
      action: () => ({ ok: false, error: { code: 'boom', message: 'boom', retryable: false } }),
      child,
    });
    expect(fallback.run.error?.message).toBe('step a: on_failure.with.why: text holds U+0000, which cannot be stored');
    expect(children).toEqual([]);
    for (const r of [each, sub, fallback]) expectStorable(r);
  });

  it('a sleep.until rendering U+0000 fails its step, and engine error messages are made storable', async () => {
    const result = await runInMemory({
      manifest: manifest([{ kind: 'sleep', id: 'nap', until: '{{ inputs.when }}', source: { pointer: '' } }]),
      inputs: { when: `soon${NUL}\udc00` },
      action: echo().fn,
    });
    expect(result.run.status).toBe('failed');
    expect(result.run.error?.message).toBe('step nap: sleep.until: text holds U+0000, which cannot be stored');
    expectStorable(result);
    expect(storableError({ code: 'x', message: `a${NUL}b\ud800`, retryable: false }).message).toBe('a\ufffdb\ufffd');
  });
});
