/**
 * A system call's failure in words for an administrator ("no such file or directory (ENOENT)"):
 * start-up, reload and console messages name the file or address and say this, never a stack.
 */
const WORDS: Readonly<Record<string, string>> = {
  ENOENT: 'no such file or directory',
  EACCES: 'permission denied',
  EPERM: 'operation not permitted',
  EISDIR: 'is a directory',
  ENOTDIR: 'a component of the path is not a directory',
  ELOOP: 'a symbolic link was not followed',
  EADDRINUSE: 'address already in use',
  EADDRNOTAVAIL: 'address not available on this machine',
};

/** The error's code, when it is a system error. */
export function systemErrorCode(e: unknown): string | undefined {
  return typeof e === 'object' && e !== null && 'code' in e && typeof e.code === 'string' ? e.code : undefined;
}

export function systemErrorText(e: unknown): string {
  const code = systemErrorCode(e);
  const words = code === undefined ? undefined : WORDS[code];
  if (words !== undefined) return `${words} (${code})`;
  return e instanceof Error ? e.message : String(e);
}
