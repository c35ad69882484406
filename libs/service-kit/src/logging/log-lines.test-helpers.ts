import { PassThrough, type Writable } from 'node:stream';

/** A log destination for a test, and the JSON lines a service's logger has written to it so far. */
export function logLines(): { destination: Writable; lines: Record<string, unknown>[] } {
  const lines: Record<string, unknown>[] = [];
  const destination = new PassThrough();
  destination.on('data', (chunk: Buffer) => chunk.toString().split('\n').filter(Boolean).forEach((line) => lines.push(JSON.parse(line))));
  return { destination, lines };
}
