/** `pancha workflows show <name>@<version>`: one registered version, its settings and its steps. */
import { indexSteps, type WorkflowManifest } from '@pancha/workflow-manifest';
import { duration, fields, print, table } from '../output';
import { lifecycle } from './workflows-remote';

/**
 * `present`: whether the version is in the workflows directory (undefined: not known). One that is not starts no new
 * run (409 version_retired) whatever its flags say, as `workflows show <name>` tells it.
 */
export function printManifest(m: WorkflowManifest, present?: boolean): void {
  print(
    fields([
      ['name', `${m.name}@${m.version}`],
      ['description', m.description],
      ['owner', m.owner],
      ['lifecycle', lifecycle({ present: present ?? true, retired: m.retired, deprecated: m.deprecated })],
      ['timeout', m.timeout_ms === undefined ? null : duration(m.timeout_ms)],
      ['triggers', m.triggers.map((t) => t.event).join(', ')],
      ['actions allowed', m.security.actions.join(', ')],
      ['http hosts', m.security.http_hosts.join(', ')],
      ['secrets', m.security.secrets.join(', ')],
      ['tests', m.tests.length],
    ]),
  );
  print('');
  print(
    table(
      ['STEP', 'KIND', 'DOES', 'IF'],
      indexSteps(m)
        .steps.filter((s) => !s.inRunFailure)
        .map((s) => [`${'  '.repeat(s.depth - 1)}${s.step.id}`, s.step.kind, stepDoes(s.step), s.step.if ?? null]),
    ),
  );
}

function stepDoes(step: WorkflowManifest['steps'][number]): string {
  switch (step.kind) {
    case 'action':
      return step.action;
    case 'workflow':
      return `${step.workflow.name}@${step.workflow.range}`;
    case 'sleep':
      return step.duration_ms !== undefined ? `sleep ${duration(step.duration_ms)}` : step.until ? `sleep until ${step.until}` : `sleep for ${step.for ?? '?'}`;
    case 'approval':
      return `wait for signal ${step.signal}${step.timeout_ms !== undefined ? ` (${duration(step.timeout_ms)}, then ${step.on_timeout})` : ''}`;
    case 'foreach':
      return `for each (${step.body.kind === 'workflow' ? `${step.body.workflow.name}@${step.body.workflow.range}` : step.body.kind === 'action' ? step.body.action : 'steps'})`;
    case 'parallel':
      return `${step.branches.length} branches, join ${step.join}`;
    case 'switch':
      return `${step.cases.length} cases${step.default ? ' + default' : ''}`;
    case 'group':
      return `${step.steps.length} steps`;
  }
}
