/**
 * The physical address map of the simulated machine (hardware): System RAM ranges, NUMA-aware,
 * and every BAR with its CPU physical and PCI bus address. Built once from the topology.
 *
 * RAM layout, as x86 firmware lays it out: RAM from 0 up to the PCI hole (the lowest host bridge
 * window below 4 GiB, at most 3 GiB), the rest from 4 GiB on. NUMA nodes take the RAM in order:
 * node 0 the first `nodes[0]` bytes, and so on, so a node may have a range on each side of the
 * hole.
 */
import { SpecError } from '../input-error';
import type { PciBar, PciDev } from '../pci/device';
import type { PciTopology } from '../pci/topology';
import { PAGE_SIZE } from './page';

/** Default System RAM when the topology gives none: 64 GiB. */
export const DEFAULT_RAM_SIZE = 64 * 2 ** 30;
/** The lowest the PCI hole starts when no host bridge window says otherwise: 3 GiB. */
export const DEFAULT_LOW_RAM_TOP = 0xc000_0000;
export const FOUR_GIB = 2 ** 32;

/** One range of System RAM ("System RAM" in /proc/iomem), `end` exclusive. */
export interface RamRange {
  readonly start: number;
  readonly end: number;
  readonly node: number;
}

/** A BAR in the address map: CPU physical [start, end) and where it sits on its PCI bus. */
export interface BarRange {
  readonly start: number;
  readonly end: number;
  readonly dev: PciDev;
  readonly bar: PciBar;
  /** PCI bus address of `start` (CPU address + the host bridge's busOffset). */
  readonly busStart: number;
}

/** What a CPU physical address is. */
export type PhysRegion =
  | { readonly kind: 'ram'; readonly range: RamRange }
  | { readonly kind: 'bar'; readonly range: BarRange };

function bsearch<T extends { start: number; end: number }>(
  list: readonly T[],
  addr: number,
  key: (t: T) => number = (t) => t.start,
  len: (t: T) => number = (t) => t.end - t.start,
): T | undefined {
  let lo = 0;
  let hi = list.length - 1;
  while (lo <= hi) {
    const mid = (lo + hi) >>> 1;
    const t = list[mid]!;
    const s = key(t);
    if (addr < s) hi = mid - 1;
    else if (addr >= s + len(t)) lo = mid + 1;
    else return t;
  }
  return undefined;
}

export class PhysMemoryMap {
  /** System RAM, by address. */
  readonly ram: readonly RamRange[];
  /** Every assigned memory BAR, by CPU physical address. */
  readonly bars: readonly BarRange[];
  private readonly barsByBus: readonly BarRange[];

  constructor(ram: RamRange[], bars: BarRange[]) {
    this.ram = [...ram].sort((a, b) => a.start - b.start);
    this.bars = [...bars].sort((a, b) => a.start - b.start);
    this.barsByBus = [...bars].sort((a, b) => a.busStart - b.busStart);
  }

  /** Total bytes of System RAM. */
  get ramSize(): number {
    return this.ram.reduce((n, r) => n + (r.end - r.start), 0);
  }

  /** The NUMA node ids that have RAM, ascending. */
  get nodes(): number[] {
    return [...new Set(this.ram.map((r) => r.node))].sort((a, b) => a - b);
  }

  /** End of the RAM range that starts at 0 (what memblock_alloc_low() allocates below). */
  get lowRamEnd(): number {
    const first = this.ram[0];
    return first && first.start === 0 ? first.end : 0;
  }

  /** The RAM range holding `phys`, if any. */
  ramAt(phys: number): RamRange | undefined {
    return bsearch(this.ram, phys);
  }

  /** The BAR holding CPU physical address `phys`, if any. */
  barAt(phys: number): BarRange | undefined {
    return bsearch(this.bars, phys);
  }

  /**
   * The BAR whose PCI bus range holds `bus`. Bus addresses of different PCI domains may
   * coincide when host bridges translate differently; `hostBridge` picks the domain.
   */
  barAtBus(bus: number, hostBridge?: PciDev['hostBridge']): BarRange | undefined {
    if (!hostBridge) return bsearch(this.barsByBus, bus, (b) => b.busStart);
    for (const b of this.barsByBus) {
      if (b.dev.hostBridge === hostBridge && bus >= b.busStart && bus < b.busStart + b.bar.size) {
        return b;
      }
    }
    return undefined;
  }

  /** RAM or a BAR, or undefined for a hole. */
  regionAt(phys: number): PhysRegion | undefined {
    const r = this.ramAt(phys);
    if (r) return { kind: 'ram', range: r };
    const b = this.barAt(phys);
    if (b) return { kind: 'bar', range: b };
    return undefined;
  }

  /** True when [phys, phys + size) is System RAM throughout (it may span adjacent ranges). */
  isRam(phys: number, size: number): boolean {
    let at = phys;
    const end = phys + size;
    while (at < end) {
      const r = this.ramAt(at);
      if (!r) return false;
      at = r.end;
    }
    return true;
  }
}

/**
 * The machine's address map from its topology: `platform.memory` (default 64 GiB on one node)
 * laid out around the PCI hole, and every BAR. Throws SpecError (at platform.memory) when the
 * RAM does not fit below the host bridges' 64-bit windows or the node sizes disagree with size.
 */
export function buildPhysMemoryMap(topo: PciTopology): PhysMemoryMap {
  const mem = topo.platform.memory;
  const path = ['platform', 'memory'];
  const nodes = mem?.nodes;
  const nodeSum = nodes?.reduce((a, b) => a + b, 0);
  if (nodes && mem?.size !== undefined && mem.size !== nodeSum) {
    throw new SpecError(
      `memory size ${mem.size} differs from the sum of the nodes' sizes ${nodeSum}`,
      [...path, 'size'],
    );
  }
  const size = mem?.size ?? nodeSum ?? DEFAULT_RAM_SIZE;
  if (size === 0) throw new SpecError('memory size must be more than 0', [...path]);
  nodes?.forEach((n, i) => {
    if (n === 0) throw new SpecError(`node ${i} has no memory`, [...path, 'nodes', i]);
  });

  const windows = topo.hostBridges.flatMap((hb) => hb.windows);
  let lowTop = DEFAULT_LOW_RAM_TOP;
  for (const w of windows) if (w.base < FOUR_GIB && w.base > 0) lowTop = Math.min(lowTop, w.base);
  lowTop -= lowTop % PAGE_SIZE;

  // Two spans of address space, split among the nodes in order.
  const spans: [number, number][] = [[0, Math.min(size, lowTop)]];
  if (size > lowTop) spans.push([FOUR_GIB, FOUR_GIB + size - lowTop]);
  const ram: RamRange[] = [];
  const nodeSizes = nodes ?? [size];
  let node = 0;
  let left = nodeSizes[0]!;
  for (const [s, e] of spans) {
    let at = s;
    while (at < e) {
      const take = Math.min(left, e - at);
      ram.push({ start: at, end: at + take, node });
      at += take;
      left -= take;
      if (left === 0 && node + 1 < nodeSizes.length) left = nodeSizes[++node]!;
    }
  }
  for (const r of ram) {
    for (const hb of topo.hostBridges) {
      for (const w of hb.windows) {
        if (r.start < w.base + w.size && w.base < r.end) {
          throw new SpecError(
            `System RAM [0x${r.start.toString(16)}-0x${(r.end - 1).toString(16)}] overlaps ` +
              `window [0x${w.base.toString(16)}-0x${(w.base + w.size - 1).toString(16)}] of host bridge ${hb.name}; ` +
              'use less memory or move the window',
            [...path],
          );
        }
      }
    }
  }

  const bars: BarRange[] = [];
  for (const dev of topo.devices) {
    for (const bar of dev.bars) {
      bars.push({
        start: bar.cpuAddress,
        end: bar.cpuAddress + bar.size,
        dev,
        bar,
        busStart: bar.busAddress,
      });
    }
  }
  return new PhysMemoryMap(ram, bars);
}
