/**
 * The code each plugin worker runs (`new Worker(source, { eval: true })`): a string, so the executor's bundle and its
 * tests need no separate worker file. A worker loads its plugin once, answers `ready` (the declaration, or why it
 * did not load), then runs `execute` messages one at a time, each with a fresh ctx (its own abort signal, logger,
 * idempotency key and secrets, which arrive with the message); `abort` aborts that attempt's signal. The plugin's code
 * comes from workerData.snapshot (read by the host when it loaded that version) where present, so a version keeps
 * serving after its files changed on disk. Before the plugin loads it fences the worker: the executor's code and keys
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

// The version's code as the host read it: .js/.cjs/.json under the plugin's root are compiled from the snapshot, not
// from disk, so an edit on disk (valid or not) never changes a version that is serving.
const snapshot = workerData.snapshot || {};
const snapshotted = (file) => Object.prototype.hasOwnProperty.call(snapshot, file);
const originalResolve = Module._resolveFilename;
Module._resolveFilename = function resolveFilename(request, parent) {
  if (typeof request === 'string' && (request.startsWith('.') || path.isAbsolute(request))) {
    const base = path.resolve(parent && parent.filename ? path.dirname(parent.filename) : process.cwd(), request);
    for (const candidate of [base, base + '.js', base + '.cjs', base + '.json', path.join(base, 'index.js'), path.join(base, 'index.cjs')]) {
      if (snapshotted(candidate)) return candidate;
    }
  }
  return originalResolve.apply(this, arguments);
};
for (const ext of ['.js', '.cjs']) {
  const original = Module._extensions[ext] || Module._extensions['.js'];
  Module._extensions[ext] = function compile(module, filename) {
    if (snapshotted(filename)) return module._compile(snapshot[filename], filename);
    return original(module, filename);
  };
}
const originalJson = Module._extensions['.json'];
Module._extensions['.json'] = function json(module, filename) {
  if (!snapshotted(filename)) return originalJson(module, filename);
  try { module.exports = JSON.parse(snapshot[filename].replace(/^\uFEFF/, '')); }
  catch (error) { error.message = filename + ': ' + error.message; throw error; }
};

const post = (message) => parentPort.postMessage(message);

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
if (loaded.error) {
  post({ type: 'ready', ok: false, code: loaded.error.startsWith(FORBIDDEN_CODE) ? FORBIDDEN_CODE : 'plugin_load_failed', error: loaded.error });
} else {
  const d = loaded.definition;
  post({ type: 'ready', ok: true, declaration: JSON.parse(JSON.stringify({
    name: d.name, version: d.version, description: d.description, input: d.input, output: d.output,
    retryableCodes: Array.isArray(d.retryable) ? d.retryable : [], secrets: d.secrets || [],
  })) });
}

const attempts = new Map();
parentPort.on('message', (m) => {
  if (!m || typeof m !== 'object') return;
  if (m.type === 'abort') {
    const controller = attempts.get(m.id);
    if (controller) controller.abort(new Error('the step was aborted'));
  } else if (m.type === 'execute' && !loaded.error) {
    attempt(loaded.definition, m);
  }
});

// One attempt: everything it can see is made here, from its message, and dropped when it ends.
function attempt(d, m) {
  const id = m.id;
  const controller = new AbortController();
  attempts.set(id, controller);
  const log = (level) => (message, fields) => {
    let safe;
    try { safe = fields === undefined ? undefined : JSON.parse(JSON.stringify(fields)); } catch { safe = { fields: 'unserialisable' }; }
    post({ type: 'log', id, level, message: String(message), fields: safe });
  };
  const ctx = Object.freeze({
    idempotencyKey: m.ctx.idempotencyKey,
    traceparent: m.ctx.traceparent,
    logger: Object.freeze({ debug: log('debug'), info: log('info'), warn: log('warn'), error: log('error') }),
    signal: controller.signal,
    secrets: Object.freeze({ ...m.secrets }),
  });
  const fail = (code, message, retryable) =>
    post({ type: 'result', id, ok: false, error: { code, message: String(message).slice(0, 2000), retryable: Boolean(retryable) } });
  Promise.resolve()
    .then(() => d.execute(ctx, m.input))
    .then(
      (output) => {
        try { post({ type: 'result', id, ok: true, output: output === undefined ? null : output }); }
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
    )
    .finally(() => attempts.delete(id));
}
`;
