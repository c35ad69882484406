/**
 * Where the started SDK lives between `register` (loaded with `node --require`) and the app's shutdown hook.
 * A global symbol rather than a module variable: the register entry and the app may load this file through
 * different paths (dist vs. an alias), and a module variable would then exist twice.
 */
const SDK_KEY = Symbol.for('pancha.trace-context.sdk');

export interface ShutdownableSdk {
  shutdown(): Promise<void>;
}

type SdkHolder = { [SDK_KEY]?: ShutdownableSdk };

export function setActiveSdk(sdk: ShutdownableSdk): void {
  (globalThis as SdkHolder)[SDK_KEY] = sdk;
}

export function getActiveSdk(): ShutdownableSdk | undefined {
  return (globalThis as SdkHolder)[SDK_KEY];
}

/**
 * Flushes pending spans and stops the SDK started by `register`. Safe to call when tracing never started
 * or twice. Never rejects: a collector that is down at shutdown must not turn a clean stop into a crash.
 */
export async function shutdownTracing(): Promise<void> {
  const sdk = getActiveSdk();
  if (!sdk) return;
  delete (globalThis as SdkHolder)[SDK_KEY];
  try {
    await sdk.shutdown();
  } catch (err) {
    process.emitWarning(`OpenTelemetry shutdown failed: ${err instanceof Error ? err.message : String(err)}`);
  }
}
