import type { Request, Response } from 'express';

/** The CSRF token generator of the session middleware, injected by class into the controllers that hand tokens out. */
export abstract class CsrfTokens {
  abstract csrfToken(req: Request, res: Response): string;
}
