import { createServer, type AddressInfo, type Server, type Socket } from 'node:net';

export interface SunkMail {
  auth: string[];
  from: string;
  to: string[];
  data: string;
}

/**
 * Just enough SMTP (RFC 5321) for one client: greets, answers EHLO/AUTH/MAIL/RCPT/DATA/RSET/NOOP/QUIT with
 * success and keeps each message it was given. Tests only; no TLS, no checks.
 */
export async function startSmtpSink(): Promise<{ port: number; messages: SunkMail[]; close(): Promise<void> }> {
  const messages: SunkMail[] = [];
  const sockets = new Set<Socket>();
  const server: Server = createServer((socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.setEncoding('utf8');
    let buffer = '';
    let inData = false;
    let mail: SunkMail = { auth: [], from: '', to: [], data: '' };
    const reply = (line: string): boolean => socket.write(`${line}\r\n`);
    reply('220 sink.test ESMTP ready');
    socket.on('data', (chunk: string) => {
      buffer += chunk;
      for (;;) {
        if (inData) {
          const end = buffer.indexOf('\r\n.\r\n');
          if (end < 0) return;
          mail.data = buffer.slice(0, end);
          buffer = buffer.slice(end + 5);
          inData = false;
          messages.push(mail);
          mail = { auth: [], from: '', to: [], data: '' };
          reply('250 2.0.0 OK queued');
          continue;
        }
        const eol = buffer.indexOf('\r\n');
        if (eol < 0) return;
        const line = buffer.slice(0, eol);
        buffer = buffer.slice(eol + 2);
        const verb = line.slice(0, 4).toUpperCase();
        switch (verb) {
          case 'EHLO':
          case 'HELO':
            socket.write('250-sink.test\r\n250-AUTH PLAIN LOGIN\r\n250 8BITMIME\r\n');
            break;
          case 'AUTH':
            mail.auth.push(line);
            reply('235 2.7.0 authenticated');
            break;
          case 'MAIL':
            mail.from = line;
            reply('250 2.1.0 OK');
            break;
          case 'RCPT':
            mail.to.push(line);
            reply('250 2.1.5 OK');
            break;
          case 'DATA':
            inData = true;
            reply('354 end with <CRLF>.<CRLF>');
            break;
          case 'QUIT':
            reply('221 2.0.0 bye');
            socket.end();
            break;
          default:
            reply('250 OK');
        }
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as AddressInfo).port,
    messages,
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}
