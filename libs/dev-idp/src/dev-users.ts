import { randomBytes, timingSafeEqual } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';

/** A person who can sign in to the development identity provider. */
export interface DevUser {
  username: string;
  password: string;
  roles: string[];
}

/** The three people `npm start` creates on first start, one per PRANA role. */
export const DEFAULT_DEV_USERS: ReadonlyArray<Omit<DevUser, 'password'>> = [
  { username: 'admin', roles: ['admin'] },
  { username: 'operator', roles: ['operator'] },
  { username: 'viewer', roles: ['viewer'] },
];

export const DEV_USERS_FILE = 'dev-users.json';

export interface DevUsers {
  file: string;
  users: DevUser[];
  /** True when this call created the file: the only time the passwords are printed. */
  created: boolean;
}

/**
 * Reads `<dataDir>/dev-users.json` (`[{ username, password, roles }]`), creating it with generated
 * passwords for admin, operator and viewer when it does not exist. The file is owner-only: it holds passwords.
 */
export function ensureDevUsers(dataDir: string): DevUsers {
  const file = path.join(dataDir, DEV_USERS_FILE);
  if (existsSync(file)) return { file, users: parseDevUsers(readFileSync(file, 'utf8'), file), created: false };
  mkdirSync(dataDir, { recursive: true });
  const users = DEFAULT_DEV_USERS.map((u) => ({ ...u, password: randomBytes(12).toString('base64url') }));
  writeFileSync(file, `${JSON.stringify(users, null, 2)}\n`, { mode: 0o600 });
  chmodSync(file, 0o600);
  return { file, users, created: true };
}

export function parseDevUsers(text: string, source = DEV_USERS_FILE): DevUser[] {
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (error) {
    throw new Error(`${source} is not valid JSON: ${(error as Error).message}`);
  }
  const valid = (u: unknown): u is DevUser =>
    typeof u === 'object' &&
    u !== null &&
    typeof (u as DevUser).username === 'string' &&
    /^[a-z0-9_.-]{1,64}$/i.test((u as DevUser).username) &&
    typeof (u as DevUser).password === 'string' &&
    (u as DevUser).password.length > 0 &&
    Array.isArray((u as DevUser).roles) &&
    (u as DevUser).roles.every((r) => typeof r === 'string');
  if (!Array.isArray(doc) || !doc.every(valid)) {
    throw new Error(`${source} must be a list of { username, password, roles: string[] }`);
  }
  return doc;
}

/** Constant-time password check; undefined when the name or password is wrong. */
export function authenticateDevUser(users: readonly DevUser[], username: string, password: string): DevUser | undefined {
  const user = users.find((u) => u.username === username);
  const expected = Buffer.from(user?.password ?? randomBytes(16).toString('hex'));
  const given = Buffer.from(password);
  const same = expected.length === given.length && timingSafeEqual(expected, given);
  return user && same ? user : undefined;
}
