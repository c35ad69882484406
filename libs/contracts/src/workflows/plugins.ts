/** Error codes of action plugins: a step that ran a plugin fails with one of these (or the plugin's own code). */
export enum PluginErrorCode {
  /** The plugin did not load (threw, timed out, or did not export a valid definition); every step using it fails. */
  LoadFailed = 'plugin_load_failed',
  /** The plugin's worker died without an answer (an uncaught error in a callback, process.exit). */
  Crashed = 'plugin_crashed',
  /** The plugin allocated past PLUGIN_MAX_MEMORY_MB; its worker was stopped. */
  OutOfMemory = 'plugin_out_of_memory',
  /** The plugin tried to load the executor's modules, read its keys or configuration, or start processes. */
  ForbiddenAccess = 'plugin_forbidden_access',
  /** The step's `with` does not match the plugin's input schema. */
  InvalidInput = 'plugin_invalid_input',
  /** The plugin answered something its output schema refuses (or that cannot be stored as JSON). */
  InvalidOutput = 'plugin_invalid_output',
  /** The plugin threw without a code of its own. */
  Failed = 'plugin_failed',
  /** `GET /plugins/<name>`: no plugin by that name. */
  UnknownPlugin = 'unknown_plugin',
}
