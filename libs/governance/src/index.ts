export { GovernanceModule, type GovernanceModuleOptions } from './governance.module';
export { GovernanceConfig } from './governance.config';
export { ServiceAuthGuard } from './service-auth.guard';
export { Public, RequireOperation, Requester, IS_PUBLIC_KEY, REQUIRED_OPERATION_KEY } from './governance.decorators';
export { assertBodyRequester, forbidden, GovernanceErrorCode } from './governance.exception';
export { canAccessProduct, productFilter, type VerifiedRequester } from './verified-requester';
export { KeyStore, ensureKeyPairs, loadKeyStore, loadPrivateKey, privateKeyFile, publicKeyFile } from './key-store';
export { TokenIssuer, type TokenClaims, type TokenIssuerOptions } from './token-issuer.service';
export { TokenVerifier, TokenVerificationError, type TokenVerifierOptions } from './token-verifier.service';
export {
  PolicyService,
  PolicyError,
  OPERATIONS,
  loadPolicy,
  resolvePolicyFile,
  validatePolicy,
  type Operation,
  type Policy,
  type PolicySubject,
} from './policy.service';
export {
  ALL_PRODUCTS,
  CLOCK_TOLERANCE_SECONDS,
  DEFAULT_TOKEN_TTL_SECONDS,
  MAX_TOKEN_TTL_SECONDS,
} from './governance.constants';
