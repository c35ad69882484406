import { nameBasedUuid } from './name-based-uuid';

describe('nameBasedUuid', () => {
  it('is RFC 4122 version 5: the DNS namespace and python.org give the published id', () => {
    // uuid.uuid5(uuid.NAMESPACE_DNS, 'python.org') in Python's documentation.
    expect(nameBasedUuid('6ba7b810-9dad-11d1-80b4-00c04fd430c8', 'python.org')).toBe('886313e1-3b8a-5372-9b90-0c9aee199e5d');
  });

  it('depends on the name and the namespace, and on nothing else', () => {
    const ns = '6c1b9f8e-3d2a-4e57-9b0c-5f1e7a2d4c80';
    expect(nameBasedUuid(ns, 'a\nb')).toBe(nameBasedUuid(ns, 'a\nb'));
    expect(nameBasedUuid(ns, 'a\nb')).not.toBe(nameBasedUuid(ns, 'a\nc'));
    expect(nameBasedUuid(ns, 'a')).not.toBe(nameBasedUuid('6ba7b810-9dad-11d1-80b4-00c04fd430c8', 'a'));
  });
});
