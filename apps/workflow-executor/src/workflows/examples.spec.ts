/**
 * The example workflows shipped in workflows/ are real: every one validates with the executor's own actions (no
 * errors, in strict mode) and passes its own `tests:` cases with the engine's interpreter.
 */
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { runWorkflowSetTests } from '@pancha/workflow-engine';
import { applyValidationMode, parseManifest, validateWorkflowSet, type WorkflowManifest } from '@pancha/workflow-manifest';
import { discoverPluginFiles, PluginHost } from '@pancha/plugin-sdk';
import { testConfig } from '../config/test-config';
import { HttpAction } from './engine/http.action';

const DIR = path.resolve(__dirname, '../../../../workflows');
const files = readdirSync(DIR).filter((f) => f.endsWith('.yaml'));
const parsed = files.map((file) => ({ file, ...parseManifest(readFileSync(path.join(DIR, file), 'utf8'), { file, expectedName: file.replace(/\.yaml$/, '') }) }));
const manifests = new Map(parsed.filter((p) => p.manifest).map((p) => [p.manifest!.name, p.manifest!] as const));

describe('workflows/ (the shipped examples)', () => {
  it('has an onboarding, an incident escalation and a publish pack, using every step kind', () => {
    expect([...manifests.keys()]).toEqual(expect.arrayContaining(['onboard-learner', 'incident-escalation', 'publish-pack', 'publish-one']));
    const kinds = new Set<string>();
    const visit = (steps: WorkflowManifest['steps']): void => {
      for (const step of steps) {
        kinds.add(step.kind);
        if (step.kind === 'group') visit(step.steps);
        if (step.kind === 'parallel') visit(step.branches);
        if (step.kind === 'switch') [...step.cases.map((c) => c.steps), step.default ?? []].forEach(visit);
        if (step.kind === 'foreach' && step.body.kind === 'group') visit(step.body.steps);
        if (step.kind === 'foreach' && step.body.kind === 'workflow') kinds.add('workflow');
        if (step.if !== undefined) kinds.add('if');
      }
    };
    for (const m of manifests.values()) visit(m.steps);
    expect([...kinds].sort()).toEqual(['action', 'approval', 'foreach', 'if', 'parallel', 'sleep', 'switch', 'workflow']);
  });

  it('every manifest validates in strict mode with the executor actions (and the plugins of plugins/) and no errors', async () => {
    for (const p of parsed) expect({ file: p.file, findings: p.findings.filter((f) => f.severity === 'error') }).toEqual({ file: p.file, findings: [] });
    const actions = new Map<string, { inputSchema?: Record<string, unknown> }>([['task', {}], ['email', {}], ['whatsapp', {}], ['ai', {}], ['http', { inputSchema: new HttpAction(testConfig()).inputSchema }]]);
    const host = new PluginHost({ forbiddenPaths: [], maxMemoryMb: 64, loadTimeoutMs: 20_000 });
    for (const entry of discoverPluginFiles(path.resolve(__dirname, '../../../../plugins'))) {
      const described = await host.describe(entry);
      if (!described.ok) throw new Error(`plugin ${entry.label}: ${described.error}`);
      actions.set(described.declaration.name, { inputSchema: described.declaration.input });
    }
    const set = validateWorkflowSet(
      parsed.map((p) => ({ manifest: p.manifest!, source: p.source })),
      { actions, policyHttpHosts: ['127.0.0.1', 'localhost', 'healing.pancha.local', 'publish.pancha.local'] },
    );
    for (const [key, findings] of set) {
      const verdict = applyValidationMode(findings, 'strict');
      expect({ key, errors: verdict.findings.filter((f) => f.severity === 'error') }).toEqual({ key, errors: [] });
      expect({ key, accepted: verdict.accepted }).toEqual({ key, accepted: true });
    }
  });

  for (const manifest of manifests.values()) {
    it(`${manifest.name}: its tests pass in the engine`, async () => {
      // The same set runner as `pancha workflows test`: sub-workflows resolve within workflows/.
      const results = await runWorkflowSetTests([...manifests.values()], { only: (m) => m === manifest });
      expect(results.length).toBeGreaterThan(0);
      for (const r of results) expect({ test: `${r.workflow}: ${r.name}`, failures: r.failures }).toEqual({ test: `${r.workflow}: ${r.name}`, failures: [] });
    });
  }
});
