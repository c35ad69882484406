import { PranaTelemetry } from '@pancha/prana-telemetry';
import { Component, useEffect, useMemo, useState, type ReactNode } from 'react';
import { Api, ApiError, type Session } from './api';
import { AppContext, DEFAULT_JAEGER_UI_URL, permissionCheck, useLoad, type AppContextValue } from './app-context';
import { ErrorState, Loading } from './components/common';
import { Link, match, Router, useRouter } from './router';
import { AuditView } from './views/audit-view';
import { KarmaView } from './views/karma-view';
import { RunView } from './views/run-view';
import { RunsView } from './views/runs-view';
import { TaskView } from './views/task-view';
import { TelemetryView } from './views/telemetry-view';
import { TraceView } from './views/trace-view';
import { WorkflowsView, WorkflowView } from './views/workflows-view';

const NAV: Array<{ to: string; label: string; permission: string }> = [
  { to: '/', label: 'Tasks and runs', permission: 'view:runs' },
  { to: '/workflows', label: 'Workflows', permission: 'view:workflows' },
  { to: '/audit', label: 'Audit', permission: 'view:audit' },
  { to: '/karma', label: 'Karma', permission: 'view:karma' },
  { to: '/telemetry', label: 'Telemetry', permission: '' },
];

/** Which services are down, from /api/health: shown on every page, so a failing view says why. */
export function HealthBanner({ api }: { api: Api }) {
  const health = useLoad(() => api.health(), 'health', 15_000);
  const down = Object.entries(health.data?.services ?? {}).filter(([, s]) => s !== 'up');
  if (health.error && health.error.status !== 401)
    return (
      <div role="alert" className="banner">
        PRANA's service status is unavailable ({health.error.message}).
      </div>
    );
  if (down.length === 0) return null;
  return (
    <div role="alert" className="banner">
      {down.map(([name, s]) => `${name} is ${s}`).join(', ')}: views that need {down.length > 1 ? 'them' : 'it'} show an error until {down.length > 1 ? 'they are' : 'it is'} back.
    </div>
  );
}

export function SignIn({ reason }: { reason?: string }) {
  const returnTo = `${window.location.pathname}${window.location.search}`;
  return (
    <main className="sign-in" id="main">
      <h1>PRANA</h1>
      <p>The Pancha console. {reason}</p>
      <a className="button" href={`/auth/login?return_to=${encodeURIComponent(returnTo)}`}>
        Sign in
      </a>
    </main>
  );
}

/** A view that throws shows what broke instead of a blank page; moving to another page clears it. */
class ViewBoundary extends Component<{ children: ReactNode; path: string }, { error: Error | null; path: string }> {
  override state = { error: null as Error | null, path: this.props.path };
  static getDerivedStateFromError(error: Error) {
    return { error };
  }
  static getDerivedStateFromProps(props: { path: string }, state: { error: Error | null; path: string }) {
    return props.path !== state.path ? { error: null, path: props.path } : null;
  }
  override render() {
    if (this.state.error)
      return (
        <div role="alert" className="error-state">
          <strong>This view failed to show.</strong> {this.state.error.message}
        </div>
      );
    return this.props.children;
  }
}

function Routes({ telemetry }: { telemetry: PranaTelemetry | null }) {
  const { location } = useRouter();
  const path = location.pathname;
  let m: Record<string, string> | null;
  if (path === '/' || path === '/runs') return <RunsView />;
  if ((m = match('/runs/:id', path))) return <RunView key={m.id} runId={m.id} />;
  if ((m = match('/tasks/:id', path))) return <TaskView key={m.id} taskId={m.id} />;
  if (path === '/workflows') return <WorkflowsView />;
  if ((m = match('/workflows/:name', path))) return <WorkflowView key={m.name} name={m.name} />;
  if (path === '/audit') return <AuditView />;
  if ((m = match('/traces/:id', path))) return <TraceView key={m.id} traceId={m.id} />;
  if (path === '/karma') return <KarmaView />;
  if (path === '/telemetry') return <TelemetryView telemetry={telemetry} />;
  return (
    <>
      <h1>Not found</h1>
      <p>
        Nothing lives at <code>{path}</code>. <Link to="/">Go to tasks and runs</Link>.
      </p>
    </>
  );
}

export function Shell({ ctx, telemetry, onSignOut }: { ctx: AppContextValue; telemetry: PranaTelemetry | null; onSignOut: () => void }) {
  const { location } = useRouter();
  const [menuOpen, setMenuOpen] = useState(false);
  return (
    <AppContext.Provider value={ctx}>
      <a href="#main" className="skip-link">
        Skip to content
      </a>
      <header className="top">
        <span className="brand">PRANA</span>
        <button type="button" className="menu-toggle" aria-expanded={menuOpen} aria-controls="nav" onClick={() => setMenuOpen(!menuOpen)}>
          Menu
        </button>
        <nav id="nav" aria-label="Main" className={menuOpen ? 'open' : ''}>
          <ul>
            {NAV.filter((n) => !n.permission || ctx.can(n.permission)).map((n) => {
              const current = n.to === '/' ? location.pathname === '/' || location.pathname.startsWith('/runs') || location.pathname.startsWith('/tasks') : location.pathname.startsWith(n.to);
              return (
                <li key={n.to}>
                  <Link to={n.to} aria-current={current ? 'page' : undefined} onClick={() => setMenuOpen(false)}>
                    {n.label}
                  </Link>
                </li>
              );
            })}
          </ul>
        </nav>
        <span className="who" data-testid="who">
          {ctx.session.user.name ?? ctx.session.user.username} <span className="muted">({ctx.session.user.roles.join(', ')})</span>
        </span>
        <button type="button" onClick={onSignOut}>
          Sign out
        </button>
      </header>
      <HealthBanner api={ctx.api} />
      <main id="main" tabIndex={-1}>
        <ViewBoundary path={location.pathname}>
          <Routes telemetry={telemetry} />
        </ViewBoundary>
      </main>
    </AppContext.Provider>
  );
}

export function App({ api: given, redirect = (url: string) => window.location.assign(url) }: { api?: Api; redirect?: (url: string) => void }) {
  // One Api for the app's life: a new one per render would re-run the session effect forever.
  const [api] = useState(() => given ?? new Api());
  const [session, setSession] = useState<Session | null>(null);
  const [error, setError] = useState<ApiError | null>(null);
  const [expired, setExpired] = useState(false);
  const [telemetry, setTelemetry] = useState<PranaTelemetry | null>(null);

  useEffect(() => {
    api.onUnauthenticated = () => setExpired(true);
    api
      .session()
      .then((s) => {
        api.csrfToken = s.csrf_token;
        setSession(s);
      })
      .catch((e: ApiError) => setError(e));
  }, [api]);

  useEffect(() => {
    if (!session) return;
    // The BFF records packets under the signed-in username (whatever user_id a packet names): the same id here.
    const { product, disabled } = telemetryProduct(session);
    const t = new PranaTelemetry({
      context: { user_id: session.user.username, session_id: sessionId(), lesson_id: 'prana-console', system_type: 'ems', role: 'employee', ...(product ? { product } : {}) },
      headers: () => ({ 'x-csrf-token': api.csrfToken }),
      panel: () => document.getElementById('main'),
      ...(disabled ? { disabled } : {}),
    });
    t.start();
    setTelemetry(t);
    return () => t.stop();
  }, [session, api]);

  const ctx = useMemo<AppContextValue | null>(
    () => (session ? { api, session, can: permissionCheck(session), jaegerUrl: session.jaeger_ui_url ?? DEFAULT_JAEGER_UI_URL } : null),
    [api, session],
  );

  if (expired) return <SignIn reason="Your session has expired. Sign in again to continue." />;
  if (error?.status === 401) return <SignIn />;
  if (error) return <ErrorState error={error} what="your session" />;
  if (!ctx) return <Loading what="PRANA" />;
  const signOut = async () => {
    const r = await api.logout().catch(() => null);
    telemetry?.stop();
    redirect(r?.logout_url ?? '/');
  };
  return (
    <Router>
      <Shell ctx={ctx} telemetry={telemetry} onSignOut={() => void signOut()} />
    </Router>
  );
}

/**
 * The product the console's telemetry names: none when people see every product; the first of their products when
 * they are restricted (the BFF refuses a restricted person's packet without one of theirs); and no telemetry at all
 * when people see no product (there is nowhere it could go).
 */
export function telemetryProduct(session: Pick<Session, 'products'>): { product?: string; disabled: boolean } {
  const products = session.products ?? ['*'];
  if (products.includes('*')) return { disabled: false };
  return products.length ? { product: products[0], disabled: false } : { disabled: true };
}

/** One id per browser tab (sessionStorage): packets of one sitting share it. */
function sessionId(): string {
  try {
    let id = sessionStorage.getItem('prana.session_id');
    if (!id) {
      id = crypto.randomUUID();
      sessionStorage.setItem('prana.session_id', id);
    }
    return id;
  } catch {
    return 'no-storage';
  }
}
