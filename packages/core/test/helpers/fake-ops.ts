/**
 * A small configurable DmaMapOps for tests: identity mapping (DMA address = CPU physical address),
 * every call recorded. Not a model of any kernel implementation; it exists so that tests of the
 * generic layer, the DMA-API debug checker and the DI wiring can drive map/unmap/sync with
 * results they choose.
 *
 * Options:
 * - mapSgResult: mapSg returns this and maps nothing (an errno, or a value the generic layer must
 *   reject);
 * - merge: an entry whose DMA address follows on from the previous DMA segment is folded into it
 *   (compaction into the leading entries, as an IOMMU's __finalise_sg does), so mapSg returns fewer
 *   entries than it was given; the merged length is not limited by the device's max segment size;
 * - p2pBusOffset: PCI P2PDMA pages are mapped as PCI bus addresses (phys + offset) and marked
 *   SG_DMA_BUS_ADDRESS, as a BUS_ADDR map type is; without it they are identity-mapped like RAM;
 * - failMapPhys: mapPhys and mapResource return DMA_MAPPING_ERROR.
 */
import {
  DMA_MAPPING_ERROR,
  SG_DMA_BUS_ADDRESS,
  isPciP2pdmaPage,
  sgDmaMarkBusAddress,
  sgEntries,
  sgPhys,
  type DmaDataDirection,
  type DmaDevice,
  type DmaMapOps,
  type DmaMapOpsCapabilities,
  type Scatterlist,
} from '@dmasim/core';

export interface FakeDmaOpsOptions {
  name?: string;
  capabilities?: Partial<DmaMapOpsCapabilities>;
  mapSgResult?: number;
  merge?: boolean;
  p2pBusOffset?: number;
  failMapPhys?: boolean;
}

/** One call the ops received: its name, the device's name and the remaining arguments. */
export interface FakeDmaOpsCall {
  op: string;
  dev: string;
  args: unknown[];
}

interface LiveRange {
  dma: number;
  size: number;
  phys: number;
}

export class FakeDmaOps implements DmaMapOps {
  readonly name: string;
  readonly capabilities: DmaMapOpsCapabilities;
  readonly calls: FakeDmaOpsCall[] = [];
  private readonly single = new Map<DmaDevice, LiveRange[]>();
  private readonly sgMaps = new Map<Scatterlist, { dev: DmaDevice; ranges: LiveRange[] }>();

  constructor(readonly options: FakeDmaOpsOptions = {}) {
    this.name = options.name ?? 'fake-identity';
    this.capabilities = {
      pciP2pdma: true,
      mergesSegments: options.merge ?? false,
      mapResource: true,
      bounce: false,
      ...options.capabilities,
    };
  }

  mapPhys(dev: DmaDevice, phys: number, size: number, dir: DmaDataDirection, attrs: number) {
    this.record('mapPhys', dev, phys, size, dir, attrs);
    return this.mapRange(dev, phys, size);
  }

  unmapPhys(dev: DmaDevice, addr: number, size: number, dir: DmaDataDirection, attrs: number) {
    this.record('unmapPhys', dev, addr, size, dir, attrs);
    this.unmapRange(dev, addr);
  }

  mapResource(dev: DmaDevice, phys: number, size: number, dir: DmaDataDirection, attrs: number) {
    this.record('mapResource', dev, phys, size, dir, attrs);
    return this.mapRange(dev, phys, size);
  }

  unmapResource(dev: DmaDevice, addr: number, size: number, dir: DmaDataDirection, attrs: number) {
    this.record('unmapResource', dev, addr, size, dir, attrs);
    this.unmapRange(dev, addr);
  }

  mapSg(dev: DmaDevice, sgl: Scatterlist, nents: number, dir: DmaDataDirection, attrs: number) {
    this.record('mapSg', dev, sgl, nents, dir, attrs);
    if (this.options.mapSgResult !== undefined) return this.options.mapSgResult;
    const ents = sgEntries(sgl, nents);
    const ranges: LiveRange[] = [];
    let out = 0;
    for (const s of ents) {
      // Read the CPU side before writing any DMA side: output slot `out` is never after `s`.
      const phys = sgPhys(s);
      const len = s.length;
      const bus =
        this.options.p2pBusOffset !== undefined && s.page !== undefined && isPciP2pdmaPage(s.page);
      const dma = bus ? phys + this.options.p2pBusOffset! : phys;
      const prev = out > 0 ? ents[out - 1]! : undefined;
      const prevBus = prev !== undefined && (prev.dmaFlags & SG_DMA_BUS_ADDRESS) !== 0;
      if (
        this.options.merge &&
        prev &&
        prevBus === bus &&
        prev.dmaAddress + prev.dmaLength === dma
      ) {
        prev.dmaLength += len;
        ranges[ranges.length - 1]!.size += len;
        continue;
      }
      const o = ents[out++]!;
      o.dmaAddress = dma;
      o.dmaLength = len;
      o.dmaFlags = 0;
      if (bus) sgDmaMarkBusAddress(o);
      ranges.push({ dma, size: len, phys });
    }
    for (let i = out; i < ents.length; i++) {
      ents[i]!.dmaLength = 0;
      ents[i]!.dmaFlags = 0;
    }
    this.sgMaps.set(sgl, { dev, ranges });
    return out;
  }

  unmapSg(dev: DmaDevice, sgl: Scatterlist, nents: number, dir: DmaDataDirection, attrs: number) {
    this.record('unmapSg', dev, sgl, nents, dir, attrs);
    this.sgMaps.delete(sgl);
  }

  syncSingleForCpu(dev: DmaDevice, addr: number, size: number, dir: DmaDataDirection) {
    this.record('syncSingleForCpu', dev, addr, size, dir);
  }
  syncSingleForDevice(dev: DmaDevice, addr: number, size: number, dir: DmaDataDirection) {
    this.record('syncSingleForDevice', dev, addr, size, dir);
  }
  syncSgForCpu(dev: DmaDevice, sgl: Scatterlist, nents: number, dir: DmaDataDirection) {
    this.record('syncSgForCpu', dev, sgl, nents, dir);
  }
  syncSgForDevice(dev: DmaDevice, sgl: Scatterlist, nents: number, dir: DmaDataDirection) {
    this.record('syncSgForDevice', dev, sgl, nents, dir);
  }

  dmaToPhys(dev: DmaDevice, addr: number): number | undefined {
    const hit = (r: LiveRange) => addr >= r.dma && addr < r.dma + r.size;
    const s = this.single.get(dev)?.find(hit);
    if (s) return s.phys + (addr - s.dma);
    for (const m of this.sgMaps.values()) {
      if (m.dev !== dev) continue;
      const r = m.ranges.find(hit);
      if (r) return r.phys + (addr - r.dma);
    }
    return undefined;
  }

  /** Calls of one operation, in order. */
  callsOf(op: string): FakeDmaOpsCall[] {
    return this.calls.filter((c) => c.op === op);
  }

  private record(op: string, dev: DmaDevice, ...args: unknown[]): void {
    this.calls.push({ op, dev: dev.name, args });
  }

  private mapRange(dev: DmaDevice, phys: number, size: number): number {
    if (this.options.failMapPhys) return DMA_MAPPING_ERROR;
    let list = this.single.get(dev);
    if (!list) this.single.set(dev, (list = []));
    list.push({ dma: phys, size, phys });
    return phys;
  }

  private unmapRange(dev: DmaDevice, addr: number): void {
    const list = this.single.get(dev);
    const i = list?.findIndex((r) => r.dma === addr) ?? -1;
    if (i >= 0) list!.splice(i, 1);
  }
}
