// What the kernel says about a process, for benchmarks that attribute CPU to the processes they start.
import { readFileSync } from "node:fs";

/** CPU seconds (user + system) a live process has used so far, from /proc/<pid>/stat; NaN once it is gone. */
export function cpuSeconds(pid: number): number {
  let stat: string;
  try {
    stat = readFileSync(`/proc/${pid}/stat`, "utf8");
  } catch {
    return NaN;
  }
  // Fields after the command name (which may hold spaces) start at "state"; utime and stime are the 12th and 13th.
  const fields = stat.slice(stat.lastIndexOf(") ") + 2).split(" ");
  return (Number(fields[11]) + Number(fields[12])) / 100;
}
