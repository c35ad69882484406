import { createContext, useCallback, useContext, useEffect, useRef, useState } from 'react';
import { Api, ApiError, type Session } from './api';

export const DEFAULT_JAEGER_UI_URL = 'http://127.0.0.1:16686';

export interface AppContextValue {
  api: Api;
  session: Session;
  can: (permission: string) => boolean;
  jaegerUrl: string;
}

export const AppContext = createContext<AppContextValue | null>(null);

export function useApp(): AppContextValue {
  const ctx = useContext(AppContext);
  if (!ctx) throw new Error('useApp outside the signed-in app');
  return ctx;
}

export function permissionCheck(session: Session): (p: string) => boolean {
  const set = new Set(session.permissions);
  return (p) => set.has(p) || session.user.roles.includes('admin');
}

export interface Loaded<T> {
  data: T | undefined;
  error: ApiError | undefined;
  loading: boolean;
  reload: () => void;
  /** Replaces the data in place (a live push patched it); the next load replaces it again. */
  set: (data: T) => void;
}

/**
 * Loads `fn` when `key` changes, and again every `pollMs` while mounted (live lists and run pages). A failed
 * refresh keeps the last data and shows the error beside it.
 */
export function useLoad<T>(fn: () => Promise<T>, key: string, pollMs?: number): Loaded<T> {
  const [data, setData] = useState<T>();
  const [error, setError] = useState<ApiError>();
  const [loading, setLoading] = useState(true);
  const [tick, setTick] = useState(0);
  const fnRef = useRef(fn);
  fnRef.current = fn;
  const keyRef = useRef(key);
  useEffect(() => {
    let alive = true;
    if (keyRef.current !== key) {
      keyRef.current = key;
      setData(undefined);
    }
    setLoading(true);
    fnRef
      .current()
      .then((d) => {
        if (!alive) return;
        setData(d);
        setError(undefined);
      })
      .catch((e: unknown) => {
        if (alive) setError(e instanceof ApiError ? e : new ApiError(0, 'client', String(e), null));
      })
      .finally(() => alive && setLoading(false));
    return () => {
      alive = false;
    };
  }, [key, tick]);
  useEffect(() => {
    if (!pollMs) return;
    const t = setInterval(() => {
      if (document.visibilityState !== 'hidden') setTick((n) => n + 1);
    }, pollMs);
    return () => clearInterval(t);
  }, [pollMs, key]);
  const reload = useCallback(() => setTick((n) => n + 1), []);
  const set = useCallback((d: T) => setData(d), []);
  return { data, error, loading, reload, set };
}
