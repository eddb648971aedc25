// A small HTTP proxy for tests: CONNECT tunnels (and, with `forward`, absolute-form requests)
// to names that only it resolves, all to 127.0.0.1, as a corporate proxy reaches hosts that
// the node itself cannot. Records what it was asked, with the credentials sent.
import { type IncomingMessage, type Server, type ServerResponse, createServer, request } from 'node:http';
import type { AddressInfo } from 'node:net';
import { connect, type Socket } from 'node:net';

export interface TestProxy {
  /** http://127.0.0.1:PORT */
  url: string;
  port: number;
  /** "CONNECT host:port" or "GET http://host:port/path", in order */
  seen: Array<{ line: string; auth?: string }>;
  /** answer every request with this status instead (e.g. 407) */
  refuse: number | undefined;
  close(): void;
}

/** A proxy that reaches `name` (any port) at 127.0.0.1 and refuses every other host with 502. */
export async function startTestProxy(name: string): Promise<TestProxy> {
  const state: TestProxy = { url: '', port: 0, seen: [], refuse: undefined, close: () => {} };
  const record = (req: IncomingMessage) => {
    const auth = req.headers['proxy-authorization'];
    state.seen.push({ line: `${req.method} ${req.url}`, ...(auth ? { auth } : {}) });
  };
  const server: Server = createServer((req: IncomingMessage, res: ServerResponse) => {
    record(req);
    if (state.refuse) return void res.writeHead(state.refuse).end();
    const target = new URL(String(req.url));
    if (target.hostname !== name) return void res.writeHead(502).end();
    const up = request({ host: '127.0.0.1', port: target.port, path: `${target.pathname}${target.search}`, headers: { host: target.host } }, (r) => {
      res.writeHead(r.statusCode!, r.headers);
      r.pipe(res);
    });
    up.on('error', () => res.destroy());
    up.end();
  });
  server.on('connect', (req: IncomingMessage, client: Socket) => {
    record(req);
    if (state.refuse) return void client.end(`HTTP/1.1 ${state.refuse} Refused\r\n\r\n`);
    const [host, port] = String(req.url).split(':');
    if (host !== name) return void client.end('HTTP/1.1 502 Bad Gateway\r\n\r\n');
    const up = connect(Number(port), '127.0.0.1', () => {
      client.write('HTTP/1.1 200 Connection established\r\n\r\n');
      up.pipe(client);
      client.pipe(up);
    });
    up.on('error', () => client.destroy());
    client.on('error', () => up.destroy());
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  state.port = (server.address() as AddressInfo).port;
  state.url = `http://127.0.0.1:${state.port}`;
  state.close = () => {
    server.closeAllConnections();
    server.close();
  };
  return state;
}
