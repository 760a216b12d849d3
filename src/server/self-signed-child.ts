/**
 * `node self-signed-child.js HOSTNAME NOT_BEFORE_MS`: prints a new self-signed pair as JSON on stdout.
 * tls.ts runs it as a short-lived child process: selfsigned and the X.509 and ASN.1 libraries it
 * pulls in are needed once per data directory, so neither their code nor the pages the JIT touched
 * compiling it stay in the server's resident set.
 */
import { generate } from 'selfsigned';

const [hostname = 'localhost', start = String(Date.now())] = process.argv.slice(2);
const notBefore = new Date(Number(start));
const notAfter = new Date(notBefore.getTime() + 3650 * 86_400_000);
const pem = await generate([{ name: 'commonName', value: hostname }], {
  keyType: 'ec',
  curve: 'P-256',
  notBeforeDate: notBefore,
  notAfterDate: notAfter,
  extensions: [
    { name: 'basicConstraints', cA: true },
    { name: 'keyUsage', digitalSignature: true, keyCertSign: true },
    { name: 'extKeyUsage', serverAuth: true },
    {
      name: 'subjectAltName',
      altNames: [
        { type: 2, value: hostname },
        { type: 2, value: 'localhost' },
        { type: 7, ip: '127.0.0.1' },
        { type: 7, ip: '::1' },
      ],
    },
  ],
});
process.stdout.write(JSON.stringify({ cert: pem.cert, key: pem.private }));
