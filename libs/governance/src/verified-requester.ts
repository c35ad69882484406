import type { Anonymous, RequesterId } from '@pancha/contracts';
import { ALL_PRODUCTS } from './governance.constants';

/** Who made the request, as established by the guard (never by the request body). */
export interface VerifiedRequester {
  id: RequesterId | Anonymous;
  /** Effective products (policy ∩ token claim); contains "*" when every product is visible. */
  products: string[];
  /** The token's jti; absent for anonymous requests. */
  tokenId?: string;
  /** When the token stops being accepted (exp + clock tolerance); absent for anonymous requests. */
  tokenExpiresAt?: Date;
}

/** Whether `requester` may see data of `product` (product isolation, T9). */
export function canAccessProduct(requester: VerifiedRequester, product: string): boolean {
  return requester.products.includes(ALL_PRODUCTS) || requester.products.includes(product);
}

/** Product filter for queries: undefined = no restriction, else the only products to return. */
export function productFilter(requester: VerifiedRequester): string[] | undefined {
  return requester.products.includes(ALL_PRODUCTS) ? undefined : [...requester.products];
}
