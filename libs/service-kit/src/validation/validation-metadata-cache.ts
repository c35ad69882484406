import { getMetadataStorage } from 'class-validator';

type MetadataStorage = ReturnType<typeof getMetadataStorage>;
type Lookup = MetadataStorage['getTargetValidationMetadatas'];
type ConstraintLookup = MetadataStorage['getTargetValidatorConstraints'];
type Grouping = MetadataStorage['groupByPropertyName'];

/** A validated class (class-validator types it as Function). */
type Target = Parameters<Lookup>[0];

const installed = new WeakSet<MetadataStorage>();

/**
 * Memoizes class-validator's metadata lookups, which rescan every registered class on every `validate()` of
 * every object, nested ones included (typestack/class-validator#2686): a Bucket batch item spent about 40 % of its
 * validation there. A class's own and inherited rules never change once its module has loaded, but to stay exact
 * whatever loads later, any new rule or constraint clears both caches. Idempotent: installed once per storage.
 */
export function memoizeValidationMetadata(storage: MetadataStorage = getMetadataStorage()): void {
  if (installed.has(storage)) return;
  installed.add(storage);

  let rules = new WeakMap<Target, Map<string, ReturnType<Lookup>>>();
  let constraints = new WeakMap<Target, ReturnType<ConstraintLookup>>();
  const clear = () => {
    rules = new WeakMap();
    constraints = new WeakMap();
  };

  const lookup: Lookup = storage.getTargetValidationMetadatas.bind(storage);
  storage.getTargetValidationMetadatas = (target, schema, always, strictGroups, groups) => {
    // An object that was never transformed may carry a `constructor` of its own (JSON.parse('{"constructor":"x"}')):
    // not a class, so not a WeakMap key; class-validator answers it with its usual unknownValue error.
    if (typeof target !== 'function') return lookup(target, schema, always, strictGroups, groups);
    let byOptions = rules.get(target);
    if (!byOptions) rules.set(target, (byOptions = new Map()));
    const key = `${schema}\u0000${always}\u0000${strictGroups}\u0000${groups?.join('\u0001') ?? ''}\u0000${groups === undefined}`;
    let found = byOptions.get(key);
    if (!found) byOptions.set(key, (found = lookup(target, schema, always, strictGroups, groups)));
    return found;
  };

  const constraintLookup: ConstraintLookup = storage.getTargetValidatorConstraints.bind(storage);
  storage.getTargetValidatorConstraints = (target) => {
    if (typeof target !== 'function') return constraintLookup(target);
    let found = constraints.get(target);
    if (!found) constraints.set(target, (found = constraintLookup(target)));
    return found;
  };

  // The executor groups the (now cached) list by property on every validate as well; the grouping is read only.
  const group: Grouping = storage.groupByPropertyName.bind(storage);
  const grouped = new WeakMap<ReturnType<Lookup>, ReturnType<Grouping>>();
  storage.groupByPropertyName = (metadata) => {
    let found = grouped.get(metadata);
    if (!found) grouped.set(metadata, (found = group(metadata)));
    return found;
  };

  for (const method of ['addValidationMetadata', 'addConstraintMetadata', 'addValidationSchema'] as const) {
    const add = storage[method].bind(storage) as (arg: never) => void;
    (storage[method] as (arg: never) => void) = (arg) => {
      add(arg);
      clear();
    };
  }
}
