import { fireEvent, screen, waitFor } from '@testing-library/react';
import { FakeBff } from '../testing/fake-bff';
import { renderApp } from '../testing/render';
import { contrastRatio, heatColors } from './karma-view';
import type { BucketEntry } from '../types';

const h = (c: string) => c.repeat(64);
function entry(seq: number, patch: Partial<BucketEntry> = {}): BucketEntry {
  return {
    seq, event_id: `e${seq}`, requester_id: 'core', channel: 'core', event_type: 'task_received', trace_id: 'd'.repeat(32), product: null, user_id: 'u-1',
    event_data: { event_id: `e${seq}`, event_type: 'task_received', input: 'hello' }, content_hash: h('c'), prev_hash: h(String(seq - 1)), hash: h(String(seq)), created_at: '2026-11-28T10:00:00.000Z', ...patch,
  };
}

describe('Audit', () => {
  it('shows the chain for a trace with each hash and a link to its predecessor, and pages by seq', async () => {
    const bff = new FakeBff('viewer');
    bff.on('GET', '/api/bucket/core/events', (req) =>
      req.query.get('after_seq') === '8' ? { events: [entry(9)], next_after_seq: null } : { events: [entry(7), entry(8)], next_after_seq: 8 },
    );
    renderApp(bff, `/audit?trace_id=${'d'.repeat(32)}`);
    expect(await screen.findByText('#7', { selector: 'strong' })).toBeTruthy();
    expect(bff.requests.find((r) => r.path === '/api/bucket/core/events')?.query.get('trace_id')).toBe('d'.repeat(32));
    // #7's hash, and #8's link back to it
    expect(screen.getAllByText(h('7'))).toHaveLength(2);
    expect(screen.getByRole('link', { name: 'Entry 7, the predecessor' }).getAttribute('href')).toBe('/audit?after_seq=6&limit=1');
    fireEvent.click(screen.getByRole('button', { name: 'Next entries →' }));
    expect(await screen.findByText('#9', { selector: 'strong' })).toBeTruthy();
    expect(window.location.search).toContain('after_seq=8');
  });

  it('filters by user and verifies the chain, showing the signed checkpoint', async () => {
    const bff = new FakeBff('viewer');
    bff.on('GET', '/api/bucket/core/events', () => ({ events: [], next_after_seq: null }));
    bff.on('GET', '/api/bucket/audit/verify', () => ({ ok: true, size: 42, head_hash: h('f') }));
    bff.on('GET', '/api/bucket/audit/checkpoint', () => ({ size: 42, head_hash: h('f'), timestamp: '2026-11-28T10:00:00.000Z', signature: 'sig-abc', key_id: 'bucket', alg: 'Ed25519' }));
    renderApp(bff, '/audit');
    await screen.findByText('No audit entries match.');
    fireEvent.change(screen.getByLabelText('User'), { target: { value: 'asha' } });
    fireEvent.click(screen.getByRole('button', { name: 'Show' }));
    await waitFor(() => expect(bff.requests.filter((r) => r.path === '/api/bucket/core/events').at(-1)?.query.get('user_id')).toBe('asha'));
    fireEvent.click(screen.getByRole('button', { name: 'Verify' }));
    expect((await screen.findByText(/Chain intact/)).textContent).toContain('42 entries');
    expect(screen.getByLabelText('signed checkpoint').textContent).toContain('sig-abc');
    expect(bff.requests.find((r) => r.path === '/api/bucket/audit/verify')?.query.get('full')).toBe('true');
  });

  it('says where a broken chain breaks', async () => {
    const bff = new FakeBff('viewer');
    bff.on('GET', '/api/bucket/core/events', () => ({ events: [], next_after_seq: null }));
    bff.on('GET', '/api/bucket/audit/verify', () => ({ ok: false, size: 42, head_hash: h('f'), first_bad_seq: 17, reason: 'hash_mismatch' }));
    bff.on('GET', '/api/bucket/audit/checkpoint', () => ({}));
    renderApp(bff, '/audit');
    fireEvent.click(await screen.findByRole('button', { name: 'Verify' }));
    expect((await screen.findByText(/Chain broken/)).textContent).toContain('seq 17 (hash_mismatch)');
  });
});

describe('Karma', () => {
  const profile = {
    user_id: 'viewer', as_of: '2026-11-28T10:00:00.000Z', balances: { DHARMA: 12, SEVA: 3 }, merit: 15, paap: { minor: 1 }, paap_weighted: 2,
    net_karma: 13, role: 'learner', predicted_next_role: 'volunteer', recommended_action: 'help', q_values: { help: 0.8, study: 0.2, rest: -0.1 },
  };

  const history = (points: Array<[string, number, number, number]>) => ({
    user_id: 'viewer', bucket: 'day', since: '2026-10-29T10:00:00.000Z', until: '2026-11-28T10:00:00.000Z',
    entries: points.reduce((n, [, merit, paap]) => n + (merit || paap ? 2 : 0), 0),
    points: points.map(([at, merit, paap, net_cumulative]) => ({ at, merit, paap, net: merit - paap, net_cumulative, entries: merit || paap ? 2 : 0 })),
  });

  it('shows merit, paap, net karma, role, next role and Q-values as a heat map, and the ledger chart from Karma\'s history', async () => {
    const bff = new FakeBff('viewer');
    bff.on('GET', '/api/karma/api/v1/karma/viewer', () => profile);
    bff.on('GET', '/api/karma/v1/karma/viewer/history', () => history([['2026-11-27T00:00:00.000Z', 5, 0, 5], ['2026-11-28T00:00:00.000Z', 10, 2, 13]]));
    const { container } = renderApp(bff, '/karma');
    expect(await screen.findByText('volunteer')).toBeTruthy();
    expect(screen.getByText('Net karma').nextElementSibling?.textContent).toBe('13');
    const cells = screen.getByRole('table', { name: /Q-values/ }).querySelectorAll('td');
    expect([...cells].map((c) => c.title)).toEqual(['help: 0.8', 'study: 0.2', 'rest: -0.1']);
    // highest value darkest
    expect(cells[0].style.background).not.toBe(cells[2].style.background);
    await screen.findByText(/Merit and paap recorded per day/);
    expect(container.querySelector('.recharts-wrapper')).toBeTruthy();
    expect(bff.requests.find((r) => r.path === '/api/karma/v1/karma/viewer/history')?.query.get('bucket')).toBe('day');
    // by hour: asks Karma again with the other bucket
    fireEvent.change(screen.getByLabelText(/Bucket/), { target: { value: 'hour' } });
    await waitFor(() => expect(bff.requests.filter((r) => r.path === '/api/karma/v1/karma/viewer/history').at(-1)?.query.get('bucket')).toBe('hour'));
  });

  it('shows the profile without Q-values when the BFF leaves them out (people restricted to some products)', async () => {
    const bff = new FakeBff('viewer');
    bff.session = { ...bff.session!, products: ['alpha'] };
    const { q_values: _row, ...withoutRow } = profile;
    bff.on('GET', '/api/karma/api/v1/karma/viewer', () => withoutRow);
    bff.on('GET', '/api/karma/v1/karma/viewer/history', () => history([['2026-11-28T00:00:00.000Z', 10, 2, 13]]));
    renderApp(bff, '/karma');
    expect(await screen.findByText('volunteer')).toBeTruthy();
    expect(screen.getByText('Net karma').nextElementSibling?.textContent).toBe('13');
    expect(screen.getByText(/Not shown: the Q-table learns from everyone/)).toBeTruthy();
    expect(screen.queryByRole('table', { name: /Q-values/ })).toBeNull();
    await screen.findByText(/Merit and paap recorded per day/);
  });

  it('says so when the user has no ledger entries in the range', async () => {
    const bff = new FakeBff('viewer');
    bff.on('GET', '/api/karma/api/v1/karma/viewer', () => profile);
    bff.on('GET', '/api/karma/v1/karma/viewer/history', () => history([['2026-11-28T00:00:00.000Z', 0, 0, 0]]));
    const { container } = renderApp(bff, '/karma');
    expect(await screen.findByText('No ledger entries for viewer in this range.')).toBeTruthy();
    expect(container.querySelector('.recharts-wrapper')).toBeNull();
  });

  it('shows which service failed when the history cannot be loaded, and still shows the profile', async () => {
    const bff = new FakeBff('viewer');
    bff.on('GET', '/api/karma/api/v1/karma/viewer', () => profile);
    bff.on('GET', '/api/karma/v1/karma/viewer/history', () => ({ status: 504, body: { error: 'service_unavailable', message: 'karma did not answer in time', service: 'karma' } }));
    renderApp(bff, '/karma');
    const alert = await screen.findByText(/Could not load the karma ledger of viewer \(Karma\)/);
    expect(alert.closest('[role=alert]')?.textContent).toContain('karma did not answer in time');
    expect(await screen.findByText('volunteer')).toBeTruthy();
  });
});

describe('heat map colours', () => {
  it('keep text contrast at or above 4.5:1 on every shade, from the lowest value to the highest', () => {
    for (let i = 0; i <= 200; i++) {
      const c = heatColors(i / 200);
      expect({ t: i / 200, ok: c.ratio >= 4.5 }).toEqual({ t: i / 200, ok: true });
    }
    expect(heatColors(0).color).toBe('#000');
    expect(heatColors(1).color).toBe('#fff');
    // the WCAG formula: white on black is 21:1
    expect(contrastRatio(1, 0)).toBe(21);
  });
});
