import type { RequesterId, ServiceName } from '@pancha/contracts';

/** Who this process is: the audience it accepts tokens for and the requester id it signs as. */
export class GovernanceConfig {
  constructor(
    readonly service: ServiceName,
    readonly self: RequesterId,
  ) {}
}

/**
 * The settings governance reads: where this service's key, its peers' keys and the policy are. The app's
 * validated config (service-kit's BaseServiceConfig) has these fields; governance never reads process.env.
 */
export interface GovernanceSettings {
  /** Directory with `<requester_id>.key.pem` / `.pub.pem` for every service (development, npm start). */
  PANCHA_KEYS_DIR?: string;
  /** This service's private key as PEM text (production; a secret). */
  SERVICE_PRIVATE_KEY?: string;
  SERVICE_PRIVATE_KEY_FILE?: string;
  /** JSON `{ "<requester_id>": "<PEM>" }` of pinned peer public keys. */
  PEER_PUBLIC_KEYS?: string;
  PEER_PUBLIC_KEYS_DIR?: string;
  /** Policy file; default config/policy.yaml found above the code or under the working directory. */
  PANCHA_POLICY_FILE?: string;
}

/**
 * What the key and policy loaders take: the app's validated config, or (tools and tests) a plain record
 * such as `{ PANCHA_KEYS_DIR: dir }`.
 */
export type GovernanceSource = GovernanceSettings | Readonly<Record<string, string | undefined>>;
