/**
 * The deployment manifests (Dockerfile, docker-compose.yml, deploy/, k8s/) checked by construction: there is no
 * Docker engine or cluster in CI, so every cross-reference a typo would break (service names, ports, probes,
 * selectors, ConfigMap and Secret names, kustomize paths, patch targets) is asserted here.
 */
import { existsSync, readFileSync, readdirSync, statSync } from 'node:fs';
import path from 'node:path';
import { parse, parseAllDocuments } from 'yaml';

const root = path.resolve(__dirname, '../../..');

interface AppSpec {
  port: number;
  database: string;
  health: string;
  requesterId: string;
}

/** The one table every manifest must agree with (docs/ARCHITECTURE.md). */
const APPS: Record<string, AppSpec> = {
  karma: { port: 8000, database: 'karma', health: '/health', requesterId: 'karma' },
  bucket: { port: 8001, database: 'bucket', health: '/health', requesterId: 'bucket' },
  core: { port: 8002, database: 'core', health: '/health', requesterId: 'bhiv_core' },
  'workflow-executor': { port: 8003, database: 'executor', health: '/healthz', requesterId: 'workflow_executor' },
};
const APP_NAMES = Object.keys(APPS);
/** PRANA: the console's back end. No database of its own; it signs people in with an OIDC provider. */
const PRANA = { name: 'prana', port: 4200, health: '/health', requesterId: 'prana' };
/** Every deployable app: the four services and PRANA. */
const DEPLOYED = [...APP_NAMES, PRANA.name];
const URL_VARS: Record<string, string> = {
  KARMA_URL: 'karma',
  BUCKET_URL: 'bucket',
  CORE_URL: 'core',
  WORKFLOW_EXECUTOR_URL: 'workflow-executor',
};
/** Created outside kustomize; docs/deploy.md says how. */
const EXTERNAL_SECRETS = ['pancha-service-keys', 'pancha-database-urls', 'pancha-database-migration-urls', 'pancha-workflow-executor-providers', 'pancha-prana'];
const IMAGE = 'pancha';
const REGISTER = './dist/libs/trace-context/src/register.js';

// ---------- helpers ----------

type Obj = Record<string, unknown>;

function isObj(value: unknown): value is Obj {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function obj(value: unknown, what: string): Obj {
  if (!isObj(value)) throw new Error(`${what}: expected a mapping, got ${JSON.stringify(value)}`);
  return value;
}

function arr(value: unknown, what: string): unknown[] {
  if (!Array.isArray(value)) throw new Error(`${what}: expected a list, got ${JSON.stringify(value)}`);
  return value;
}

function rel(file: string): string {
  return path.relative(root, file);
}

function readText(relPath: string): string {
  return readFileSync(path.join(root, relPath), 'utf8');
}

/** Every YAML document of a file; a syntax error or duplicate key anywhere fails. */
function loadDocuments(file: string): unknown[] {
  const docs = parseAllDocuments(readFileSync(file, 'utf8'));
  const list = Array.isArray(docs) ? docs : [docs];
  const out: unknown[] = [];
  for (const doc of list) {
    if (doc.errors.length) throw new Error(`${rel(file)}: ${doc.errors.map((e) => e.message).join('; ')}`);
    const value: unknown = doc.toJS();
    if (value !== null && value !== undefined) out.push(value);
  }
  return out;
}

function loadSingle(file: string): Obj {
  const docs = loadDocuments(file);
  expect(docs).toHaveLength(1);
  return obj(docs[0], rel(file));
}

/** `proto://host:port/...` values; compose interpolation (`${VAR:-x}`) is resolved to its default first. */
function urlTarget(value: string): { host: string; port: number } | undefined {
  const resolved = value.replace(/\$\{[A-Z0-9_]+(?::?-([^}]*))?\}/g, (_m, def: string | undefined) => def ?? '');
  const match = /^[a-z][a-z0-9+.-]*:\/\/(?:[^@/]*@)?([^:/?#]+)(?::(\d+))?/i.exec(resolved);
  if (!match) return undefined;
  return { host: match[1], port: match[2] ? Number(match[2]) : NaN };
}

// ---------- docker-compose.yml ----------

interface ComposeService extends Obj {
  image?: string;
  build?: unknown;
  environment?: Record<string, string | null>;
  ports?: unknown[];
  depends_on?: unknown;
  healthcheck?: Obj;
  volumes?: unknown[];
  command?: unknown;
}

function loadCompose(): { services: Record<string, ComposeService>; volumes: Obj; raw: Obj } {
  // Compose supports YAML merge keys (`<<: *anchor`), YAML 1.2 parsers only with merge enabled.
  const raw = obj(parse(readText('docker-compose.yml'), { merge: true, uniqueKeys: true }), 'docker-compose.yml');
  const services = obj(raw.services, 'services') as Record<string, ComposeService>;
  for (const [name, service] of Object.entries(services)) obj(service, `services.${name}`);
  return { services, volumes: isObj(raw.volumes) ? raw.volumes : {}, raw };
}

function environmentOf(service: ComposeService): Record<string, string | null> {
  const env = service.environment ?? {};
  // The list form (`- KEY=value`) is legal compose but we use the map form so anchors can merge.
  return obj(env, 'environment') as Record<string, string | null>;
}

function dependsOn(service: ComposeService): string[] {
  const deps = service.depends_on;
  if (deps === undefined) return [];
  if (Array.isArray(deps)) return deps.map(String);
  return Object.keys(obj(deps, 'depends_on'));
}

/** Services running the Pancha image as a service (the one-shot `keys` job has no OTEL_SERVICE_NAME). */
function composeAppServices(services: Record<string, ComposeService>): string[] {
  return Object.entries(services)
    .filter(([, s]) => environmentOf(s).OTEL_SERVICE_NAME !== undefined)
    .map(([name]) => name);
}

/** Ports infrastructure services listen on inside the compose network. */
const INFRA_PORTS: Record<string, number[]> = {
  postgres: [5432],
  nats: [4222, 8222],
  jaeger: [4317, 4318, 16686],
  prometheus: [9090],
  grafana: [3000],
  redis: [6379],
  'dev-idp': [4300],
  prana: [PRANA.port],
};

function portsOf(services: Record<string, ComposeService>, name: string): number[] {
  if (APPS[name]) return [APPS[name].port];
  return INFRA_PORTS[name] ?? [];
}

describe('docker-compose.yml', () => {
  const { services, volumes, raw } = loadCompose();

  it('has only compose top-level keys', () => {
    const allowed = ['name', 'services', 'volumes', 'networks', 'configs', 'secrets'];
    for (const key of Object.keys(raw)) expect(key.startsWith('x-') || allowed.includes(key)).toBe(true);
  });

  it('runs exactly the apps of this repository, each an Nx project under apps/', () => {
    expect(composeAppServices(services).sort()).toEqual([...DEPLOYED].sort());
    for (const name of APP_NAMES) {
      expect(existsSync(path.join(root, 'apps', name, 'project.json'))).toBe(true);
    }
    // Every deployable app project has a compose service (a new app without one is drift).
    const deployable = readdirSync(path.join(root, 'apps')).filter((dir) => {
      const project = path.join(root, 'apps', dir, 'project.json');
      if (!existsSync(project)) return false;
      const tags = (JSON.parse(readFileSync(project, 'utf8')) as { tags?: string[] }).tags ?? [];
      return tags.includes('type:app');
    });
    expect(deployable.sort()).toEqual([...DEPLOYED].sort());
  });

  it('has the infrastructure: postgres, nats (JetStream), jaeger, prometheus, grafana and the keys job', () => {
    for (const name of ['postgres', 'nats', 'jaeger', 'prometheus', 'grafana', 'keys']) expect(services[name]).toBeDefined();
    expect(arr(services.nats.command, 'nats.command')).toContain('-js');
    expect(services.keys.command).toEqual(['node', 'dist/tools/stack/src/generate-keys.js', '/keys']);
    expect(services.keys.image).toBe('pancha:local');
  });

  it('gives every service an image or a build', () => {
    for (const [name, s] of Object.entries(services)) {
      expect({ name, hasImage: Boolean(s.image || s.build) }).toEqual({ name, hasImage: true });
    }
  });

  describe.each(APP_NAMES)('%s', (name) => {
    const app = APPS[name];
    const service = services[name];
    const env = service ? environmentOf(service) : {};

    it('runs the shared image with APP, PORT and OTEL_SERVICE_NAME naming itself', () => {
      expect(service.image).toBe('pancha:local');
      expect(service.build).toBeDefined();
      expect(env.APP).toBe(name);
      expect(env.OTEL_SERVICE_NAME).toBe(name);
      expect(String(env.PORT)).toBe(String(app.port));
    });

    it('publishes its own port', () => {
      expect(arr(service.ports, 'ports').map(String)).toEqual([`${app.port}:${app.port}`]);
    });

    it('connects to its own database on the postgres service', () => {
      const url = env.DATABASE_URL;
      expect(typeof url).toBe('string');
      const target = urlTarget(String(url));
      expect(target).toEqual({ host: 'postgres', port: 5432 });
      expect(String(url).endsWith(`/${app.database}`)).toBe(true);
    });

    it('serves as its database\'s runtime role and migrates as its owner role (two URLs, two roles)', () => {
      const role = (value: unknown) => decodeURIComponent(new URL(String(value).replace(/\$\{[A-Z0-9_]+:-([^}]*)\}/g, '$1')).username);
      const migration = env.DATABASE_MIGRATION_URL;
      expect(urlTarget(String(migration))).toEqual({ host: 'postgres', port: 5432 });
      expect(String(migration).endsWith(`/${app.database}`)).toBe(true);
      expect(role(env.DATABASE_URL)).toBe(`${app.database}_app`);
      expect(role(migration)).toBe(`${app.database}_owner`);
    });

    it('exports traces to jaeger over OTLP/HTTP and mounts the keys read-only', () => {
      expect(env.OTEL_EXPORTER_OTLP_ENDPOINT).toBe('http://jaeger:4318');
      expect(env.PANCHA_KEYS_DIR).toBe('/keys');
      expect(arr(service.volumes, 'volumes')).toContain('keys:/keys:ro');
    });

    it('has a node healthcheck on its own port and waits for its dependencies with conditions', () => {
      const test = arr(obj(service.healthcheck, 'healthcheck').test, 'healthcheck.test').map(String);
      expect(test.slice(0, 3)).toEqual(['CMD', 'node', '-e']);
      expect(test[3]).toContain(`http://127.0.0.1:${app.port}/`);
      const deps = obj(service.depends_on, 'depends_on');
      expect(obj(deps.postgres, 'postgres').condition).toBe('service_healthy');
      expect(obj(deps.keys, 'keys').condition).toBe('service_completed_successfully');
    });

    it('points every service URL at the right service and port', () => {
      for (const [variable, target] of Object.entries(URL_VARS)) {
        expect({ variable, value: env[variable] }).toEqual({ variable, value: `http://${target}:${APPS[target].port}` });
      }
    });
  });

  it('depends only on defined services, with valid conditions, and without cycles', () => {
    const conditions = ['service_started', 'service_healthy', 'service_completed_successfully'];
    for (const [name, s] of Object.entries(services)) {
      for (const dep of dependsOn(s)) {
        expect({ service: name, dependsOn: dep, defined: dep in services }).toEqual({ service: name, dependsOn: dep, defined: true });
        if (isObj(s.depends_on)) expect(conditions).toContain(obj(s.depends_on[dep], dep).condition);
        if (isObj(s.depends_on) && obj(s.depends_on[dep], dep).condition === 'service_healthy') {
          expect({ dep, healthcheck: Boolean(services[dep]?.healthcheck) }).toEqual({ dep, healthcheck: true });
        }
      }
    }
    const visiting = new Set<string>();
    const done = new Set<string>();
    const visit = (name: string): void => {
      if (done.has(name)) return;
      if (visiting.has(name)) throw new Error(`depends_on cycle through ${name}`);
      visiting.add(name);
      for (const dep of dependsOn(services[name])) visit(dep);
      visiting.delete(name);
      done.add(name);
    };
    for (const name of Object.keys(services)) visit(name);
  });

  it('references other services in environment values only by defined names and their ports', () => {
    for (const [name, s] of Object.entries(services)) {
      for (const [variable, value] of Object.entries(environmentOf(s))) {
        if (typeof value !== 'string') continue;
        const target = urlTarget(value);
        if (!target || ['127.0.0.1', 'localhost'].includes(target.host)) continue;
        const where = `${name}.${variable}=${value}`;
        expect({ where, defined: target.host in services }).toEqual({ where, defined: true });
        expect({ where, port: portsOf(services, target.host).includes(target.port) }).toEqual({ where, port: true });
      }
    }
  });

  it('declares every named volume and mounts only files that exist', () => {
    for (const [name, s] of Object.entries(services)) {
      for (const entry of s.volumes ?? []) {
        const source = String(entry).split(':')[0];
        if (source.startsWith('.') || source.startsWith('/')) {
          expect({ name, source, exists: existsSync(path.join(root, source)) }).toEqual({ name, source, exists: true });
        } else {
          expect({ name, source, declared: source in volumes }).toEqual({ name, source, declared: true });
        }
      }
    }
  });

  it('creates the four databases in the postgres init script', () => {
    const script = readText('deploy/postgres/init-databases.sh');
    const loop = /for db in ([a-z_ ]+); do/.exec(script);
    expect(loop?.[1].trim().split(/\s+/).sort()).toEqual(Object.values(APPS).map((a) => a.database).sort());
    expect(script).toContain('CREATE DATABASE');
  });

  it('makes the owner role own each database and the runtime role neither a superuser nor an owner', () => {
    const script = readText('deploy/postgres/init-databases.sh');
    expect(script).toMatch(/CREATE ROLE :"owner" LOGIN NOSUPERUSER/);
    expect(script).toMatch(/CREATE ROLE :"app" LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE/);
    expect(script).toMatch(/CREATE DATABASE :"db" OWNER :"owner"/);
    expect(script).toMatch(/-v owner="\$\{db\}_owner" -v app="\$\{db\}_app"/);
    const postgres = environmentOf(services.postgres);
    expect(Object.keys(postgres)).toEqual(expect.arrayContaining(['PANCHA_DB_PASSWORD', 'PANCHA_DB_OWNER_PASSWORD']));
  });
});

describe('docker-compose.yml: PRANA and its sign-in', () => {
  const { services } = loadCompose();
  const prana = services.prana;
  const env = environmentOf(prana ?? {});
  const idp = environmentOf(services['dev-idp'] ?? {});
  const resolve = (value: unknown) => String(value).replace(/\$\{[A-Z0-9_]+(?::?-([^}]*))?\}/g, (_m, def: string | undefined) => def ?? '');

  it('runs the shared image as prana on 4200 with no database, tracing to jaeger, its keys read-only', () => {
    expect(prana.image).toBe('pancha:local');
    expect([env.APP, env.OTEL_SERVICE_NAME, String(env.PORT)]).toEqual(['prana', 'prana', '4200']);
    expect(arr(prana.ports, 'ports').map(String)).toEqual(['4200:4200']);
    expect(env.DATABASE_URL).toBeUndefined();
    expect(env.OTEL_EXPORTER_OTLP_ENDPOINT).toBe('http://jaeger:4318');
    expect(arr(prana.volumes, 'volumes')).toContain('keys:/keys:ro');
    for (const [variable, target] of Object.entries(URL_VARS)) expect(env[variable]).toBe(`http://${target}:${APPS[target].port}`);
  });

  it('probes /readyz on its port and waits for the keys, Redis, the provider and Core', () => {
    const test = arr(obj(prana.healthcheck, 'healthcheck').test, 'test').map(String);
    expect(test[3]).toContain('http://127.0.0.1:4200/readyz');
    const deps = obj(prana.depends_on, 'depends_on');
    expect(obj(deps.keys, 'keys').condition).toBe('service_completed_successfully');
    for (const dep of ['redis', 'dev-idp', 'core']) expect(obj(deps[dep], dep).condition).toBe('service_healthy');
    expect(urlTarget(String(env.REDIS_URL))).toEqual({ host: 'redis', port: 6379 });
  });

  it('agrees with the provider on issuer, client secret and redirect URI; reaches it inside the network', () => {
    expect(resolve(env.OIDC_ISSUER)).toBe(resolve(idp.DEV_IDP_ISSUER));
    expect(resolve(env.OIDC_CLIENT_SECRET)).toBe(resolve(idp.DEV_IDP_CLIENT_SECRET));
    expect(resolve(idp.DEV_IDP_REDIRECT_URIS)).toBe(`${resolve(env.PRANA_PUBLIC_URL)}/auth/callback`);
    expect(resolve(env.OIDC_AUDIENCE)).toBe(resolve(idp.OIDC_AUDIENCE));
    expect(urlTarget(resolve(env.OIDC_INTERNAL_URL))).toEqual({ host: 'dev-idp', port: 4300 });
    expect(services['dev-idp'].command).toEqual(['node', 'dist/tools/stack/src/dev-idp.js']);
    expect(existsSync(path.join(root, 'tools/stack/src/dev-idp.ts'))).toBe(true);
  });

  it.each(['core', 'workflow-executor'])("gives %s the same issuer and audience, with the provider's keys fetched inside the network", (name) => {
    const serviceEnv = environmentOf(services[name]);
    expect(resolve(serviceEnv.OIDC_ISSUER)).toBe(resolve(env.OIDC_ISSUER));
    expect(resolve(serviceEnv.OIDC_AUDIENCE)).toBe(resolve(env.OIDC_AUDIENCE));
    expect(urlTarget(resolve(serviceEnv.OIDC_JWKS_URI))).toEqual({ host: 'dev-idp', port: 4300 });
  });
});

describe('deploy/ (Prometheus and Grafana)', () => {
  const { services } = loadCompose();

  it('scrapes /metrics of every app on its own port', () => {
    const config = loadSingle(path.join(root, 'deploy/prometheus/prometheus.yml'));
    const jobs = arr(config.scrape_configs, 'scrape_configs').map((j) => obj(j, 'scrape_config'));
    const targets: Record<string, string[]> = {};
    for (const job of jobs) {
      expect(job.metrics_path ?? '/metrics').toBe('/metrics');
      const statics = arr(job.static_configs, 'static_configs').map((c) => obj(c, 'static_config'));
      targets[String(job.job_name)] = statics.flatMap((c) => arr(c.targets, 'targets').map(String));
    }
    expect(targets).toEqual({
      ...Object.fromEntries(APP_NAMES.map((name) => [name, [`${name}:${APPS[name].port}`]])),
      prana: [`prana:${PRANA.port}`],
    });
  });

  it('loads the alert rules it names, each mounted next to prometheus.yml in the container', () => {
    const config = loadSingle(path.join(root, 'deploy/prometheus/prometheus.yml'));
    const ruleFiles = arr(config.rule_files, 'rule_files').map(String);
    expect(ruleFiles.length).toBeGreaterThan(0);
    const mounts = arr(services.prometheus.volumes, 'prometheus.volumes').map(String);
    for (const file of ruleFiles) {
      expect({ file, exists: existsSync(path.join(root, 'deploy/prometheus', file)) }).toEqual({ file, exists: true });
      expect(mounts).toContain(`./deploy/prometheus/${file}:/etc/prometheus/${file}:ro`);
    }
    const groups = arr(loadSingle(path.join(root, 'deploy/prometheus/alerts.yml')).groups, 'groups').map((g) => obj(g, 'group'));
    const alerts = groups.flatMap((g) => arr(g.rules, 'rules').map((r) => String(obj(r, 'rule').alert)));
    expect(alerts.sort()).toEqual(['PanchaAuditVerificationFailed', 'PanchaHighErrorRate', 'PanchaJetStreamDeadLetters', 'PanchaOutboxDeadLetters', 'PanchaOutboxLag', 'PanchaServiceDown']);
    // Scrapes negotiate OpenMetrics; exemplar storage keeps the trace ids the histograms carry.
    expect(arr(services.prometheus.command, 'prometheus.command')).toEqual(
      expect.arrayContaining(['--config.file=/etc/prometheus/prometheus.yml', '--enable-feature=exemplar-storage']),
    );
  });

  it('provisions every dashboard in deploy/grafana/dashboards from where compose mounts it, on a provisioned datasource', () => {
    const provider = loadSingle(path.join(root, 'deploy/grafana/provisioning/dashboards/dashboards.yml'));
    const providers = arr(provider.providers, 'providers').map((p) => obj(p, 'provider'));
    expect(providers).toHaveLength(1);
    const inContainer = String(obj(providers[0].options, 'options').path);
    expect(arr(services.grafana.volumes, 'grafana.volumes').map(String)).toContain(`./deploy/grafana/dashboards:${inContainer}:ro`);
    const datasourceUids = arr(loadSingle(path.join(root, 'deploy/grafana/provisioning/datasources/datasources.yml')).datasources, 'datasources').map(
      (d) => String(obj(d, 'datasource').uid),
    );
    const files = readdirSync(path.join(root, 'deploy/grafana/dashboards')).filter((f) => f.endsWith('.json'));
    expect(files.length).toBeGreaterThan(0);
    const uids = new Set<string>();
    for (const file of files) {
      const dashboard = obj(JSON.parse(readText(`deploy/grafana/dashboards/${file}`)), file);
      expect(typeof dashboard.uid).toBe('string');
      uids.add(String(dashboard.uid));
      const panels = arr(dashboard.panels, `${file} panels`).map((p) => obj(p, 'panel'));
      const ids = panels.map((p) => p.id);
      expect(new Set(ids).size).toBe(ids.length);
      for (const panel of panels.filter((p) => p.type !== 'row')) {
        const targets = arr(panel.targets, `${file} ${String(panel.title)} targets`).map((t) => obj(t, 'target'));
        expect(targets.length).toBeGreaterThan(0);
        for (const source of [panel.datasource, ...targets.map((t) => t.datasource)]) {
          expect(datasourceUids).toContain(String(obj(source, `${String(panel.title)} datasource`).uid));
        }
        for (const target of targets) expect(String(target.expr).length).toBeGreaterThan(0);
      }
    }
    expect(uids.size).toBe(files.length);
  });

  it('provisions Prometheus and Jaeger datasources at their compose services', () => {
    const config = loadSingle(path.join(root, 'deploy/grafana/provisioning/datasources/datasources.yml'));
    const sources = arr(config.datasources, 'datasources').map((d) => obj(d, 'datasource'));
    expect(sources.map((s) => s.type).sort()).toEqual(['jaeger', 'prometheus']);
    for (const source of sources) {
      const target = urlTarget(String(source.url));
      expect(target && target.host in services && portsOf(services, target.host).includes(target.port)).toBe(true);
    }
  });
});

describe('Dockerfile', () => {
  const dockerfile = existsSync(path.join(root, 'Dockerfile')) ? readText('Dockerfile') : '';
  const instructions = dockerfile
    .split('\n')
    .map((line) => line.trim())
    .filter((line) => line && !line.startsWith('#'));
  const code = instructions.join('\n');

  it('builds on node:20-bookworm-slim in stages and runs as the non-root node user', () => {
    expect(dockerfile).not.toBe('');
    expect(dockerfile).toContain('ARG NODE_IMAGE=node:20-bookworm-slim');
    expect(instructions.filter((l) => l.startsWith('FROM ')).length).toBeGreaterThanOrEqual(2);
    const users = instructions.filter((l) => l.startsWith('USER '));
    expect(users.at(-1)).toBe('USER node');
  });

  it('installs with the lockfile, builds and prunes dev dependencies', () => {
    expect(code).toMatch(/COPY package\.json package-lock\.json/);
    expect(code).toMatch(/RUN npm install\b/);
    expect(code).not.toMatch(/npm ci\b/);
    expect(code).toContain('npm run build');
    expect(code).toContain('npm prune --omit=dev');
  });

  it('starts the app named by APP with tracing registered first', () => {
    const cmd = instructions.filter((l) => l.startsWith('CMD ')).at(-1) ?? '';
    expect(cmd).toContain(`node --require ${REGISTER}`);
    expect(cmd).toContain('dist/apps/${APP}/src/main.js');
  });

  it('keeps local build output and dependencies out of the build context', () => {
    const ignored = readText('.dockerignore').split('\n').map((l) => l.trim());
    for (const entry of ['node_modules', 'dist', '.git', '.data', '.env']) expect(ignored).toContain(entry);
  });
});

// ---------- k8s/ ----------

interface K8sObject {
  apiVersion: string;
  kind: string;
  metadata: { name: string; labels?: Record<string, string> };
  [key: string]: unknown;
}

interface Kustomization {
  dir: string;
  kind: 'Kustomization' | 'Component';
  resources: string[];
  components: string[];
  patches: { path?: string; patch?: string; target?: Obj }[];
  replicas: { name: string; count: number }[];
  images: { name: string; newTag?: string; newName?: string }[];
  namespace?: string;
}

function loadKustomization(dir: string): Kustomization {
  const file = path.join(dir, 'kustomization.yaml');
  const k = loadSingle(file);
  expect(['Kustomization', 'Component']).toContain(k.kind);
  for (const legacy of ['bases', 'patchesStrategicMerge', 'patchesJson6902', 'commonLabels']) {
    expect({ file: rel(file), legacy, used: legacy in k }).toEqual({ file: rel(file), legacy, used: false });
  }
  return {
    dir,
    kind: k.kind as Kustomization['kind'],
    resources: (k.resources as string[] | undefined) ?? [],
    components: (k.components as string[] | undefined) ?? [],
    patches: (k.patches as Kustomization['patches'] | undefined) ?? [],
    replicas: (k.replicas as Kustomization['replicas'] | undefined) ?? [],
    images: (k.images as Kustomization['images'] | undefined) ?? [],
    namespace: k.namespace as string | undefined,
  };
}

function asK8sObject(doc: unknown, file: string): K8sObject {
  const o = obj(doc, file);
  const metadata = isObj(o.metadata) ? o.metadata : {};
  const where = `${rel(file)} (${String(o.kind)}/${String(metadata.name)})`;
  expect({ where, apiVersion: typeof o.apiVersion, kind: typeof o.kind, name: typeof metadata.name }).toEqual({
    where,
    apiVersion: 'string',
    kind: 'string',
    name: 'string',
  });
  expect(String(metadata.name)).toMatch(/^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/);
  return o as unknown as K8sObject;
}

/** Whether `o` is selected by a kustomize patch target (kind, name, labelSelector `k=v,k=v`). */
function targets(target: Obj, o: K8sObject): boolean {
  const selector = Object.fromEntries(
    String(target.labelSelector ?? '')
      .split(',')
      .filter(Boolean)
      .map((pair) => pair.split('=').map((part) => part.trim()) as [string, string]),
  );
  return (
    (!target.kind || o.kind === target.kind) &&
    (!target.name || o.metadata.name === target.name) &&
    (!target.labelSelector || selects(selector, o.metadata.labels))
  );
}

/** Applies JSON 6902 add / replace / remove (what the component uses); a path that cannot be applied fails. */
function applyJsonPatch(document: K8sObject, ops: Obj[], where: string): void {
  for (const op of ops) {
    const keys = String(op.path).split('/').slice(1).map((raw) => raw.replace(/~1/g, '/').replace(/~0/g, '~'));
    const last = keys.pop() as string;
    let parent: unknown = document;
    for (const key of keys) {
      parent = Array.isArray(parent) ? parent[Number(key)] : isObj(parent) ? parent[key] : undefined;
      if (parent === undefined) throw new Error(`${where}: ${String(op.op)} ${String(op.path)}: no parent`);
    }
    const value = structuredClone(op.value);
    if (Array.isArray(parent)) {
      const index = last === '-' ? parent.length : Number(last);
      if (op.op === 'add') parent.splice(index, 0, value);
      else if (op.op === 'replace') parent[index] = value;
      else if (op.op === 'remove') parent.splice(index, 1);
    } else if (isObj(parent)) {
      if (op.op === 'add' || op.op === 'replace') parent[last] = value;
      else if (op.op === 'remove') delete parent[last];
    } else throw new Error(`${where}: ${String(op.op)} ${String(op.path)}: parent is not a container`);
  }
}

/**
 * The objects a kustomization directory produces: its resources (recursively), then its components' patches
 * (JSON 6902 with a target) applied to them. An overlay's own patches are checked, not applied, below.
 */
function kustomizeObjects(dir: string): K8sObject[] {
  const k = loadKustomization(dir);
  const out: K8sObject[] = [];
  for (const resource of k.resources) {
    const target = path.resolve(dir, resource);
    expect({ resource: rel(target), exists: existsSync(target) }).toEqual({ resource: rel(target), exists: true });
    if (statSync(target).isDirectory()) out.push(...kustomizeObjects(target));
    else out.push(...loadDocuments(target).map((doc) => asK8sObject(doc, target)));
  }
  for (const component of k.components) {
    const c = loadKustomization(path.resolve(dir, component));
    expect({ component: rel(c.dir), kind: c.kind }).toEqual({ component: rel(c.dir), kind: 'Component' });
    for (const patch of c.patches) {
      const file = path.resolve(c.dir, String(patch.path));
      const ops = arr(loadDocuments(file)[0], rel(file)).map((op) => obj(op, rel(file)));
      const matched = out.filter((o) => patch.target && targets(patch.target, o));
      expect({ patch: rel(file), matches: matched.length > 0 }).toEqual({ patch: rel(file), matches: true });
      for (const o of matched) applyJsonPatch(o, ops, `${rel(file)} on ${o.kind}/${o.metadata.name}`);
    }
  }
  return out;
}

function findKustomizations(dir: string): string[] {
  const found: string[] = [];
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) found.push(...findKustomizations(full));
    else if (entry.name === 'kustomization.yaml') found.push(dir);
  }
  return found;
}

function byKind(objects: K8sObject[], kind: string): K8sObject[] {
  return objects.filter((o) => o.kind === kind);
}

function named(objects: K8sObject[], kind: string, name: string): K8sObject {
  const match = objects.find((o) => o.kind === kind && o.metadata.name === name);
  if (!match) throw new Error(`no ${kind}/${name}`);
  return match;
}

function selects(selector: Record<string, string>, labels: Record<string, string> | undefined): boolean {
  const entries = Object.entries(selector);
  return entries.length > 0 && entries.every(([k, v]) => labels?.[k] === v);
}

interface Probe {
  httpGet?: { path: string; port: number | string };
}
interface Container {
  name: string;
  image: string;
  command?: string[];
  args?: string[];
  ports?: { name?: string; containerPort: number }[];
  env?: { name: string; value?: string; valueFrom?: { secretKeyRef?: Obj; configMapKeyRef?: Obj } }[];
  envFrom?: { configMapRef?: { name: string }; secretRef?: { name: string; optional?: boolean } }[];
  readinessProbe?: Probe;
  livenessProbe?: Probe;
  startupProbe?: Probe;
  resources?: { requests?: Obj; limits?: Obj };
  securityContext?: Obj;
  volumeMounts?: { name: string; mountPath: string }[];
}
interface PodSpec {
  securityContext?: Obj;
  containers: Container[];
  volumes?: { name: string; secret?: { secretName: string; items?: { key: string }[] }; configMap?: { name: string } }[];
}

function podTemplate(deployment: K8sObject): { labels: Record<string, string>; spec: PodSpec } {
  const spec = obj(deployment.spec, 'spec');
  const template = obj(spec.template, 'template');
  const metadata = obj(template.metadata, 'template.metadata');
  return { labels: (metadata.labels ?? {}) as Record<string, string>, spec: obj(template.spec, 'template.spec') as unknown as PodSpec };
}

function probePort(container: Container, probe: Probe | undefined): number | undefined {
  const port = probe?.httpGet?.port;
  if (typeof port === 'number') return port;
  return container.ports?.find((p) => p.name === port)?.containerPort;
}

/** Resolves a JSON pointer (RFC 6901) the way a JSON 6902 `replace`/`remove` needs it: the path must exist. */
function pointerExists(document: unknown, pointer: string): boolean {
  let current: unknown = document;
  for (const raw of pointer.split('/').slice(1)) {
    const key = raw.replace(/~1/g, '/').replace(/~0/g, '~');
    if (Array.isArray(current)) current = current[Number(key)];
    else if (isObj(current)) current = current[key];
    else return false;
    if (current === undefined) return false;
  }
  return true;
}

describe('k8s/', () => {
  const k8sRoot = path.join(root, 'k8s');
  const baseDir = path.join(k8sRoot, 'base');
  const base = kustomizeObjects(baseDir);
  const configMaps = byKind(base, 'ConfigMap');

  it('finds files for every resource and patch of every kustomization', () => {
    const dirs = findKustomizations(k8sRoot).map(rel).sort();
    expect(dirs).toEqual(['k8s/base', 'k8s/components/pancha-service', 'k8s/overlays/dev', 'k8s/overlays/prod']);
    for (const dir of dirs) {
      const k = loadKustomization(path.join(root, dir));
      for (const resource of k.resources) {
        const target = path.resolve(k.dir, resource);
        const ok = existsSync(target) && (statSync(target).isFile() || existsSync(path.join(target, 'kustomization.yaml')));
        expect({ dir, resource, ok }).toEqual({ dir, resource, ok: true });
      }
      for (const patch of k.patches) {
        expect({ dir, patch: patch.path, exists: Boolean(patch.path && existsSync(path.resolve(k.dir, patch.path))) }).toEqual({
          dir,
          patch: patch.path,
          exists: true,
        });
      }
    }
  });

  it('builds every Deployment from one shared component: each app file keeps only what is its own', () => {
    expect(loadKustomization(baseDir).components).toEqual(['../components/pancha-service']);
    for (const name of DEPLOYED) {
      const own = loadSingle(path.join(baseDir, name, 'deployment.yaml'));
      const spec = podTemplate(own as K8sObject).spec;
      // Shared settings live once, in the component; an app file repeating them would drift from the others.
      expect({ name, securityContext: spec.securityContext, resources: spec.containers[0].resources }).toEqual({
        name,
        securityContext: undefined,
        resources: undefined,
      });
    }
  });

  it('puts everything in the pancha namespace', () => {
    expect(loadKustomization(baseDir).namespace).toBe('pancha');
    expect(named(base, 'Namespace', 'pancha')).toBeDefined();
  });

  it('has unique objects and, per app, exactly a Deployment, a Service and a ConfigMap', () => {
    const ids = base.map((o) => `${o.kind}/${o.metadata.name}`);
    expect(new Set(ids).size).toBe(ids.length);
    expect(byKind(base, 'Deployment').map((d) => d.metadata.name).sort()).toEqual([...DEPLOYED].sort());
    expect(byKind(base, 'Service').map((d) => d.metadata.name).sort()).toEqual([...DEPLOYED].sort());
    for (const name of DEPLOYED) expect(named(base, 'ConfigMap', name)).toBeDefined();
  });

  describe.each(APP_NAMES)('%s', (name) => {
    const app = APPS[name];
    const deployment = named(base, 'Deployment', name);
    const { labels, spec } = podTemplate(deployment);
    const container = spec.containers[0];

    it('is labelled with its name (app and app.kubernetes.io/name) and selects its own pods', () => {
      for (const l of [deployment.metadata.labels, labels]) {
        expect(l?.app).toBe(name);
        expect(l?.['app.kubernetes.io/name']).toBe(name);
      }
      const selector = obj(obj(deployment.spec, 'spec').selector, 'selector').matchLabels as Record<string, string>;
      expect(selects(selector, labels)).toBe(true);
    });

    it('runs the shared image as its app, on its port, tracing registered first', () => {
      expect(spec.containers).toHaveLength(1);
      expect(container.name).toBe(name);
      expect(container.image).toBe(IMAGE);
      expect([...(container.command ?? []), ...(container.args ?? [])]).toEqual([
        'node',
        '--require',
        REGISTER,
        `dist/apps/${name}/src/main.js`,
      ]);
      expect(container.ports?.map((p) => p.containerPort)).toEqual([app.port]);
    });

    it('probes readiness on /readyz and liveness on its health path, on its port', () => {
      expect(container.readinessProbe?.httpGet?.path).toBe('/readyz');
      expect(probePort(container, container.readinessProbe)).toBe(app.port);
      expect(container.livenessProbe?.httpGet?.path).toBe(app.health);
      expect(probePort(container, container.livenessProbe)).toBe(app.port);
      if (container.startupProbe) expect(probePort(container, container.startupProbe)).toBe(app.port);
    });

    it('declares resource requests and limits and runs as non-root', () => {
      for (const kind of ['requests', 'limits'] as const) {
        expect(container.resources?.[kind]?.cpu).toBeDefined();
        expect(container.resources?.[kind]?.memory).toBeDefined();
      }
      expect(spec.securityContext?.runAsNonRoot).toBe(true);
      // The image's USER is a name; the kubelet needs a number to verify runAsNonRoot.
      expect(typeof spec.securityContext?.runAsUser).toBe('number');
      expect(spec.securityContext?.runAsUser).not.toBe(0);
      expect(container.securityContext?.allowPrivilegeEscalation).toBe(false);
    });

    it('gets every variable it needs, from ConfigMaps that exist and the documented Secrets', () => {
      const env: Record<string, string> = {};
      for (const source of container.envFrom ?? []) {
        if (source.configMapRef) {
          const cm = named(configMaps, 'ConfigMap', source.configMapRef.name);
          Object.assign(env, cm.data as Record<string, string>);
        }
        if (source.secretRef) {
          expect(EXTERNAL_SECRETS).toContain(source.secretRef.name);
          expect(source.secretRef.optional).toBe(true);
        }
      }
      for (const variable of container.env ?? []) {
        const secretRef = variable.valueFrom?.secretKeyRef;
        const cmRef = variable.valueFrom?.configMapKeyRef;
        if (secretRef) expect(EXTERNAL_SECRETS).toContain(secretRef.name);
        if (cmRef) expect(named(configMaps, 'ConfigMap', String(cmRef.name)).data).toHaveProperty(String(cmRef.key));
        env[variable.name] = variable.value ?? 'from-ref';
      }
      expect(env.PORT).toBe(String(app.port));
      expect(env.OTEL_SERVICE_NAME).toBe(name);
      expect(env.DATABASE_URL).toBeDefined();
      const database = container.env?.find((v) => v.name === 'DATABASE_URL')?.valueFrom?.secretKeyRef;
      expect(database).toEqual({ name: 'pancha-database-urls', key: name });
      // Two roles: the runtime role serves, the owner migrates (docs/ARCHITECTURE.md "Database roles").
      const migration = container.env?.find((v) => v.name === 'DATABASE_MIGRATION_URL')?.valueFrom?.secretKeyRef;
      expect(migration).toEqual({ name: 'pancha-database-migration-urls', key: name });
      for (const [variable, target] of Object.entries(URL_VARS)) {
        expect({ variable, value: env[variable] }).toEqual({ variable, value: `http://${target}:${APPS[target].port}` });
      }
    });

    it('mounts its own private key and the peers’ public keys from pancha-service-keys at PANCHA_KEYS_DIR', () => {
      const common = named(configMaps, 'ConfigMap', 'pancha-common').data as Record<string, string>;
      const volume = spec.volumes?.find((v) => v.secret?.secretName === 'pancha-service-keys');
      expect(volume).toBeDefined();
      const keys = volume?.secret?.items?.map((i) => i.key).sort();
      const privateKeys = keys?.filter((k) => k.endsWith('.key.pem'));
      expect(privateKeys).toEqual([`${app.requesterId}.key.pem`]);
      // Every service's public key and PRANA's (it reads Bucket and Karma, and writes telemetry, as itself).
      expect(keys?.filter((k) => k.endsWith('.pub.pem'))).toEqual(
        [...Object.values(APPS).map((a) => a.requesterId), PRANA.requesterId]
          .map((id) => `${id}.pub.pem`)
          .sort(),
      );
      expect(container.volumeMounts?.find((m) => m.name === volume?.name)?.mountPath).toBe(common.PANCHA_KEYS_DIR);
    });

    it('has a Service on its port that selects exactly its pods', () => {
      const service = named(base, 'Service', name);
      const serviceSpec = obj(service.spec, 'spec');
      const selector = serviceSpec.selector as Record<string, string>;
      expect(selects(selector, labels)).toBe(true);
      for (const other of byKind(base, 'Deployment').filter((d) => d.metadata.name !== name)) {
        expect(selects(selector, podTemplate(other).labels)).toBe(false);
      }
      const ports = arr(serviceSpec.ports, 'ports').map((p) => obj(p, 'port'));
      expect(ports).toHaveLength(1);
      expect(ports[0].port).toBe(app.port);
      const targetPort = ports[0].targetPort;
      const resolved = typeof targetPort === 'number' ? targetPort : container.ports?.find((p) => p.name === targetPort)?.containerPort;
      expect(resolved).toBe(app.port);
    });
  });

  describe('prana', () => {
    const deployment = named(base, 'Deployment', PRANA.name);
    const { labels, spec } = podTemplate(deployment);
    const container = spec.containers[0];
    const common = named(configMaps, 'ConfigMap', 'pancha-common').data as Record<string, string>;

    it('runs the shared image as prana on 4200, labelled and selected like the services', () => {
      expect(labels?.['app.kubernetes.io/name']).toBe('prana');
      expect(labels?.['app.kubernetes.io/part-of']).toBe('pancha');
      expect(container.image).toBe(IMAGE);
      expect(container.command).toEqual(['node', '--require', REGISTER, 'dist/apps/prana/src/main.js']);
      expect(container.ports?.map((p) => p.containerPort)).toEqual([PRANA.port]);
      expect(container.livenessProbe?.httpGet?.path).toBe(PRANA.health);
      expect(container.readinessProbe?.httpGet?.path).toBe('/readyz');
      expect(spec.securityContext?.runAsNonRoot).toBe(true);
      const service = named(base, 'Service', PRANA.name);
      expect(selects(obj(service.spec, 'spec').selector as Record<string, string>, labels)).toBe(true);
    });

    it('has no database and takes its secrets from pancha-prana; OIDC settings from the ConfigMaps', () => {
      const env = Object.fromEntries((container.env ?? []).map((v) => [v.name, v.valueFrom?.secretKeyRef]));
      expect(env.DATABASE_URL).toBeUndefined();
      expect(env.OIDC_CLIENT_SECRET).toEqual({ name: 'pancha-prana', key: 'oidc_client_secret' });
      expect(env.SESSION_SECRET).toEqual({ name: 'pancha-prana', key: 'session_secret' });
      expect(env.REDIS_URL).toEqual({ name: 'pancha-prana', key: 'redis_url', optional: true });
      const own = named(configMaps, 'ConfigMap', 'prana').data as Record<string, string>;
      expect([own.PORT, own.OTEL_SERVICE_NAME, own.OIDC_CLIENT_ID]).toEqual(['4200', 'prana', 'prana']);
      expect(own.PRANA_PUBLIC_URL).toMatch(/^https:\/\//);
      expect(common.OIDC_ISSUER).toMatch(/^https:\/\//);
      expect(common.OIDC_AUDIENCE).toBeTruthy();
    });

    it("mounts only its own private key, and the services' public keys", () => {
      const volume = spec.volumes?.find((v) => v.secret?.secretName === 'pancha-service-keys');
      const keys = volume?.secret?.items?.map((i) => i.key) ?? [];
      expect(keys.filter((k) => k.endsWith('.key.pem'))).toEqual(['prana.key.pem']);
      expect(container.volumeMounts?.find((m) => m.name === volume?.name)?.mountPath).toBe(common.PANCHA_KEYS_DIR);
    });
  });

  it('mounts only Secrets and ConfigMaps that are documented or defined', () => {
    for (const deployment of byKind(base, 'Deployment')) {
      for (const volume of podTemplate(deployment).spec.volumes ?? []) {
        if (volume.secret) expect(EXTERNAL_SECRETS).toContain(volume.secret.secretName);
        if (volume.configMap) expect(named(configMaps, 'ConfigMap', volume.configMap.name)).toBeDefined();
      }
    }
  });

  it('documents every external Secret in docs/deploy.md', () => {
    const doc = readText('docs/deploy.md');
    for (const secret of EXTERNAL_SECRETS) expect({ secret, documented: doc.includes(secret) }).toEqual({ secret, documented: true });
  });

  describe.each(['dev', 'prod'])('overlay %s', (overlay) => {
    const dir = path.join(k8sRoot, 'overlays', overlay);
    const k = loadKustomization(dir);
    const objects = kustomizeObjects(dir);
    const id = (o: K8sObject): string => `${o.kind}/${o.metadata.name}`;
    const baseIds = new Set(base.map(id));
    const own = objects.filter((o) => !baseIds.has(id(o)));

    it('builds on the base and adds only new objects', () => {
      expect(k.resources).toContain('../../base');
      const ids = objects.map(id);
      expect(new Set(ids).size).toBe(ids.length);
      for (const baseId of baseIds) expect(ids).toContain(baseId);
    });

    it('patches only objects that exist, at paths that exist', () => {
      for (const patch of k.patches) {
        const file = path.resolve(dir, String(patch.path));
        const docs = loadDocuments(file);
        if (patch.target) {
          const target = patch.target;
          const selector = Object.fromEntries(
            String(target.labelSelector ?? '')
              .split(',')
              .filter(Boolean)
              .map((pair) => pair.split('=').map((s) => s.trim()) as [string, string]),
          );
          const matches = objects.filter(
            (o) =>
              (!target.kind || o.kind === target.kind) &&
              (!target.name || o.metadata.name === target.name) &&
              (!target.labelSelector || selects(selector, o.metadata.labels)),
          );
          expect({ patch: patch.path, matches: matches.length > 0 }).toEqual({ patch: patch.path, matches: true });
          // A JSON 6902 patch: a list of operations whose `replace`/`remove` paths exist in every target.
          const ops = arr(docs[0], String(patch.path)).map((op) => obj(op, 'op'));
          for (const op of ops) {
            expect(['add', 'replace', 'remove', 'test', 'copy', 'move']).toContain(op.op);
            if (op.op === 'replace' || op.op === 'remove') {
              for (const m of matches) {
                const where = `${String(patch.path)} ${String(op.path)} on ${m.kind}/${m.metadata.name}`;
                expect({ where, exists: pointerExists(m, String(op.path)) }).toEqual({ where, exists: true });
              }
            }
          }
        } else {
          for (const doc of docs) {
            const p = asK8sObject(doc, file);
            const exists = objects.some((o) => o.kind === p.kind && o.apiVersion === p.apiVersion && o.metadata.name === p.metadata.name);
            expect({ patch: `${p.kind}/${p.metadata.name}`, exists }).toEqual({ patch: `${p.kind}/${p.metadata.name}`, exists: true });
          }
        }
      }
    });

    it('sets replicas and the image tag for objects and images the base has', () => {
      expect(k.replicas.map((r) => r.name).sort()).toEqual([...DEPLOYED].sort());
      for (const r of k.replicas) {
        expect(named(base, 'Deployment', r.name)).toBeDefined();
        expect(r.count).toBeGreaterThanOrEqual(1);
      }
      expect(k.images).toHaveLength(1);
      expect(k.images[0].name).toBe(IMAGE);
      expect(typeof k.images[0].newTag).toBe('string');
    });

    it('sends traces to an OTLP endpoint', () => {
      const patch = k.patches
        .map((p) => loadDocuments(path.resolve(dir, String(p.path))))
        .flat()
        .filter(isObj)
        .find((d) => d.kind === 'ConfigMap' && obj(d.metadata, 'metadata').name === 'pancha-common');
      const endpoint = String(obj(patch?.data, 'pancha-common data').OTEL_EXPORTER_OTLP_ENDPOINT);
      expect(endpoint).toMatch(/^http:\/\/[a-z0-9.-]+:4318$/);
      const host = endpoint.slice('http://'.length).split(':')[0];
      // An in-namespace host must be a Service this overlay deploys; a dotted host is another namespace.
      if (!host.includes('.')) expect(named(objects, 'Service', host)).toBeDefined();
    });

    it('gives its own workloads probes, resources and a Service or budget that selects them', () => {
      for (const o of own) {
        if (o.kind === 'Deployment') {
          const { labels, spec } = podTemplate(o);
          for (const c of spec.containers) {
            expect(c.readinessProbe).toBeDefined();
            expect(c.livenessProbe).toBeDefined();
            expect(c.resources?.limits).toBeDefined();
          }
          expect(spec.securityContext?.runAsNonRoot).toBe(true);
          expect(own.some((s) => s.kind === 'Service' && selects(obj(s.spec, 'spec').selector as Record<string, string>, labels))).toBe(true);
        }
        if (o.kind === 'PodDisruptionBudget') {
          const selector = obj(obj(o.spec, 'spec').selector, 'selector').matchLabels as Record<string, string>;
          const targets = byKind(objects, 'Deployment').filter((d) => selects(selector, podTemplate(d).labels));
          expect({ pdb: o.metadata.name, targets: targets.length }).toEqual({ pdb: o.metadata.name, targets: 1 });
        }
      }
    });
  });
});
