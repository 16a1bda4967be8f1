/**
 * Path levels as nvidia-smi `topo -m` prints them (reference/anchors.md §2): PIX (at most one
 * PCIe bridge), PXB (several bridges, no host bridge), PHB (through a PCIe host bridge), NODE
 * (between host bridges inside one NUMA node), SYS (across the SMP interconnect between NUMA
 * nodes). nvidia-smi prints X for a device with itself; dmasim reports PIX there, the nearest level.
 */
import type { PciDev } from './device';

export type PathLevel = 'PIX' | 'PXB' | 'PHB' | 'NODE' | 'SYS';

/** NVML's numbering of the same levels (nvmlGpuTopologyLevel_t). */
export const NVML_TOPOLOGY_LEVEL: Record<PathLevel, number> = {
  PIX: 10,
  PXB: 20,
  PHB: 30,
  NODE: 40,
  SYS: 50,
};

/**
 * The bridge device a port belongs to: the ports of one PCIe switch (its upstream port and the
 * downstream ports on its internal bus) count as one bridge, as NVML counts "a single PCIe switch".
 */
function bridgeOf(port: PciDev): PciDev {
  return port.kind === 'switch-downstream' && port.upstream ? port.upstream : port;
}

/** The level of the path between two functions, from the topology alone (ACS does not change it). */
export function pathLevel(a: PciDev, b: PciDev): PathLevel {
  if (a === b) return 'PIX';
  let x: PciDev | null = a;
  let y: PciDev | null = b;
  const bridges = new Set<PciDev>();
  while (x && y && x.depth > y.depth) {
    if (x !== a) bridges.add(bridgeOf(x));
    x = x.upstream;
  }
  while (x && y && y.depth > x.depth) {
    if (y !== b) bridges.add(bridgeOf(y));
    y = y.upstream;
  }
  while (x && y && x !== y) {
    if (x !== a) bridges.add(bridgeOf(x));
    if (y !== b) bridges.add(bridgeOf(y));
    x = x.upstream;
    y = y.upstream;
  }
  if (x && x === y) {
    if (x !== a && x !== b) bridges.add(bridgeOf(x));
    return bridges.size <= 1 ? 'PIX' : 'PXB';
  }
  if (a.hostBridge === b.hostBridge) return 'PHB';
  const na = a.hostBridge.numaNode ?? 0;
  const nb = b.hostBridge.numaNode ?? 0;
  return na === nb ? 'NODE' : 'SYS';
}
