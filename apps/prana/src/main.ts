import { exitOnFailedStart, validateEnv } from '@pancha/service-kit';
import { PranaConfig } from './config/env.validation';
import { createPranaApp } from './prana-app';


async function main(): Promise<void> {
  const config = validateEnv(PranaConfig);
  if (!config.OIDC_ISSUER) throw new Error('Invalid configuration (see .env.example):\n  OIDC_ISSUER: PRANA signs people in with an OIDC provider; set its URL');
  const app = await createPranaApp(config);
  await app.listen(config.PORT ?? config.PRANA_PORT ?? 4200, config.HOST);
}

main().catch(exitOnFailedStart('prana'));
