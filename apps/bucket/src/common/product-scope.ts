import { productFilter } from '@pancha/governance';
import type { VerifiedRequester } from '@pancha/governance';
import { ProductForbiddenException, WholeChainForbiddenException } from '../ledger/ledger.exception';

/**
 * Which products a caller may read or write (T9): its credential's `products`, '*' meaning all.
 * Entries without a product belong to no product, so only unrestricted callers see them.
 */
export class ProductScope {
  private constructor(private readonly products: readonly string[] | null) {}

  static of(requester: VerifiedRequester): ProductScope {
    return new ProductScope(productFilter(requester) ?? null);
  }

  get unrestricted(): boolean {
    return this.products === null;
  }

  allows(product: string | null | undefined): boolean {
    return this.products === null || (typeof product === 'string' && this.products.includes(product));
  }

  /** For an explicit product (query filter or written entry): 403 when the credential does not name it. */
  assertAllows(product: string | null | undefined): void {
    if (product !== null && product !== undefined && !this.allows(product)) throw new ProductForbiddenException(product);
  }

  /** For views of the whole chain (audit, size, head), which describe every product's entries: 403 otherwise. */
  assertWholeChain(): void {
    if (!this.unrestricted) throw new WholeChainForbiddenException();
  }

  /**
   * A SQL condition restricting `product` to this scope, appending its parameter to `params`;
   * undefined when unrestricted.
   */
  sqlCondition(params: unknown[]): string | undefined {
    if (this.products === null) return undefined;
    params.push(this.products);
    return `product = ANY($${params.length}::text[])`;
  }
}
