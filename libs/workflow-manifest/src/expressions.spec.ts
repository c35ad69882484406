import {
  compileExpression,
  compileTemplate,
  ExpressionEvaluationError,
  ExpressionScope,
  ExpressionSyntaxError,
  isExpressionString,
  redactSecrets,
  renderTemplate,
  templateErrors,
  templateReferences,
} from './expressions';

const scope: ExpressionScope = {
  inputs: { user_id: 'u1', email: 'a@example.com', n: 41, ratio: 0.5, tags: ['x', 'y'], nested: { list: [{ id: 'i0' }, { id: 'i1' }] } },
  steps: {
    create_task: { status: 'completed', output: { task_id: 't1', reference: 'TASK-1', count: 3 } },
    skipped_one: { status: 'skipped' },
  },
  run: { id: 'r1', trace_id: 'abc', workflow: 'onboard-learner', version: '1.2.0', user_id: 'u1', product: null },
};

const evaluate = (source: string, s: ExpressionScope = scope) => compileExpression(source).evaluate(s);

describe('compileExpression / evaluate', () => {
  it('reads inputs, steps and run', () => {
    expect(evaluate('inputs.user_id')).toBe('u1');
    expect(evaluate('steps.create_task.output.reference')).toBe('TASK-1');
    expect(evaluate('steps.create_task.status == "completed"')).toBe(true);
    expect(evaluate('run.workflow + "@" + run.version')).toBe('onboard-learner@1.2.0');
  });

  it('does integer arithmetic on JSON integers and gives back JS numbers', () => {
    expect(evaluate('inputs.n + 1')).toBe(42);
    expect(evaluate('steps.create_task.output.count * 2')).toBe(6);
    expect(evaluate('size(inputs.tags)')).toBe(2);
  });

  it('compares JSON numbers with doubles whether they arrived as 1 or 0.9', () => {
    const check = compileExpression('event.data.score > 0.8');
    expect(check.evaluate({ event: { data: { score: 1 } } })).toBe(true);
    expect(check.evaluate({ event: { data: { score: 0.9 } } })).toBe(true);
    expect(check.evaluate({ event: { data: { score: 0.5 } } })).toBe(false);
  });

  it('mixes ints and doubles in arithmetic', () => {
    expect(evaluate('inputs.n * 1.5')).toBe(61.5);
    expect(evaluate('inputs.ratio + 1')).toBe(1.5);
    expect(evaluate('1 + 0.25')).toBe(1.25);
  });

  it('accepts a `{{ }}` wrapper around a bare expression', () => {
    expect(compileExpression('{{ inputs.n > 40 }}').evaluate(scope)).toBe(true);
    expect(compileExpression('{{ inputs.n > 40 }}').source).toBe('inputs.n > 40');
  });

  it('has(), optional chaining and macros work', () => {
    expect(evaluate('has(inputs.phone)')).toBe(false);
    expect(evaluate('has(inputs.email)')).toBe(true);
    expect(evaluate('has(steps.skipped_one.output)')).toBe(false);
    expect(evaluate('inputs.?phone.orValue("none")')).toBe('none');
    expect(evaluate('inputs.nested.list.map(x, x.id)')).toEqual(['i0', 'i1']);
    expect(evaluate('inputs.tags.exists(t, t == "y")')).toBe(true);
    expect(evaluate('cel.bind(t, inputs.n, t + 1)')).toBe(42);
  });

  it('offers lower(), upper(), replace() and the built-in string functions', () => {
    expect(evaluate('"ÄbC".lower()')).toBe('äbc');
    expect(evaluate('inputs.user_id.upper()')).toBe('U1');
    expect(evaluate('"a-b-c".replace("-", "+")')).toBe('a+b+c');
    expect(evaluate('" x ".trim()')).toBe('x');
    expect(evaluate('inputs.email.endsWith("@example.com")')).toBe(true);
  });

  it('converts results back to JSON values', () => {
    expect(evaluate('{"a": 1, "b": [2, 3.5], "c": null}')).toEqual({ a: 1, b: [2, 3.5], c: null });
    expect(evaluate('timestamp("2024-01-01T00:00:00Z")')).toBe('2024-01-01T00:00:00.000Z');
    expect(evaluate('duration("90s")')).toBe('90s');
    expect(evaluate('9007199254740993')).toBe('9007199254740993');
    expect(evaluate('optional.none()')).toBeNull();
  });

  it('names the missing key and where it was read', () => {
    const run = () => evaluate('inputs.phone');
    expect(run).toThrow(ExpressionEvaluationError);
    expect(run).toThrow('no such key: phone in inputs.phone');
    expect(() => evaluate('steps.later.output')).toThrow('no such key: later in steps.later');
  });

  it('says a variable is not available where it is not', () => {
    expect(() => evaluate('item.id')).toThrow(/item is not available here/);
  });

  it('says a secret is not set', () => {
    expect(() => evaluate('secrets.CRM_TOKEN')).toThrow(/CRM_TOKEN.*not set/);
    expect(evaluate('secrets.CRM_TOKEN', { secrets: { CRM_TOKEN: 'tok-123' } })).toBe('tok-123');
  });

  it('reports a syntax error with its column', () => {
    try {
      compileExpression('inputs.a + + ');
      throw new Error('expected a syntax error');
    } catch (error) {
      expect(error).toBeInstanceOf(ExpressionSyntaxError);
      const e = error as ExpressionSyntaxError;
      // The second `+` is where the parser gives up.
      expect(e.column).toBe(12);
      expect(e.message).toMatch(/column 12: unexpected token/);
    }
  });

  it('refuses a map literal keyed __proto__, constructor or prototype (CEL would drop the key), naming it and its column', () => {
    for (const key of ['constructor', '__proto__', 'prototype']) {
      try {
        compileExpression(`inputs.r == {"${key}": "c"}`);
        throw new Error('expected a syntax error');
      } catch (error) {
        expect(error).toBeInstanceOf(ExpressionSyntaxError);
        expect((error as ExpressionSyntaxError).code).toBe('reserved_map_key');
        expect((error as ExpressionSyntaxError).column).toBe(14);
        expect((error as Error).message).toContain(`cannot hold the key "${key}"`);
      }
    }
    // Reading such a member of data stays allowed, as does a map literal with other keys.
    const data = { inputs: JSON.parse('{"r":{"constructor":"c"}}') as Record<string, unknown> };
    expect(evaluate('inputs.r.constructor == "c" && {"name": 1}.name == 1', data)).toBe(true);
  });

  it('refuses unknown variables and functions at compile time', () => {
    expect(() => compileExpression('input.user_id')).toThrow(/unknown variable: input/i);
    expect(() => compileExpression('lowercase(inputs.user_id)')).toThrow(ExpressionSyntaxError);
    expect(() => compileExpression('1 + "a"')).toThrow(/no such overload/);
  });

  it('refuses a hostile 10 kB expression quickly', () => {
    // CPU time of this process, not wall-clock time: a busy machine stretches the latter, never the former.
    const started = process.cpuUsage();
    expect(() => compileExpression('1 + '.repeat(2_500) + '1')).toThrow(/10001 characters long; the limit is 8192/);
    expect(() => compileExpression('1 + '.repeat(1_800) + '1')).toThrow(/maxAstNodes/);
    expect(() => compileExpression('('.repeat(1_000) + '1' + ')'.repeat(1_000))).toThrow(/maxDepth/);
    const used = process.cpuUsage(started);
    expect((used.user + used.system) / 1000).toBeLessThan(500);
  });

  it('cannot reach JavaScript internals', () => {
    expect(() => evaluate('inputs.constructor')).toThrow(/no such key/);
    expect(() => evaluate('inputs["__proto__"]')).toThrow(/no such key/);
    expect(() => compileExpression('process.exit(1)')).toThrow(/unknown variable: process/i);
    expect(() => compileExpression('require("fs")')).toThrow(ExpressionSyntaxError);
  });

  it('reads only the parts of the scope the expression names', () => {
    // A getter that throws stands for a large output: converting it (or touching it) would fail the test.
    const untouchable = {
      get output(): unknown {
        throw new Error('an unrelated step output was converted');
      },
    };
    const big: ExpressionScope = { ...scope, inputs: { ...(scope.inputs as object), other: untouchable }, steps: { ...scope.steps, other: untouchable as never } };
    expect(evaluate('steps.create_task.output.count + inputs.n', big)).toBe(44);
    expect(renderTemplate(compileTemplate({ t: '{{ steps.create_task.output.reference }} {{ inputs.tags }}' }), big)).toEqual({ t: 'TASK-1 ["x","y"]' });
  });

  it('sees whole values where they are used whole', () => {
    expect(evaluate('size(steps.create_task.output) == 3 && "count" in steps.create_task.output')).toBe(true);
    expect(evaluate('inputs.nested == {"list": [{"id": "i0"}, {"id": "i1"}]}')).toBe(true);
    expect(evaluate('inputs.nested.list[1].id')).toBe('i1');
    expect(evaluate('has(inputs.nested.nope) || inputs.nested.?nope.orValue(7) == 7')).toBe(true);
    expect(evaluate('steps[inputs.user_id == "u1" ? "create_task" : "x"].output.task_id')).toBe('t1');
  });

  it('caches compiled expressions by source', () => {
    expect(compileExpression('inputs.n + 2')).toBe(compileExpression('inputs.n + 2'));
  });
});

describe('references()', () => {
  const refs = (source: string) => compileExpression(source).references();

  it('finds roots, steps and secrets', () => {
    expect(refs('steps.create_task.output.x + secrets.CRM_TOKEN')).toEqual({
      roots: ['steps', 'secrets'],
      steps: ['create_task'],
      secrets: ['CRM_TOKEN'],
      dynamicSteps: false,
      dynamicSecrets: false,
      paths: [
        ['steps', 'create_task', 'output', 'x'],
        ['secrets', 'CRM_TOKEN'],
      ],
    });
  });

  it('records where each chain of literal selects ends', () => {
    expect(refs('size(inputs.list) > 0 && inputs.list[0].id == steps["a"].output.id && "k" in inputs.m').paths).toEqual([
      ['inputs', 'list'],
      ['inputs', 'list'],
      ['steps', 'a', 'output', 'id'],
      ['inputs', 'm'],
    ]);
  });

  it('counts has(), optional selects and index with a literal', () => {
    expect(refs('has(steps.a.output) && steps.?b.output.hasValue() && steps["c"].status == "x"').steps.sort()).toEqual(['a', 'b', 'c']);
  });

  it('leaves out macro variables, even ones named like scope variables', () => {
    const r = refs('inputs.list.map(item, item.id) + inputs.other.filter(steps, steps > 1)');
    expect(r.roots).toEqual(['inputs']);
    expect(r.steps).toEqual([]);
    expect(refs('cel.bind(x, steps.a.output, x.y)').steps).toEqual(['a']);
  });

  it('marks dynamic access', () => {
    expect(refs('steps[inputs.k].output').dynamicSteps).toBe(true);
    expect(refs('secrets[inputs.k]').dynamicSecrets).toBe(true);
    expect(refs('size(secrets) > 0').dynamicSecrets).toBe(true);
  });

  it('sees item, index and event', () => {
    expect(refs('item.name + string(index)').roots.sort()).toEqual(['index', 'item']);
    expect(refs('event.data.score > 0.8').roots).toEqual(['event']);
  });
});

describe('templates', () => {
  it('keeps the type of a string that is exactly one expression', () => {
    const t = compileTemplate({ n: '{{ inputs.n }}', tags: '{{ inputs.tags }}', ok: '{{ inputs.n > 1 }}', obj: '{{ steps.create_task.output }}' });
    expect(renderTemplate(t, scope)).toEqual({
      n: 41,
      tags: ['x', 'y'],
      ok: true,
      obj: { task_id: 't1', reference: 'TASK-1', count: 3 },
    });
  });

  it('interpolates everything else, objects and lists as JSON and null as nothing', () => {
    const t = compileTemplate({
      title: 'Welcome {{ inputs.user_id }}',
      body: 'Task {{ steps.create_task.output.reference }} ({{ inputs.n }})',
      list: 'tags={{ inputs.tags }}',
      none: '[{{ run.product }}]',
      spaced: ' {{ inputs.n }}',
    });
    expect(renderTemplate(t, scope)).toEqual({ title: 'Welcome u1', body: 'Task TASK-1 (41)', list: 'tags=["x","y"]', none: '[]', spaced: ' 41' });
  });

  it('walks arrays and nested objects and leaves literals alone', () => {
    const t = compileTemplate({ a: [1, '{{ inputs.n + 1 }}', { b: 'x{{ "y" }}' }], c: true, d: null });
    expect(renderTemplate(t, scope)).toEqual({ a: [1, 42, { b: 'xy' }], c: true, d: null });
    expect(compileTemplate({ plain: 'text' }).hasExpressions).toBe(false);
  });

  it('does not end an expression at a }} inside a string or a map literal', () => {
    expect(renderTemplate(compileTemplate('{{ "}}" }}'), scope)).toBe('}}');
    expect(renderTemplate(compileTemplate('{{ {"a": {"b": 1}} }}'), scope)).toEqual({ a: { b: 1 } });
    expect(renderTemplate(compileTemplate("x{{ '{{' + \"}}\" }}y"), scope)).toBe('x{{}}y');
  });

  it('reports a missing key with the field it is in', () => {
    const t = compileTemplate({ with: { recipient: '{{ inputs.phone }}' } });
    expect(() => renderTemplate(t, scope)).toThrow('with.recipient: no such key: phone in inputs.phone');
    try {
      renderTemplate(t, scope);
    } catch (error) {
      expect((error as ExpressionEvaluationError).path).toBe('/with/recipient');
    }
  });

  it('reports every syntax error with its path and column in the string', () => {
    const errors = templateErrors({ a: 'ok {{ inputs.x }}', b: ['x {{ inputs.y + }}'], c: 'open {{ inputs.z' });
    expect(errors.map((e) => [e.path, e.column, e.code])).toEqual([
      ['/b/0', 16, 'unexpected_token'],
      ['/c', 6, 'unterminated_template'],
    ]);
    expect(() => compileTemplate({ b: 'x {{ }}' })).toThrow(/empty/);
  });

  it('unions the references of its expressions', () => {
    const r = templateReferences(compileTemplate({ a: '{{ steps.a.output }}', b: ['{{ secrets.TOKEN }}', '{{ inputs.x }}'] }));
    expect(r.roots.sort()).toEqual(['inputs', 'secrets', 'steps']);
    expect(r.steps).toEqual(['a']);
    expect(r.secrets).toEqual(['TOKEN']);
  });

  it('tells expression strings from plain ones', () => {
    expect(isExpressionString('Hello {{ inputs.name }}')).toBe(true);
    expect(isExpressionString('Hello')).toBe(false);
    expect(isExpressionString('{ not: a template }')).toBe(false);
    expect(isExpressionString(3)).toBe(false);
  });
});

describe('secrets', () => {
  const withSecret: ExpressionScope = { ...scope, secrets: { CRM_TOKEN: 's3cr3t-value' } };
  const template = compileTemplate({ headers: { authorization: 'Bearer {{ secrets.CRM_TOKEN }}' }, token: '{{ secrets.CRM_TOKEN }}' });

  it('renders secret values for the call itself', () => {
    expect(renderTemplate(template, withSecret)).toEqual({ headers: { authorization: 'Bearer s3cr3t-value' }, token: 's3cr3t-value' });
  });

  it('renders [secret:NAME] in redact mode, so what is stored never holds a value', () => {
    const stored = renderTemplate(template, withSecret, { secrets: 'redact' });
    expect(stored).toEqual({ headers: { authorization: 'Bearer [secret:CRM_TOKEN]' }, token: '[secret:CRM_TOKEN]' });
    expect(JSON.stringify(stored)).not.toContain('s3cr3t-value');
    // Redaction does not need the value at all (the renderer of a stored view may not have it).
    expect(renderTemplate(template, scope, { secrets: 'redact' })).toEqual(stored);
  });

  it('redactSecrets replaces every occurrence of a secret value in a deep copy', () => {
    const original = { out: 'token s3cr3t-value echoed', list: ['s3cr3t-value', 'abc'], n: 1, deep: { x: 'xs3cr3t-valuex' } };
    const redacted = redactSecrets(original, ['s3cr3t-value', 'abc']);
    expect(redacted).toEqual({ out: 'token [REDACTED] echoed', list: ['[REDACTED]', 'abc'], n: 1, deep: { x: 'x[REDACTED]x' } });
    expect(original.out).toBe('token s3cr3t-value echoed');
  });

  it('redacts the longer of two overlapping secrets first', () => {
    expect(redactSecrets('pass-1234-extra', ['pass-1234', 'pass-1234-extra'])).toBe('[REDACTED]');
  });
});

describe('conditions: type and evaluateBool', () => {
  it('knows the type where it does not depend on the data, dyn where it does', () => {
    expect(compileExpression('inputs.n > 1').type).toBe('bool');
    expect(compileExpression('int(inputs.n)').type).toBe('int');
    expect(compileExpression('"true"').type).toBe('string');
    expect(compileExpression('inputs.n').type).toBe('dyn');
  });

  it('gives a bool as it is, and refuses anything else naming its CEL type', () => {
    expect(compileExpression('inputs.n > 1').evaluateBool(scope)).toBe(true);
    expect(compileExpression('has(inputs.missing)').evaluateBool(scope)).toBe(false);
    const refusal = (source: string): ExpressionEvaluationError => {
      try {
        compileExpression(source).evaluateBool(scope);
      } catch (error) {
        return error as ExpressionEvaluationError;
      }
      throw new Error(`${source} was taken as a bool`);
    };
    expect(refusal('inputs.n')).toMatchObject({ code: 'not_a_bool', message: 'must be a bool, got int (inputs.n)' });
    expect(refusal('inputs.ratio')).toMatchObject({ message: 'must be a bool, got double (inputs.ratio)' });
    expect(refusal('"true"')).toMatchObject({ message: 'must be a bool, got string ("true")' });
    expect(refusal('run.product')).toMatchObject({ message: 'must be a bool, got null (run.product)' });
    expect(refusal('inputs.tags')).toMatchObject({ message: 'must be a bool, got list (inputs.tags)' });
    expect(refusal('inputs.nested')).toMatchObject({ message: 'must be a bool, got map (inputs.nested)' });
    expect(refusal('inputs.?missing')).toMatchObject({ message: 'must be a bool, got optional_type (inputs.?missing)' });
  });
});
