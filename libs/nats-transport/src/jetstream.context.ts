import { BaseRpcContext } from '@nestjs/microservices';
import type { VerifiedRequester } from '@pancha/governance';
import type { JsMsg } from 'nats';

type JetStreamContextArgs = [subject: string, headers: Record<string, string>, message: JsMsg, requester: VerifiedRequester];

/** What an @EventPattern handler gets with @Ctx(): the message and the requester its bearer token proved. */
export class JetStreamContext extends BaseRpcContext<JetStreamContextArgs> {
  getSubject(): string {
    return this.args[0];
  }

  /** Message headers, lower-cased names (governance's rpc guard path reads `authorization` from here). */
  getHeaders(): Record<string, string> {
    return this.args[1];
  }

  getMessage(): JsMsg {
    return this.args[2];
  }

  /** Verified against the pinned keys, with expiry judged at the time JetStream stored the message. */
  getRequester(): VerifiedRequester {
    return this.args[3];
  }
}
