import type { Provider } from '@nestjs/common';
import { RequesterId } from '@pancha/contracts';
import { KeyStore } from '@pancha/governance';
import type { KeyObject } from 'node:crypto';

/**
 * Bucket's own Ed25519 private key (governance's KeyStore: the key its service tokens are signed with),
 * so an auditor checks checkpoints with the same `bucket.pub.pem` every peer already pins.
 */
export class CheckpointKey {
  constructor(readonly privateKey: KeyObject) {
    if (privateKey.asymmetricKeyType !== 'ed25519') {
      throw new Error(`bucket checkpoint key must be Ed25519, got ${privateKey.asymmetricKeyType}`);
    }
  }

  static provider(): Provider {
    return {
      provide: CheckpointKey,
      useFactory: (keys: KeyStore) => {
        if (keys.self !== RequesterId.Bucket) throw new Error(`checkpoints must be signed by bucket's key, not ${keys.self}'s`);
        return new CheckpointKey(keys.privateKey);
      },
      inject: [KeyStore],
    };
  }
}
