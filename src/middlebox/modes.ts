/** The firewall behaviours the middlebox emulates, and its options. */
export type MiddleboxMode =
  | 'mask-keywords'
  | 'drop-bdat'
  | 'drop-second-bdat'
  | 'reset-after-bdat'
  | 'tarpit-chunks'
  | 'mask-banner'
  | 'strip-starttls'
  | 'pass';

export const MIDDLEBOX_MODES: readonly MiddleboxMode[] = [
  'mask-keywords',
  'drop-bdat',
  'drop-second-bdat',
  'reset-after-bdat',
  'tarpit-chunks',
  'mask-banner',
  'strip-starttls',
  'pass',
];

export interface MiddleboxOptions {
  readonly listen: { host: string; port: number };
  readonly upstream: { host: string; port: number };
  readonly mode: MiddleboxMode;
  /** How long the tarpit holds each non-final chunk (default 5000). */
  readonly tarpitMs?: number;
  /** One line per distortion applied. */
  readonly log?: (line: string) => void;
}
