/** Hard ceiling of a service token's lifetime (SPEC §3: exp ≤ 120 s). */
export const MAX_TOKEN_TTL_SECONDS = 120;
export const DEFAULT_TOKEN_TTL_SECONDS = 60;
/** Allowed clock skew between services when checking exp/iat. */
export const CLOCK_TOLERANCE_SECONDS = 5;
export const TOKEN_ALGORITHM = 'EdDSA';

/** Every product, in a policy's `products` list or a requester's effective products. */
export const ALL_PRODUCTS = '*';
