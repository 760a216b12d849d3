/**
 * The durable state of one queue entry (one file beside the spool entry): each recipient's fate so
 * far. Shared by the runner, which schedules entries, and attempt.ts, which changes the state.
 */
export type RecipientStatus = 'pending' | 'delivered' | 'bounced';

export interface RecipientState {
  readonly address: string;
  readonly local: boolean;
  status: RecipientStatus;
  attempts: number;
  lastResult?: string;
  /** ISO time before which the recipient is not tried again. */
  nextAttempt?: string;
  /** A delay warning (DSN action "delayed") was sent. */
  warned?: boolean;
}

export interface EntryState {
  readonly rcpts: RecipientState[];
  /** Held by the administrator (`barge queue hold`): not tried until released. */
  held?: boolean;
}
