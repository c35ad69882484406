/**
 * `node dist/tools/stack/src/dev-idp.js`: the development OIDC provider on its own (docker compose's `dev-idp`
 * service; npm start runs the same provider inside the launcher). Never for production: point OIDC_ISSUER at
 * your organisation's provider instead.
 *
 *   DEV_IDP_PORT=4300 DEV_IDP_HOST=0.0.0.0 DEV_IDP_ISSUER=http://localhost:4300 DEV_IDP_DATA_DIR=/data \
 *   DEV_IDP_CLIENT_SECRET=… DEV_IDP_REDIRECT_URIS=http://localhost:4200/auth/callback OIDC_AUDIENCE=urn:pancha:api
 */
import { PANCHA_API_AUDIENCE, startDevIdp } from '@pancha/dev-idp';
import path from 'node:path';

async function main(): Promise<void> {
  const env = process.env;
  const secret = env.DEV_IDP_CLIENT_SECRET;
  if (!secret) throw new Error('DEV_IDP_CLIENT_SECRET is required (the same value as PRANA\'s OIDC_CLIENT_SECRET)');
  const redirects = (env.DEV_IDP_REDIRECT_URIS ?? 'http://127.0.0.1:4200/auth/callback').split(',').map((u) => u.trim()).filter(Boolean);
  const idp = await startDevIdp({
    dataDir: path.resolve(env.DEV_IDP_DATA_DIR ?? '.data'),
    port: Number(env.DEV_IDP_PORT ?? 4300),
    host: env.DEV_IDP_HOST ?? '127.0.0.1',
    issuer: env.DEV_IDP_ISSUER || undefined,
    audience: env.OIDC_AUDIENCE || PANCHA_API_AUDIENCE,
    clients: [
      {
        client_id: env.DEV_IDP_CLIENT_ID ?? 'prana',
        client_secret: secret,
        redirect_uris: redirects,
        post_logout_redirect_uris: redirects.map((u) => new URL('/', u).href),
      },
    ],
  });
  console.log(`development OIDC provider at ${idp.issuer} (users in ${idp.usersFile})`);
  if (idp.usersCreated) {
    console.log('dev users created now (shown once; kept in the file above):');
    for (const u of idp.users) console.log(`  ${u.username.padEnd(9)} ${u.password}   roles: ${u.roles.join(', ')}`);
  }
  const stop = () => void idp.close().then(() => process.exit(0));
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
}

main().catch((error: Error) => {
  console.error(`dev-idp failed to start: ${error.message}`);
  process.exit(1);
});
