// jsdom lacks what React Flow and Recharts measure with; give them fixed sizes.
class ResizeObserverStub {
  constructor(private readonly cb: ResizeObserverCallback) {}
  observe(target: Element) {
    this.cb([{ target, contentRect: { width: 800, height: 400 } } as unknown as ResizeObserverEntry], this as unknown as ResizeObserver);
  }
  unobserve(): void {
    // nothing is observed for real
  }
  disconnect(): void {
    // nothing is observed for real
  }
}
(globalThis as unknown as { ResizeObserver: unknown }).ResizeObserver = ResizeObserverStub;
(globalThis as unknown as { DOMMatrixReadOnly: unknown }).DOMMatrixReadOnly = class {
  m22 = 1;
};
Object.defineProperties(HTMLElement.prototype, {
  offsetWidth: { configurable: true, get: () => 800 },
  offsetHeight: { configurable: true, get: () => 400 },
});

// findBy*/waitFor wait on a condition; on a busy machine the default 1 s ceiling is too tight.
require('@testing-library/react').configure({ asyncUtilTimeout: 10_000 });
