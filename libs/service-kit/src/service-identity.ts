/** Which service this process is, for health bodies and logs. Injected by class, never by string token. */
export class ServiceIdentityOptions {
  constructor(
    readonly service: string,
    readonly environment: string,
  ) {}
}
