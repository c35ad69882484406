import { deferred, eventually } from './eventually';
import { StandInServer } from './stand-in-server';

describe('StandInServer', () => {
  const servers: StandInServer[] = [];
  const standIn = async (handler: ConstructorParameters<typeof StandInServer>[0]) => {
    const server = await new StandInServer(handler).start();
    servers.push(server);
    return server;
  };
  afterEach(async () => {
    await Promise.all(servers.map((s) => s.stop()));
    servers.length = 0;
  });

  it('records method, path, query, headers and the JSON body, and answers with the handler', async () => {
    const server = await standIn((req) => ({ status: 201, body: { echo: req.body } }));
    const res = await fetch(`${server.url}/core/write-event?limit=2`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: 'Bearer t' },
      body: JSON.stringify({ a: 1 }),
    });
    expect(res.status).toBe(201);
    expect(await res.json()).toEqual({ echo: { a: 1 } });
    expect(server.requests).toHaveLength(1);
    const [req] = server.requests;
    expect(req).toMatchObject({ method: 'POST', path: '/core/write-event', body: { a: 1 }, abandoned: false });
    expect(req.query.get('limit')).toBe('2');
    expect(req.headers.authorization).toBe('Bearer t');
  });

  it('holds an answer on a promise until the test releases it', async () => {
    const gate = deferred();
    const server = await standIn(async () => {
      await gate.promise;
      return { status: 200, body: { ok: true } };
    });
    let answered = false;
    const reply = fetch(server.url).then((r) => {
      answered = true;
      return r.status;
    });
    await eventually(() => expect(server.requests).toHaveLength(1));
    expect(answered).toBe(false);
    gate.resolve();
    expect(await reply).toBe(200);
  });

  it('marks a request the caller abandoned while it hung', async () => {
    const server = await standIn(() => 'hang');
    const controller = new AbortController();
    const reply = fetch(server.url, { signal: controller.signal }).catch((error: Error) => error.name);
    await eventually(() => expect(server.requests).toHaveLength(1));
    controller.abort();
    expect(await reply).toBe('AbortError');
    await eventually(() => expect(server.requests[0].abandoned).toBe(true));
  });

  it('resets connections while down, and comes back on the same port after stop and start', async () => {
    const server = await standIn(() => ({ status: 204, body: null }));
    const url = server.url;
    server.down = true;
    await expect(fetch(url)).rejects.toThrow();
    server.down = false;
    await server.stop();
    await expect(fetch(url)).rejects.toThrow();
    await server.start();
    expect(server.url).toBe(url);
    expect((await fetch(url)).status).toBe(204);
  });
});
