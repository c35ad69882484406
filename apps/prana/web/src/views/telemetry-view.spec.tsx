import { act, fireEvent, render, screen } from '@testing-library/react';
import { PranaTelemetry } from '@pancha/prana-telemetry';
import { TelemetryView } from './telemetry-view';

describe('Telemetry panel', () => {
  beforeEach(() => localStorage.clear());

  it('shows the user each packet and the queue, and pauses and resumes collection', async () => {
    jest.useFakeTimers();
    try {
      const sent: unknown[] = [];
      const t = new PranaTelemetry({
        context: { user_id: 'u-1', session_id: 's', lesson_id: 'prana-console', system_type: 'ems', role: 'employee' },
        sender: async (p) => (sent.push(...p), { ok: true, status: 202 }),
      });
      t.start();
      render(<TelemetryView telemetry={t} />);
      expect(screen.getByTestId('telemetry-status').textContent).toBe('running');
      await act(async () => {
        await jest.advanceTimersByTimeAsync(5_000);
      });
      expect(screen.getByTestId('telemetry-queued').textContent).toBe('1');
      fireEvent.click(screen.getByRole('button', { name: /Show packet/ }));
      expect(screen.getAllByLabelText(/^packet /)[0].textContent).toContain('"cognitive_state"');
      fireEvent.click(screen.getByRole('button', { name: 'Pause telemetry' }));
      expect(screen.getByTestId('telemetry-status').textContent).toBe('paused');
      await act(async () => {
        await jest.advanceTimersByTimeAsync(10_000);
      });
      expect(screen.getAllByRole('button', { name: /(Show|Hide) packet/ })).toHaveLength(1);
      fireEvent.click(screen.getByRole('button', { name: 'Resume telemetry' }));
      expect(screen.getByTestId('telemetry-status').textContent).toBe('running');
      act(() => t.stop());
    } finally {
      jest.useRealTimers();
    }
  });

  it('says when the kill switch is on', () => {
    const t = new PranaTelemetry({ context: { user_id: 'u', session_id: 's', lesson_id: 'l', system_type: 'ems', role: 'employee' }, disabled: true });
    t.start();
    render(<TelemetryView telemetry={t} />);
    expect(screen.getByText(/switched off for this deployment/)).toBeTruthy();
  });
});
