/** Reference sink: Nodemailer's smtp-server, reading and discarding every message (no storage). */
import { SMTPServer } from 'smtp-server';

const server = new SMTPServer({
  authOptional: true,
  disabledCommands: ['AUTH', 'STARTTLS'],
  size: 200 * 1024 * 1024,
  logger: false,
  onData(stream, _session, callback) {
    stream.on('data', () => undefined);
    stream.on('end', () => callback());
  },
});
server.listen(0, '127.0.0.1', () => {
  const address = server.server.address();
  process.stdout.write(`listening on ${typeof address === 'object' && address !== null ? address.port : 0}\n`);
});
