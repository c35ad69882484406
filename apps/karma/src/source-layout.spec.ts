// Karma's folders depend on each other in one direction only. A cycle between two features (ledger/ and
// events/ once imported each other) means neither can be understood, tested or moved on its own.
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import ts from 'typescript';

const SRC = __dirname;

/** Every non-test source file of the app, relative to src/. */
function sourceFiles(dir = SRC): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) return sourceFiles(full);
    return /\.ts$/.test(entry.name) && !/\.(spec|integration-spec)\.ts$/.test(entry.name) ? [path.relative(SRC, full)] : [];
  });
}

/** The top-level folder of src/ a file is in ('' for files directly in src/). */
function folderOf(file: string): string {
  const parts = file.split(path.sep);
  return parts.length > 1 ? parts[0] : '';
}

/** folder → the other folders its files import (relative imports only; libraries are not part of the app). */
function folderGraph(): Map<string, Set<string>> {
  const graph = new Map<string, Set<string>>();
  for (const file of sourceFiles()) {
    const from = folderOf(file);
    const edges = graph.get(from) ?? new Set<string>();
    graph.set(from, edges);
    for (const { fileName } of ts.preProcessFile(readFileSync(path.join(SRC, file), 'utf8'), true, true).importedFiles) {
      if (!fileName.startsWith('.')) continue;
      const to = folderOf(path.relative(SRC, path.resolve(SRC, path.dirname(file), fileName)));
      if (to !== from) edges.add(to);
    }
  }
  return graph;
}

/** One cycle as a path of folders, or null. */
function findCycle(graph: Map<string, Set<string>>): string[] | null {
  const state = new Map<string, 'open' | 'done'>();
  const stack: string[] = [];
  const visit = (node: string): string[] | null => {
    if (state.get(node) === 'done') return null;
    if (state.get(node) === 'open') return [...stack.slice(stack.indexOf(node)), node];
    state.set(node, 'open');
    stack.push(node);
    for (const next of graph.get(node) ?? []) {
      const cycle = visit(next);
      if (cycle) return cycle;
    }
    stack.pop();
    state.set(node, 'done');
    return null;
  };
  for (const node of graph.keys()) {
    const cycle = visit(node);
    if (cycle) return cycle;
  }
  return null;
}

describe('karma source layout', () => {
  const graph = folderGraph();

  it('has no import cycle between its folders', () => {
    expect(findCycle(graph)).toBeNull();
  });

  it('keeps the engine free of storage and transport: it depends only on the model and its configuration', () => {
    expect([...(graph.get('engine') ?? [])].sort()).toEqual(['config', 'model']);
  });

  it('lets the ledger use the engine, never the HTTP/JetStream event feature', () => {
    expect(graph.get('ledger')?.has('events')).toBe(false);
    expect(graph.get('engine')?.has('ledger')).toBe(false);
  });
});
