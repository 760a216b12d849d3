import { test } from 'node:test';
import assert from 'node:assert/strict';
import { clockAt } from '../../test/support/virtual-clock.js';
import { clientKey, LoginGuard, Semaphore, type LoginGuardOptions } from './login-guard.js';

test('the semaphore runs at most its size at once, the rest in arrival order, and frees a slot on failure', async () => {
  const gate = new Semaphore(2);
  let running = 0;
  let most = 0;
  const order: number[] = [];
  const task = (i: number) => async (): Promise<number> => {
    running++;
    most = Math.max(most, running);
    await new Promise((r) => setTimeout(r, 5));
    running--;
    order.push(i);
    if (i === 1) throw new Error('boom');
    return i;
  };
  const results = await Promise.allSettled([0, 1, 2, 3, 4, 5].map((i) => gate.run(task(i))));
  assert.equal(most, 2);
  assert.deepEqual(
    results.map((r) => r.status),
    ['fulfilled', 'rejected', 'fulfilled', 'fulfilled', 'fulfilled', 'fulfilled'],
  );
  assert.deepEqual(order.slice(0, 2).sort(), [0, 1]);
  assert.equal(await gate.run(async () => 'free'), 'free');
});

test('clientKey: IPv4 (also IPv4-mapped) by address, IPv6 by its /64 whatever its spelling', () => {
  assert.equal(clientKey('192.0.2.7'), '192.0.2.7');
  assert.equal(clientKey('::ffff:192.0.2.7'), '192.0.2.7');
  assert.equal(clientKey('2001:db8:1:2:aaaa::1'), '2001:db8:1:2::/64');
  assert.equal(clientKey('2001:0DB8:0001:0002:ffff:ffff:ffff:ffff'), '2001:db8:1:2::/64');
  assert.equal(clientKey('2001:db8::1'), '2001:db8:0:0::/64');
  assert.equal(clientKey('::1'), '0:0:0:0::/64');
  assert.equal(clientKey('fe80::1%eth0'), 'fe80:0:0:0::/64');
});

function guardAt(options: Partial<LoginGuardOptions> = {}): { guard: LoginGuard; advance: (ms: number) => void } {
  let t = Date.parse('2030-01-01T00:00:00Z');
  const guard = new LoginGuard({
    maxFailures: 5,
    failureWindowMs: 600_000,
    maxParallelChecks: 2,
    clock: clockAt(() => new Date(t)),
    ...options,
  });
  return { guard, advance: (ms) => (t += ms) };
}

test('an attempt counts from its reservation; a success gives back its own, not the others', () => {
  const { guard, advance } = guardAt();
  const attempts = Array.from({ length: 5 }, () => guard.reserve('192.0.2.1'));
  assert.ok(attempts.every((a) => a !== undefined));
  // The sixth is refused before any of the five has been checked.
  assert.equal(guard.reserve('192.0.2.1'), undefined);
  attempts[0]?.forgive();
  attempts[0]?.forgive();
  assert.equal(guard.failures('192.0.2.1'), 4);
  assert.notEqual(guard.reserve('192.0.2.1'), undefined);
  assert.equal(guard.reserve('192.0.2.1'), undefined);
  // Another address has its own budget; the window ends the refusal.
  assert.notEqual(guard.reserve('192.0.2.2'), undefined);
  advance(600_000);
  assert.notEqual(guard.reserve('192.0.2.1'), undefined);
});

test('IPv6 clients share one budget per /64: a fresh address per attempt gains nothing', () => {
  const { guard } = guardAt();
  for (let i = 1; i <= 5; i++) assert.notEqual(guard.reserve(`2001:db8:0:7::${i.toString(16)}`), undefined);
  assert.equal(guard.reserve('2001:db8:0:7:dead:beef:0:1'), undefined);
  assert.notEqual(guard.reserve('2001:db8:0:8::1'), undefined);
});

test('a full table drops expired records, then the least recently failed one: never everyone at once', () => {
  const { guard, advance } = guardAt({ maxTracked: 100 });
  for (let i = 0; i < 5; i++) guard.reserve('198.51.100.1');
  assert.equal(guard.reserve('198.51.100.1'), undefined);
  advance(1000);
  // 150 other addresses fail once each: the table stays at 100, the oldest go first.
  for (let i = 0; i < 150; i++) guard.reserve(`203.0.113.${i}`);
  assert.equal(guard.tracked, 100);
  assert.equal(guard.failures('203.0.113.149'), 1);
  assert.equal(guard.failures('203.0.113.50'), 1);
  assert.equal(guard.failures('203.0.113.49'), 0);
  // The locked-out address had not tried since: it was the least recently tried and went first.
  assert.equal(guard.failures('198.51.100.1'), 0);
  // A locked-out address that keeps failing stays the most recent, so stays locked out.
  const { guard: kept, advance: later } = guardAt({ maxTracked: 100 });
  for (let i = 0; i < 5; i++) kept.reserve('198.51.100.1');
  for (let i = 0; i < 150; i++) {
    later(100);
    kept.reserve(`203.0.113.${i}`);
    if (i % 50 === 0) kept.reserve('198.51.100.1');
  }
  assert.equal(kept.failures('198.51.100.1'), 5);
  // Expired records go before live ones.
  later(600_000);
  kept.reserve('192.0.2.9');
  assert.equal(kept.tracked, 1);
});
