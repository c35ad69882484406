import 'express-session';

/** The signed-in person as PRANA shows them. */
export interface SessionUser {
  sub: string;
  username: string;
  name: string;
  roles: string[];
}

/** Tokens live server-side only: the browser holds nothing but the session cookie. */
export interface SessionTokens {
  access_token: string;
  refresh_token?: string;
  id_token?: string;
  /** Epoch ms when the access token stops being accepted. */
  expires_at: number;
}

/** A sign-in in progress (between /auth/login and /auth/callback), keyed by its state. */
export interface PendingLogin {
  state: string;
  nonce: string;
  code_verifier: string;
  return_to: string;
  started_at: number;
}

declare module 'express-session' {
  interface SessionData {
    user?: SessionUser;
    tokens?: SessionTokens;
    /** Epoch ms of sign-in (absolute expiry) and of the last request (idle expiry). */
    created_at?: number;
    last_seen_at?: number;
    pending?: PendingLogin[];
    /** The last focus state reported to Karma for this session (Karma hears of changes, not of every sample). */
    last_focus_state?: string;
  }
}
