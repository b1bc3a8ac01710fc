import { readFileSync } from 'node:fs';

/**
 * Memory of the processes the bench and the soak start, read from /proc/PID/status:
 * VmRSS (resident now) sampled on a timer, and VmHWM (the kernel's own peak of VmRSS since the
 * process started, so no short spike between two samples is missed). Figures are MB (10^6 bytes).
 */
/** Limits from the performance issue: client under 300 MB RSS while writing 4 GiB, each node under 600 MB. */
export const CLIENT_RSS_LIMIT_MB = 300;
export const NODE_RSS_LIMIT_MB = 600;

export interface Proc {
  role: string; // "client", "n1", ...
  pid: number;
}

/** VmRSS and VmHWM of one process in MB, or null once it has exited. */
export function readRss(pid: number): { rssMb: number; hwmMb: number } | null {
  let text: string;
  try {
    text = readFileSync(`/proc/${pid}/status`, 'utf8');
  } catch {
    return null;
  }
  return parseStatus(text);
}

/** Pure part of readRss: the kernel prints both fields in kB (KiB). */
export function parseStatus(text: string): { rssMb: number; hwmMb: number } | null {
  const kb = (field: string) => {
    const m = new RegExp(`^${field}:\\s+(\\d+) kB$`, 'm').exec(text);
    return m ? (Number(m[1]) * 1024) / 1e6 : null;
  };
  const rss = kb('VmRSS');
  const hwm = kb('VmHWM');
  return rss === null || hwm === null ? null : { rssMb: rss, hwmMb: hwm };
}

/** Samples every process `procs()` names every `everyMs` and keeps each role's highest VmRSS. */
export class RssSampler {
  private readonly maxRss = new Map<string, number>();
  private readonly lastHwm = new Map<string, number>();
  private timer: NodeJS.Timeout | null = null;

  constructor(private readonly procs: () => Proc[], private readonly everyMs = 500) {}

  start(): this {
    this.sample();
    this.timer = setInterval(() => this.sample(), this.everyMs);
    this.timer.unref();
    return this;
  }

  /** Takes one last sample (call before the processes are stopped) and stops the timer. */
  stop(): void {
    this.sample();
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
  }

  /** Forgets the sampled maxima (VmHWM cannot be reset: it stays the peak since process start). */
  reset(): void {
    this.maxRss.clear();
  }

  sample(): void {
    for (const p of this.procs()) {
      const r = readRss(p.pid);
      if (!r) continue;
      this.maxRss.set(p.role, Math.max(this.maxRss.get(p.role) ?? 0, r.rssMb));
      this.lastHwm.set(p.role, r.hwmMb);
    }
  }

  /** Per role: highest sampled VmRSS since start/reset, and VmHWM at the last sample. */
  figures(): { role: string; rssMaxMb: number; hwmMb: number }[] {
    return [...this.lastHwm.keys()].sort().map((role) => ({ role, rssMaxMb: this.maxRss.get(role) ?? 0, hwmMb: this.lastHwm.get(role) ?? 0 }));
  }
}

/** CPU time (user + system) a process has used so far, in ms; null once it has exited. */
export function cpuMs(pid: number): number | null {
  let text: string;
  try {
    text = readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return null;
  }
  // Fields after the command name (which may hold spaces) start after the last ')': state is field 3,
  // utime and stime are fields 14 and 15, in clock ticks (USER_HZ, 100 on Linux).
  const f = text.slice(text.lastIndexOf(')') + 2).split(' ');
  return (Number(f[11]) + Number(f[12])) * 10;
}
