import { render } from '@testing-library/react';
import { Api } from '../api';
import { App } from '../app';
import type { FakeBff, FakeBffStreams } from './fake-bff';

/** Renders the whole console at `path` against a stand-in BFF (telemetry off: its own tests cover it). */
export function renderApp(bff: FakeBff, path = '/', redirect?: (url: string) => void) {
  window.history.replaceState(null, '', path);
  localStorage.setItem('PRANA_DISABLED', '1');
  const api = new Api(bff.fetch as typeof fetch);
  // No EventSource in jsdom: views poll, unless the test gave the BFF live-stream stand-ins (withStreams).
  api.openStream = (bff as Partial<FakeBffStreams>).openStream;
  return render(<App api={api} redirect={redirect} />);
}
