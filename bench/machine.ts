/**
 * What the table's numbers were measured on.
 *
 * @module
 */

import { run } from "./proc.ts";

/** Machine and tool versions. */
export interface MachineInfo {
  cpu: string;
  cores: number;
  memGiB: number;
  kernel: string;
  deno: string;
  goCli: string;
}

/** Reads the CPU model, core count, memory, kernel and versions. */
export async function machineInfo(): Promise<MachineInfo> {
  const cpuinfo = await Deno.readTextFile("/proc/cpuinfo").catch(() => "");
  const meminfo = await Deno.readTextFile("/proc/meminfo").catch(() => "");
  const memKiB = Number(/MemTotal:\s+(\d+)/.exec(meminfo)?.[1] ?? NaN);
  const dpkg = await run(["dpkg-query", "-W", "-f", "${Version}", "containers-storage"], {
    check: false,
  }).catch(() => undefined);
  return {
    cpu: /model name\s*:\s*(.*)/.exec(cpuinfo)?.[1] ?? "unknown",
    cores: navigator.hardwareConcurrency,
    memGiB: Math.round(memKiB / 2 ** 20),
    kernel: Deno.osRelease(),
    deno: Deno.version.deno,
    goCli: dpkg?.code === 0 ? `containers-storage ${dpkg.stdout}` : "containers-storage",
  };
}
