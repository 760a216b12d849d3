/**
 * Readiness for systemd's Type=notify: once every listener is bound and the server started whole,
 * READY=1 goes to the datagram socket NOTIFY_SOCKET names (sd_notify(3)). Node has no unix datagram
 * sockets (dgram is UDP only) and Barge takes no native module, so systemd's own `systemd-notify
 * --ready` sends it; as a child of the main process it needs NotifyAccess=all in the unit
 * (packaging/barge.service), and it waits until the manager has taken the message (its default
 * since systemd 246), so the message is never lost to the child's exit. Without NOTIFY_SOCKET (not
 * started by systemd, or a unit of another Type) nothing is sent.
 */
import { execFile } from 'node:child_process';

/** Never throws: a failure is one line through `say` (systemd then times the start out and says so too). */
export function notifyReady(env: NodeJS.ProcessEnv, status: string, say: (line: string) => void): Promise<void> {
  if (env.NOTIFY_SOCKET === undefined || env.NOTIFY_SOCKET === '') return Promise.resolve();
  return new Promise((resolve) => {
    execFile('systemd-notify', ['--ready', `--status=${status}`], { env, timeout: 30_000 }, (e, _stdout, stderr) => {
      if (e !== null)
        say(`barge: could not tell systemd that the server is ready (systemd-notify --ready): ${e.message.trim()} ${stderr.trim()}`.trim());
      resolve();
    });
  });
}
