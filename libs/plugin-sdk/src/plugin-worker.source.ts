/**
 * The code each plugin worker runs (`new Worker(source, { eval: true })`): a string, so the executor's bundle and its
 * tests need no separate worker file. Before the plugin loads it fences the worker: the executor's code and keys
 * (workerData.forbidden), `@pancha/*` modules other than the SDK, child processes, other workers, the inspector and
 * native bindings are refused with plugin_forbidden_access; the environment is empty (Worker `env: {}`); secrets
 * arrive in workerData, only the declared ones. A worker thread shares the process: this keeps a careless or buggy
 * plugin out of the executor's internals; it is not a sandbox for hostile code (that needs a separate process).
 */
export const PLUGIN_WORKER_SOURCE = String.raw`
'use strict';
const Module = require('node:module');
const path = require('node:path');
const fs = require('node:fs');
const { parentPort, workerData } = require('node:worker_threads');

const FORBIDDEN_CODE = 'plugin_forbidden_access';
const forbidden = workerData.forbidden.map((p) => path.resolve(p));
const DENIED = new Set(['child_process', 'cluster', 'inspector', 'worker_threads', 'v8', 'vm', 'repl', 'trace_events', 'wasi']);

class ForbiddenAccess extends Error {
  constructor(message) { super(message); this.code = FORBIDDEN_CODE; this.retryable = false; }
}
const isForbiddenPath = (p) => {
  if (typeof p !== 'string' && !(p instanceof URL) && !Buffer.isBuffer(p)) return false;
  const abs = path.resolve(p instanceof URL ? p.pathname : String(p));
  return forbidden.some((root) => abs === root || abs.startsWith(root + path.sep));
};

class PluginError extends Error {
  constructor(code, message, retryable) { super(message); this.name = 'PluginError'; this.code = code; this.retryable = retryable; }
}
const sdk = Object.freeze({ definePlugin: (d) => d, PluginError, PLUGIN_NAME_REGEX: /^[a-z][a-z0-9-]{0,63}$/ });

const originalLoad = Module._load;
Module._load = function load(request, parent, isMain) {
  if (request === '@pancha/plugin-sdk') return sdk;
  const bare = request.startsWith('node:') ? request.slice(5) : request;
  if (DENIED.has(bare.split('/')[0])) throw new ForbiddenAccess('a plugin may not load ' + request);
  if (request.startsWith('@pancha/')) throw new ForbiddenAccess('a plugin may not load the executor\'s modules (' + request + ')');
  if (request.startsWith('.') || path.isAbsolute(request)) {
    // Checked before resolving: a path into the executor is refused even where it would not resolve (.ts sources).
    const base = parent && parent.filename ? path.dirname(parent.filename) : process.cwd();
    if (isForbiddenPath(path.resolve(base, request))) throw new ForbiddenAccess('a plugin may not load the executor\'s modules (' + request + ')');
  }
  if (!Module.isBuiltin(request)) {
    const resolved = Module._resolveFilename(request, parent, isMain);
    if (isForbiddenPath(resolved)) throw new ForbiddenAccess('a plugin may not load the executor\'s modules (' + request + ')');
  }
  return originalLoad.apply(this, arguments);
};
const PATH_FUNCTIONS = ['readFileSync', 'readFile', 'openSync', 'open', 'createReadStream', 'readdirSync', 'readdir', 'statSync', 'stat',
  'lstatSync', 'lstat', 'existsSync', 'accessSync', 'access', 'opendirSync', 'opendir', 'realpathSync', 'realpath', 'copyFileSync', 'copyFile', 'cpSync', 'cp'];
for (const name of PATH_FUNCTIONS) {
  const original = fs[name];
  if (typeof original !== 'function') continue;
  fs[name] = function guarded(p, ...rest) {
    if (isForbiddenPath(p)) throw new ForbiddenAccess('a plugin may not read ' + String(p));
    return original.call(this, p, ...rest);
  };
}
for (const name of ['readFile', 'open', 'readdir', 'stat', 'lstat', 'access', 'opendir', 'realpath', 'copyFile', 'cp']) {
  const original = fs.promises[name];
  if (typeof original !== 'function') continue;
  fs.promises[name] = async function guarded(p, ...rest) {
    if (isForbiddenPath(p)) throw new ForbiddenAccess('a plugin may not read ' + String(p));
    return original.call(this, p, ...rest);
  };
}
for (const name of ['binding', '_linkedBinding', 'dlopen']) {
  process[name] = () => { throw new ForbiddenAccess('a plugin may not use process.' + name); };
}

const post = (message) => parentPort.postMessage(message);
const fail = (code, message, retryable) => post({ type: 'result', ok: false, error: { code, message: String(message).slice(0, 2000), retryable: Boolean(retryable) } });

function loadDefinition() {
  let exported;
  try {
    exported = workerData.entry.startsWith('/') ? require(workerData.entry) : Module.createRequire(workerData.resolveFrom)(workerData.entry);
  } catch (error) {
    return { error: (error && error.code === FORBIDDEN_CODE ? FORBIDDEN_CODE + ': ' : '') + 'loading threw: ' + (error && error.message) };
  }
  const d = exported && exported.__esModule && exported.default ? exported.default : exported && exported.default && typeof exported.execute !== 'function' ? exported.default : exported;
  const problems = [];
  if (!d || typeof d !== 'object') return { error: 'the module does not export a plugin definition (module.exports = definePlugin({ ... }))' };
  if (typeof d.name !== 'string' || !sdk.PLUGIN_NAME_REGEX.test(d.name)) problems.push('name must match [a-z][a-z0-9-]*');
  if (typeof d.version !== 'string' || !/^\d+\.\d+\.\d+(-[0-9A-Za-z.-]+)?(\+[0-9A-Za-z.-]+)?$/.test(d.version)) problems.push('version must be semver (1.2.3)');
  if (typeof d.execute !== 'function') problems.push('execute must be a function');
  if (d.description !== undefined && typeof d.description !== 'string') problems.push('description must be a string');
  for (const key of ['input', 'output']) if (d[key] !== undefined && (d[key] === null || typeof d[key] !== 'object' || Array.isArray(d[key]))) problems.push(key + ' must be a JSON Schema object');
  if (d.secrets !== undefined && !(Array.isArray(d.secrets) && d.secrets.every((s) => typeof s === 'string' && /^[A-Z][A-Z0-9_]*$/.test(s)))) problems.push('secrets must be a list of NAMES');
  if (d.retryable !== undefined && typeof d.retryable !== 'function' && !(Array.isArray(d.retryable) && d.retryable.every((c) => typeof c === 'string'))) problems.push('retryable must be a list of codes or a function');
  if (problems.length > 0) return { error: 'invalid plugin definition: ' + problems.join('; ') };
  return { definition: d };
}

const loaded = loadDefinition();
if (workerData.mode === 'describe') {
  if (loaded.error) post({ type: 'describe', ok: false, error: loaded.error });
  else {
    const d = loaded.definition;
    post({ type: 'describe', ok: true, declaration: JSON.parse(JSON.stringify({
      name: d.name, version: d.version, description: d.description, input: d.input, output: d.output,
      retryableCodes: Array.isArray(d.retryable) ? d.retryable : [], secrets: d.secrets || [],
    })) });
  }
} else if (loaded.error) {
  fail(loaded.error.startsWith(FORBIDDEN_CODE) ? FORBIDDEN_CODE : 'plugin_load_failed', loaded.error, false);
} else {
  const d = loaded.definition;
  const controller = new AbortController();
  parentPort.on('message', (m) => { if (m && m.type === 'abort') controller.abort(new Error('the step was aborted')); });
  const log = (level) => (message, fields) => {
    let safe;
    try { safe = fields === undefined ? undefined : JSON.parse(JSON.stringify(fields)); } catch { safe = { fields: 'unserialisable' }; }
    post({ type: 'log', level, message: String(message), fields: safe });
  };
  const ctx = Object.freeze({
    idempotencyKey: workerData.ctx.idempotencyKey,
    traceparent: workerData.ctx.traceparent,
    logger: Object.freeze({ debug: log('debug'), info: log('info'), warn: log('warn'), error: log('error') }),
    signal: controller.signal,
    secrets: Object.freeze({ ...workerData.secrets }),
  });
  Promise.resolve()
    .then(() => d.execute(ctx, workerData.input))
    .then(
      (output) => {
        try { post({ type: 'result', ok: true, output: output === undefined ? null : output }); }
        catch (error) { fail('plugin_invalid_output', 'the output cannot be sent as JSON: ' + error.message, false); }
      },
      (error) => {
        const own = error && typeof error.code === 'string' && /^[a-z][a-z0-9_]*$/.test(error.code) ? error.code : undefined;
        const code = own || 'plugin_failed';
        let retryable;
        if (code === FORBIDDEN_CODE) retryable = false;
        else if (typeof d.retryable === 'function') { try { retryable = Boolean(d.retryable(error)); } catch { retryable = false; } }
        else if (Array.isArray(d.retryable)) retryable = d.retryable.includes(code);
        else retryable = Boolean(error && error.retryable === true);
        fail(code, (error && error.message) || String(error), retryable);
      },
    );
}
`;
