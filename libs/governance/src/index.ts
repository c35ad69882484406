export { GovernanceModule, type GovernanceFactory, type GovernanceModuleOptions } from './governance.module';
export { GovernanceConfig, type GovernanceSettings, type GovernanceSource } from './governance.config';
export { ServiceAuthGuard, isReplayProtected } from './service-auth.guard';
export {
  ClaimTokenWithWrite,
  Public,
  RequireCredential,
  RequireOperation,
  Requester,
  CREDENTIAL_REQUIRED_KEY,
  IS_PUBLIC_KEY,
  REQUIRED_OPERATION_KEY,
  TOKEN_CLAIMED_BY_WRITE_KEY,
} from './governance.decorators';
export { assertBodyRequester, forbidden, GovernanceErrorCode, tokenReplayed } from './governance.exception';
export { AuthFailureLimiter } from './auth-failure-limiter';
export { InMemoryTokenReplayStore, TokenReplayStore, type TokenUse, TakenTokens, tokenKey } from './token-replay.store';
export {
  actingFor,
  actorOf,
  canAccessProduct,
  impliedProduct,
  productFilter,
  productRequired,
  writeTokenOf,
  type UserSubject,
  type VerifiedRequester,
  type VerifiedUser,
} from './verified-requester';
export { UserTokenVerifier, type UserTokenSettings, type UserTokenVerifierOptions } from './user-token-verifier';
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
