import { SpanKind } from '@opentelemetry/api';
import { execFile } from 'node:child_process';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';

/**
 * `register` is exercised the way services load it: in its own Node process, before http is required,
 * configured only through OTEL_* variables. (Inside Jest neither require hooks nor the exporter's dynamic
 * import() work, so a child process is the honest test.) The child compiles the .ts sources with SWC.
 */
const repoRoot = path.resolve(__dirname, '../../..');

const CHILD_SCRIPT = `
const swc = require('@swc/core');
require.extensions['.ts'] = (m, filename) => {
  const { code } = swc.transformFileSync(filename, {
    swcrc: false, module: { type: 'commonjs' }, jsc: { target: 'es2022', parser: { syntax: 'typescript' } },
  });
  m._compile(code, filename);
};
require(${JSON.stringify(path.join(__dirname, 'register.ts'))});
const http = require('node:http');
const api = require('@opentelemetry/api');
const { shutdownTracing } = require(${JSON.stringify(path.join(__dirname, 'tracing-sdk.registry.ts'))});

const server = http.createServer((req, res) => {
  res.end(JSON.stringify({ traceId: api.trace.getSpanContext(api.context.active())?.traceId, traceparent: req.headers.traceparent }));
});
const get = (url) => new Promise((resolve, reject) => http.get(url, (res) => {
  let body = '';
  res.on('data', (c) => (body += c));
  res.on('end', () => resolve(body));
}).on('error', reject));
server.listen(0, '127.0.0.1', async () => {
  const base = 'http://127.0.0.1:' + server.address().port;
  await get(base + '/health');
  const seen = JSON.parse(await get(base + '/core/events?limit=1'));
  server.close();
  await shutdownTracing();
  process.stdout.write(JSON.stringify(seen));
});
`;

interface ChildResult {
  seen: { traceId?: string; traceparent?: string };
  stderr: string;
}

function runChild(env: Record<string, string>): Promise<ChildResult> {
  return new Promise((resolve, reject) => {
    execFile(
      process.execPath,
      ['-e', CHILD_SCRIPT],
      { cwd: repoRoot, timeout: 30_000, env: { PATH: process.env.PATH ?? '', ...env } },
      (err, stdout, stderr) =>
        err ? reject(new Error(`${err.message}\n${stderr}`)) : resolve({ seen: JSON.parse(stdout), stderr }),
    );
  });
}

interface Exported {
  service?: string;
  traceId: string;
  spanId: string;
  parentSpanId?: string;
  kind: number;
  attributes: string;
}

/** A bare OTLP/HTTP JSON endpoint (the full receiver lives in @pancha/testing, which this lib may not import). */
function startCollector(): Promise<{ server: Server; url: string; spans: Exported[] }> {
  const spans: Exported[] = [];
  const server = createServer((req, res) => {
    let body = '';
    req.on('data', (c: Buffer) => (body += c.toString('utf8')));
    req.on('end', () => {
      if (req.url === '/v1/traces' && req.headers['content-type']?.includes('json')) {
        for (const rs of JSON.parse(body).resourceSpans ?? []) {
          const service = rs.resource?.attributes?.find((a: { key: string }) => a.key === 'service.name')?.value?.stringValue;
          for (const ss of rs.scopeSpans ?? []) {
            for (const s of ss.spans ?? []) {
              spans.push({ service, traceId: s.traceId, spanId: s.spanId, parentSpanId: s.parentSpanId || undefined, kind: s.kind, attributes: JSON.stringify(s.attributes) });
            }
          }
        }
      }
      res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
    });
  });
  return new Promise((resolve) =>
    server.listen(0, '127.0.0.1', () =>
      resolve({ server, url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, spans }),
    ),
  );
}

const OTLP_SERVER = SpanKind.SERVER + 1;
const OTLP_CLIENT = SpanKind.CLIENT + 1;

describe('register (node --require)', () => {
  it('exports http spans over OTLP http/json with the service name and W3C propagation', async () => {
    const collector = await startCollector();
    try {
      const { seen } = await runChild({
        OTEL_SERVICE_NAME: 'bucket',
        OTEL_EXPORTER_OTLP_ENDPOINT: collector.url,
        OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json',
      });

      expect(seen.traceId).toMatch(/^[0-9a-f]{32}$/);
      expect(seen.traceparent).toMatch(new RegExp(`^00-${seen.traceId}-[0-9a-f]{16}-01$`));
      const inTrace = collector.spans.filter((s) => s.traceId === seen.traceId);
      const client = inTrace.find((s) => s.kind === OTLP_CLIENT);
      const server = inTrace.find((s) => s.kind === OTLP_SERVER);
      expect(client?.service).toBe('bucket');
      expect(server?.parentSpanId).toBe(client?.spanId);
      // probes are not traced on the server side
      expect(collector.spans.filter((s) => s.kind === OTLP_SERVER)).toHaveLength(1);
      expect(server?.attributes).toContain('/core/events');
    } finally {
      collector.server.close();
    }
  }, 40_000);

  it('records real trace ids and exports nothing, quietly, when no exporter is configured', async () => {
    const { seen, stderr } = await runChild({ OTEL_SERVICE_NAME: 'bucket', OTEL_LOG_LEVEL: 'warn' });
    expect(seen.traceId).toMatch(/^[0-9a-f]{32}$/);
    expect(seen.traceId).not.toBe('0'.repeat(32));
    expect(stderr).toBe('');
  }, 40_000);
});
