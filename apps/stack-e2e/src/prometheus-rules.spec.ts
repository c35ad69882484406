/**
 * deploy/prometheus checked by Prometheus's own tool: the config (with its rule files) loads, the alert rules
 * parse, and their unit tests (alerts.test.yml) pass. promtool comes with Debian's `prometheus` package, which
 * .ci/run installs: in CI its absence fails the suite; elsewhere the suite is skipped with the reason printed.
 */
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { promtoolPath } from './prometheus-support';

const root = path.resolve(__dirname, '../../..');
const dir = path.join(root, 'deploy/prometheus');
const promtool = promtoolPath();

function run(...args: string[]): { status: number | null; output: string } {
  const result = spawnSync(promtool as string, args, { cwd: dir, encoding: 'utf8', timeout: 60_000 });
  return { status: result.status, output: `${result.stdout}${result.stderr}` };
}

if (!promtool && process.env.CI === 'true') {
  describe('promtool', () => {
    it('is installed (apt-get install -y prometheus; .ci/run does)', () => {
      throw new Error('promtool not found on PATH or at /usr/bin/promtool, and CI=true: the alert rules cannot go untested');
    });
  });
} else if (!promtool) {
  console.warn('[prometheus-rules] skipped: promtool is not installed (apt-get install -y prometheus); CI fails instead');
  describe.skip('deploy/prometheus with promtool (promtool not installed)', () => {
    it('skipped', () => undefined);
  });
} else {
  describe('deploy/prometheus with promtool', () => {
    it('promtool check config: prometheus.yml and the rule files it names are valid', () => {
      const { status, output } = run('check', 'config', 'prometheus.yml');
      expect(output).toContain('SUCCESS');
      expect(status).toBe(0);
    });

    it('promtool check rules: every alert rule parses', () => {
      const { status, output } = run('check', 'rules', 'alerts.yml');
      expect(output).toMatch(/SUCCESS: 6 rules found/);
      expect(status).toBe(0);
    });

    it('promtool test rules: each alert fires on its situation and stays quiet otherwise', () => {
      const { status, output } = run('test', 'rules', 'alerts.test.yml');
      expect(output).toContain('SUCCESS');
      expect(output).not.toContain('FAILED');
      expect(status).toBe(0);
    });
  });
}
