/** The certificate a listener presents for a server name, over STARTTLS (RFC 3207) or implicit TLS (RFC 8314). */
import type { X509Certificate } from 'node:crypto';
import { connect as netConnect, type Socket } from 'node:net';
import { connect as tlsConnect } from 'node:tls';

export interface Presented {
  readonly cert: X509Certificate;
  /** Whether the chain verified against `ca` (when given) for the name. */
  readonly authorized: boolean;
  readonly authorizationError: string | undefined;
}

/** Reads until a final reply line (`NNN text`) has arrived. */
function finalReply(socket: Socket): Promise<string> {
  return new Promise((resolve, reject) => {
    let text = '';
    const onData = (d: Buffer): void => {
      text += d.toString('latin1');
      if (/(^|\r\n)\d{3} [^\r\n]*\r\n$/.test(text)) {
        socket.off('data', onData);
        resolve(text);
      }
    };
    socket.on('data', onData);
    socket.once('error', reject);
  });
}

/** Connects, starts TLS with `servername` (none when undefined), and returns the leaf the server sent. */
export async function presented(
  port: number,
  servername: string | undefined,
  o: { readonly implicit?: boolean; readonly ca?: string } = {},
): Promise<Presented> {
  const plain = netConnect({ port, host: '127.0.0.1' });
  await new Promise<void>((resolve, reject) => plain.once('connect', resolve).once('error', reject));
  if (o.implicit !== true) {
    await finalReply(plain);
    plain.write('EHLO peek.test\r\n');
    await finalReply(plain);
    plain.write('STARTTLS\r\n');
    const r = await finalReply(plain);
    if (!r.startsWith('220')) throw new Error(`STARTTLS refused: ${r}`);
  }
  const secure = tlsConnect({
    socket: plain,
    rejectUnauthorized: false,
    ...(servername === undefined ? {} : { servername }),
    ...(o.ca === undefined ? {} : { ca: o.ca }),
  });
  await new Promise<void>((resolve, reject) => secure.once('secureConnect', resolve).once('error', reject));
  const raw = secure.getPeerX509Certificate();
  const result = { authorized: secure.authorized, authorizationError: secure.authorizationError?.toString() };
  secure.destroy();
  if (raw === undefined) throw new Error('no certificate presented');
  return { cert: raw, ...result };
}
