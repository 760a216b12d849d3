/** Messages that have already travelled: `hops` Received: fields before their own header section. */
export function withHops(hops: number, body = 'hello\r\n'): string {
  const trace = Array.from(
    { length: hops },
    (_, i) => `Received: from relay${i}.example by relay${i + 1}.example with ESMTP;\r\n\tTue, 1 Dec 2026 09:00:00 +0000\r\n`,
  );
  return `${trace.join('')}From: a@localhost\r\nSubject: looping\r\n\r\n${body}`;
}
