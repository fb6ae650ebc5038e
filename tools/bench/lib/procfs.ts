/**
 * A process's figures read from /proc (Linux), from the outside: reading them costs the
 * measured process nothing (no wake-up, no work in it).
 */
import { readFileSync } from 'node:fs';

/** Linux clock ticks per second of /proc/<pid>/stat (getconf CLK_TCK). */
export const CLK_TCK = 100;

/** CPU time (user + system, all threads) of the process in seconds, from /proc/<pid>/stat (1/CLK_TCK s resolution). */
export function procCpuSeconds(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  // After the command: state(3) … utime(14) stime(15) → indices 11 and 12.
  return (Number(f[11]) + Number(f[12])) / CLK_TCK;
}

/** VmRSS, VmHWM, RssAnon, RssFile, RssShmem in bytes, from /proc/<pid>/status. */
export function procStatus(pid: number): Record<string, number> {
  const out: Record<string, number> = {};
  for (const line of readFileSync(`/proc/${pid}/status`, 'utf8').split('\n')) {
    const m = /^(VmRSS|VmHWM|RssAnon|RssFile|RssShmem):\s+(\d+) kB/.exec(line);
    if (m) out[m[1]!] = Number(m[2]) * 1024;
  }
  return out;
}
