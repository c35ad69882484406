import type { Finding } from '@pancha/workflow-manifest';
import { colours } from './output';

/**
 * `file:line:col: severity code message (at /json/pointer)`: the form compilers print, so editors, CI annotations
 * and `grep` read it. Line and column come from the manifest's source map.
 */
export function formatFindingLine(f: Pick<Finding, 'code' | 'message' | 'path' | 'file' | 'line' | 'column'> & { severity: string }): string {
  const where = `${f.file ?? '<manifest>'}${f.line !== undefined ? `:${f.line}${f.column !== undefined ? `:${f.column}` : ''}` : ''}`;
  const severity = f.severity === 'error' ? colours.red('error') : f.severity === 'warning' ? colours.yellow('warning') : f.severity;
  return `${where}: ${severity} ${f.code} ${f.message}${f.path ? colours.dim(` (at ${f.path})`) : ''}`;
}
