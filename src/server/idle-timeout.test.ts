import { test } from 'node:test';
import assert from 'node:assert/strict';
import { VirtualClock } from '../../test/support/virtual-clock.js';
import type { Clock } from '../time/clock.js';
import { IdleTimeout } from './idle-timeout.js';

function counted(clock: VirtualClock): { counting: Clock; made: () => number } {
  let made = 0;
  const counting: Clock = {
    now: clock.now,
    after: (ms, fire) => {
      made++;
      return clock.after(ms, fire);
    },
  };
  return { counting, made: () => made };
}

test('a connection switching between the command and data-block waits keeps one timer per length', () => {
  const clock = new VirtualClock();
  const { counting, made } = counted(clock);
  let expired = 0;
  const idle = new IdleTimeout(counting, () => expired++);
  for (let message = 0; message < 100; message++) {
    idle.arm(300_000); // MAIL, RCPT, DATA
    idle.arm(180_000); // the body
    clock.advance(1_000);
  }
  idle.arm(300_000);
  assert.equal(made(), 2);
  // The data-block wait is not in use: its time passes without expiring the connection.
  clock.advance(180_000);
  assert.equal(expired, 0);
  clock.advance(120_000);
  assert.equal(expired, 1);
});

test('a wait that fired while unused, or expired, runs again when armed; stop and close end it', () => {
  const clock = new VirtualClock();
  let expired = 0;
  const idle = new IdleTimeout(clock, () => expired++);
  idle.arm(1_000);
  idle.arm(5_000);
  clock.advance(2_000); // the 1 s timer fires unused
  idle.arm(1_000);
  clock.advance(1_000);
  assert.equal(expired, 1);
  idle.arm(1_000);
  idle.stop();
  clock.advance(10_000);
  assert.equal(expired, 1);
  idle.arm(1_000);
  idle.close();
  idle.arm(1_000); // after close a length gets a new timer
  clock.advance(1_000);
  assert.equal(expired, 2);
});
