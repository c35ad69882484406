/**
 * JSON members named __proto__, constructor or prototype (a run's inputs as sent, a provider's answer) through the
 * interpreter's templates: rendered as data, field access included, never a failed step or a changed prototype.
 */
import { parseManifest } from '@pancha/workflow-manifest';
import type { ActionCommand } from './interpreter';
import { runInMemory } from './in-memory-runner';

const RELAY = parseManifest(`
name: relay
version: 1.0.0
inputs: { type: object }
security: { actions: [http] }
steps:
  - id: post
    action: http
    with: { method: POST, url: "https://example.com/x", body: "{{ inputs }}" }
  - id: again
    action: http
    with:
      method: POST
      url: "https://example.com/y"
      body: { answer: "{{ steps.post.output }}", maker: "{{ inputs.constructor }}", known: "{{ has(inputs.constructor) }}" }
`);

async function run(inputs: unknown, answer: unknown): Promise<{ status: string; error: unknown; sent: unknown[] }> {
  const sent: unknown[] = [];
  const result = await runInMemory({
    manifest: RELAY.manifest!,
    inputs: inputs as Record<string, unknown>,
    action: (command: ActionCommand) => {
      sent.push((command.input as { body: unknown }).body);
      return { ok: true, output: answer };
    },
  });
  return { status: result.run.status, error: result.run.error ?? null, sent };
}

describe('members named __proto__, constructor or prototype in templates', () => {
  it('renders inputs and a step output holding them as sent, and reads inputs.constructor as a field', async () => {
    expect(RELAY.manifest).toBeDefined();
    const raw = '{"name":"a","constructor":"Acme Builders","meta":{"__proto__":{"x":1},"prototype":[1,2]}}';
    const answer = JSON.parse('{"id":7,"__proto__":{"polluted":true},"constructor":{"n":1}}');
    const { status, error, sent } = await run(JSON.parse(raw), answer);
    expect({ status, error }).toEqual({ status: 'completed', error: null });
    expect(JSON.stringify(sent[0])).toBe(raw);
    const second = sent[1] as { answer: unknown; maker: unknown; known: unknown };
    expect(JSON.stringify(second.answer)).toBe('{"id":7,"__proto__":{"polluted":true},"constructor":{"n":1}}');
    expect([second.maker, second.known]).toEqual(['Acme Builders', true]);
    // Data, not a prototype: nothing inherited, and Object.prototype untouched.
    expect(Object.getPrototypeOf(second.answer)).toBe(Object.prototype);
    expect((second.answer as { polluted?: unknown }).polluted).toBeUndefined();
    expect(({} as { polluted?: unknown; x?: unknown }).polluted).toBeUndefined();
  });
});
