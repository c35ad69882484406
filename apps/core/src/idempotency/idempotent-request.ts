import { createHash } from 'node:crypto';
import { canonicalJson } from '@pancha/contracts';
import type { EntityManager } from 'typeorm';
import { IdempotencyKeyReusedException } from '../tasks/tasks.exception';

/**
 * Core's Idempotency-Key, for any route whose request makes one thing (a task, a run start): the key a retry names
 * itself by, scoped to who sent it (every anonymous caller shares one namespace), and the hash that tells a retry
 * from a reuse of the key for another request.
 */
export interface IdempotencyClaim {
  requesterId: string;
  key: string;
  requestHash: string;
}

/** A route's key table: (requester_id, idempotency_key) its primary key, request_hash, response jsonb, and `idColumn`. */
export interface IdempotencyKeyTable {
  table: string;
  /** The column naming what the first request made (task_id, run_id). */
  idColumn: string;
}

/** What a route answers, and whether it is the stored first answer to an Idempotency-Key retry. */
export interface IdempotentOutcome<R> {
  reply: R;
  replayed: boolean;
}

/**
 * sha256 (hex) of the canonical JSON of a request as the caller sent it (before anything is filled in for it, such as an
 * implied product): so a retry is the same request whatever the credential's products are by then.
 */
export function requestHash(request: object): string {
  return createHash('sha256').update(canonicalJson(request)).digest('hex');
}

/** Another request of the same requester committed this Idempotency-Key first; thrown to roll this one back. */
export class IdempotencyKeyTaken extends Error {}

/**
 * The stored answer to this key, or a 409 `idempotency_key_reused` when the key was used with another request;
 * undefined when it is new.
 */
export async function firstAnswer<R>(db: Pick<EntityManager, 'query'>, where: IdempotencyKeyTable, claim: IdempotencyClaim): Promise<IdempotentOutcome<R> | undefined> {
  const [row]: { request_hash: string; response: R }[] = await db.query(
    `SELECT request_hash, response FROM ${where.table} WHERE requester_id = $1 AND idempotency_key = $2`,
    [claim.requesterId, claim.key],
  );
  if (!row) return undefined;
  if (row.request_hash !== claim.requestHash) throw new IdempotencyKeyReusedException();
  return { reply: row.response, replayed: true };
}

/**
 * Claims the key in the caller's transaction, before what the request makes: a concurrent request with the same key
 * waits on the primary key until this transaction ends, then finds the key taken (IdempotencyKeyTaken: roll back and
 * answer with firstAnswer), or claims it itself when this one rolled back. The unique key decides, not a read.
 */
export async function claimIdempotencyKey(manager: EntityManager, where: IdempotencyKeyTable, claim: IdempotencyClaim, id: string, reply: unknown): Promise<void> {
  const inserted: unknown[] = await manager.query(
    `INSERT INTO ${where.table} (requester_id, idempotency_key, request_hash, ${where.idColumn}, response) VALUES ($1, $2, $3, $4, $5::jsonb)
     ON CONFLICT DO NOTHING RETURNING idempotency_key`,
    [claim.requesterId, claim.key, claim.requestHash, id, JSON.stringify(reply)],
  );
  if (inserted.length === 0) throw new IdempotencyKeyTaken();
}

/**
 * Makes a request's effect once per Idempotency-Key: a retry of a finished request (same requester, key and request)
 * gets the first answer before anything is checked or made again; one racing the first waits for its commit and gets
 * its answer; the same key with another request is a 409. Without a key, `make` runs as is. `make` must claim the key
 * (claimIdempotencyKey) in the transaction that stores its effect.
 */
export async function once<R>(
  db: Pick<EntityManager, 'query'>,
  where: IdempotencyKeyTable,
  claim: IdempotencyClaim | undefined,
  make: (claim: IdempotencyClaim | undefined) => Promise<R>,
): Promise<IdempotentOutcome<R>> {
  const earlier = claim && (await firstAnswer<R>(db, where, claim));
  if (earlier) return earlier;
  try {
    return { reply: await make(claim), replayed: false };
  } catch (error) {
    if (!(error instanceof IdempotencyKeyTaken) || !claim) throw error;
    const first = await firstAnswer<R>(db, where, claim);
    if (!first) throw new Error(`idempotency key of ${claim.requesterId} vanished after a conflict`);
    return first;
  }
}
