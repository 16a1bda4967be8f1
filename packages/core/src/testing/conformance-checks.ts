/**
 * The checks the conformance cases are made of. Each throws a ConformanceFailure naming the rule
 * (with its reference section), what the ops did and the input.
 */
import type { DmaDevice } from '../dma/device';
import type { DmaMapOpsCapabilities } from '../dma/map-ops';
import { EINVAL, EIO, ENOMEM, EREMOTEIO } from '../errno';
import { PAGE_SIZE, type Page } from '../mm/page';
import { PciP2pdmaMapType, mapTypeName } from '../p2pdma/map-type';
import { sgDmaIsBusAddress, sgEntries, type Scatterlist } from '../scatterlist/scatterlist';
import type { BuiltList, ConformanceKernel } from './conformance-kernel';
import { fail, hex, retName } from './conformance-failure';
import { describePlaced } from './scatterlist-recipe';

/** The only errors map_sg may return (§3.3, §11). */
export const MAP_SG_ERRORS: readonly number[] = [-EINVAL, -ENOMEM, -EIO, -EREMOTEIO];

/**
 * §3.3/§11: map_sg returns the number of DMA entries, 1..nents (exactly nents for ops that do not
 * merge, §3.2), or one of -EINVAL, -ENOMEM, -EIO, -EREMOTEIO.
 */
export function checkMapSgReturn(
  ret: number,
  nents: number,
  caps: DmaMapOpsCapabilities,
  opsName: string,
): void {
  if (!Number.isInteger(ret)) fail(`§3.3: ${opsName} map_sg returned ${ret}, not an integer`);
  if (ret > 0) {
    if (ret > nents) {
      fail(`§3.3: ${opsName} map_sg returned ${ret} DMA entries for a list of ${nents} entries`);
    }
    if (ret !== nents && !caps.mergesSegments) {
      fail(
        `§3.2: ${opsName} map_sg returned ${ret} DMA entries for ${nents} input entries, but its ` +
          'capabilities say it does not merge segments (mergesSegments: false): the count must be nents',
      );
    }
    return;
  }
  if (!MAP_SG_ERRORS.includes(ret)) {
    fail(
      `§3.3/§11: ${opsName} map_sg returned ${retName(ret)}; a failed map_sg must return -EINVAL, ` +
        '-ENOMEM, -EIO or -EREMOTEIO (the generic layer WARNs about anything else, 0 included, and turns it into -EIO)',
    );
  }
}

/** The CPU side and the DMA flags of an entry, to check that a failed map left it as it was. */
interface EntrySnapshot {
  page: Page | undefined;
  pageLink: number;
  offset: number;
  length: number;
  dmaFlags: number;
}

export function snapshotEntries(entries: readonly Scatterlist[]): EntrySnapshot[] {
  return entries.map((s) => ({
    page: s.page,
    pageLink: s.pageLink,
    offset: s.offset,
    length: s.length,
    dmaFlags: s.dmaFlags,
  }));
}

/**
 * After a failed map_sg (§3.2 unwind; dma-iommu's __invalidate_sg) the entries' CPU side (page,
 * offset, length, chain/end bits) is what the caller built and no DMA flag set by the attempt
 * (SG_DMA_BUS_ADDRESS, SG_DMA_SWIOTLB; §3.1) is left. dma_address and dma_length are not checked:
 * dma-direct's unwind leaves them as they were written and callers must not read them.
 */
export function checkEntriesRestored(
  entries: readonly Scatterlist[],
  before: readonly EntrySnapshot[],
  opsName: string,
): void {
  entries.forEach((s, i) => {
    const b = before[i]!;
    const pagesDiffer =
      (s.page === undefined) !== (b.page === undefined) ||
      (s.page !== undefined && s.page.pfn !== b.page!.pfn);
    if (
      pagesDiffer ||
      s.offset !== b.offset ||
      s.length !== b.length ||
      s.pageLink !== b.pageLink
    ) {
      fail(
        `§3.2: after a failed map_sg, entry ${i} of the list is changed: page pfn ` +
          `${hex(b.page?.pfn)} offset ${b.offset} length ${b.length} became pfn ${hex(s.page?.pfn)} ` +
          `offset ${s.offset} length ${s.length} (${opsName} must restore what it changed)`,
      );
    }
    if (s.dmaFlags !== b.dmaFlags) {
      fail(
        `§3.1/§3.2: after a failed map_sg, entry ${i} keeps DMA flags 0x${s.dmaFlags.toString(16)} ` +
          `(was 0x${b.dmaFlags.toString(16)}): the unwind must clear the bus-address/swiotlb marks it set`,
      );
    }
  });
}

/** Offsets into a run of `len` bytes at CPU physical `phys` worth probing: both ends, the middle, every page start. */
function probeOffsets(phys: number, len: number): number[] {
  const out = new Set<number>([0, len - 1, Math.floor(len / 2)]);
  for (let k = (PAGE_SIZE - (phys % PAGE_SIZE)) % PAGE_SIZE; k < len; k += PAGE_SIZE) out.add(k);
  return [...out].sort((a, b) => a - b);
}

export interface MappedCheckOptions {
  /** Also check dma_get_max_seg_size() / dma_get_seg_boundary() on every output entry (§8 item 10). */
  segmentLimits?: boolean;
}

/**
 * A successful map of `list` into `count` DMA entries, checked byte for byte (§3.2, §8):
 * - every output entry has dma_length > 0 and together they have exactly the input's bytes;
 * - walking the input bytes and the output bytes in parallel, ops.dmaToPhys() of each output
 *   address gives the input byte's CPU physical address, at both ends of every run where an
 *   input and an output entry overlap, its middle and every page start in it;
 * - bytes of BUS_ADDR pages sit in output entries marked SG_DMA_BUS_ADDRESS at
 *   CPU physical + the provider's bus offset (§1.1, §3.1, §3.2); no other output entry is marked;
 * - with segmentLimits, no output entry is longer than the max segment size or crosses the
 *   segment boundary.
 * Returns the DMA addresses probed, for checking later that unmap released them.
 */
export function checkMapped(
  k: ConformanceKernel,
  dev: DmaDevice,
  list: BuiltList,
  count: number,
  opts: MappedCheckOptions = {},
): number[] {
  const name = k.ops.name;
  const outs = sgEntries(list.sgt.sgl, count);
  const inputs = () => `\ninput entries:\n${describePlaced(list.placed)}`;
  const outputs = () =>
    `\noutput entries:\n${outs
      .map(
        (o, j) =>
          `  [${j}] dma ${hex(o.dmaAddress)} length ${o.dmaLength}${sgDmaIsBusAddress(o) ? ' bus-address' : ''}`,
      )
      .join('\n')}`;
  if (outs.length !== count) {
    fail(`${name} map_sg returned ${count} but the table has only ${outs.length} entries`);
  }
  const inTotal = list.placed.reduce((n, p) => n + p.length, 0);
  let outTotal = 0;
  outs.forEach((o, j) => {
    if (!(o.dmaLength > 0)) {
      fail(
        `§3.2: output entry ${j} of ${count} has dma_length ${o.dmaLength}${inputs()}${outputs()}`,
      );
    }
    outTotal += o.dmaLength;
  });
  if (outTotal !== inTotal) {
    fail(
      `§3.2: the ${count} output entries hold ${outTotal} bytes, the input ${inTotal}: every ` +
        `mapped byte needs exactly one DMA byte${inputs()}${outputs()}`,
    );
  }
  if (opts.segmentLimits) {
    const window = Math.min(dev.segBoundaryMask + 1, 2 ** 53);
    outs.forEach((o, j) => {
      if (o.dmaLength > dev.maxSegmentSize) {
        fail(
          `§8 (10): output entry ${j} is ${o.dmaLength} bytes, longer than the device's max segment ` +
            `size ${dev.maxSegmentSize} ("segment longer than device claims to support"); the ` +
            `inputs respected it, so ${name} made the violation (merging?)${inputs()}${outputs()}`,
        );
      }
      const first = Math.floor(o.dmaAddress / window);
      const last = Math.floor((o.dmaAddress + o.dmaLength - 1) / window);
      if (first !== last) {
        fail(
          `§8 (10): output entry ${j} [${hex(o.dmaAddress)}, +${o.dmaLength}) crosses the device's ` +
            `segment boundary (mask ${hex(dev.segBoundaryMask)}; "mapping sg segment across ` +
            `boundary"); the inputs did not cross it, so ${name} made the violation${inputs()}${outputs()}`,
        );
      }
    });
  }

  const probed: number[] = [];
  let j = 0;
  let b = 0;
  list.placed.forEach((p, i) => {
    const type = k.mapType(p.region);
    const busOff = k.busOffset(p.region);
    let a = 0;
    while (a < p.length) {
      const o = outs[j]!;
      const step = Math.min(p.length - a, o.dmaLength - b);
      const phys = p.phys + a;
      const dma = o.dmaAddress + b;
      const where = `input entry ${i} (${p.region}, ${mapTypeName(type)}) byte ${a} in output entry ${j} byte ${b}`;
      if (type === PciP2pdmaMapType.BUS_ADDR) {
        if (!sgDmaIsBusAddress(o)) {
          fail(
            `§3.1/§3.2: ${where}: a BUS_ADDR page must be mapped into an entry marked ` +
              `SG_DMA_BUS_ADDRESS (sg_dma_is_bus_address() is false)${inputs()}${outputs()}`,
          );
        }
        if (dma !== phys + busOff) {
          fail(
            `§1.1/§3.2: ${where}: a BUS_ADDR page is programmed with its PCI bus address, CPU ` +
              `physical ${hex(phys)} + bus offset ${hex(busOff)} = ${hex(phys + busOff)}, but the ` +
              `DMA address is ${hex(dma)}${inputs()}${outputs()}`,
          );
        }
      } else if (sgDmaIsBusAddress(o)) {
        fail(
          `§3.1/§3.2: ${where}: only BUS_ADDR pages are mapped as bus addresses, but the output ` +
            `entry is marked SG_DMA_BUS_ADDRESS${inputs()}${outputs()}`,
        );
      }
      for (const off of probeOffsets(phys, step)) {
        const got = k.ops.dmaToPhys(dev, dma + off);
        if (got !== phys + off) {
          fail(
            `§3.2: ${where}: the device reaches DMA address ${hex(dma + off)} at CPU physical ` +
              `${hex(got)} (dmaToPhys), but that DMA byte stands for CPU physical ${hex(phys + off)}` +
              `${inputs()}${outputs()}`,
          );
        }
        probed.push(dma + off);
      }
      a += step;
      b += step;
      if (b === o.dmaLength) {
        j++;
        b = 0;
      }
    }
  });
  return probed;
}

/**
 * Whether `addr` reaching `phys` needs no mapping at all: `addr` is the byte's own CPU physical
 * address (dma-direct's phys_to_dma() is the identity here) or, for a BAR of the device's PCI
 * domain, its PCI bus address (§2.1). Without an IOMMU a device reaches those whether or not
 * anything is mapped, so they may stay reachable after an unmap.
 */
function isUntranslated(k: ConformanceKernel, dev: DmaDevice, addr: number, phys: number): boolean {
  if (addr === phys) return true;
  const bar = k.mem.barAtBus(addr, dev.pci?.hostBridge);
  return bar !== undefined && phys === bar.start + (addr - bar.busStart);
}

/**
 * None of `addrs` is still translated for `dev`: ops.dmaToPhys() is undefined, or gives the
 * byte the address reaches untranslated (see isUntranslated()). An IOVA, an aperture address or
 * a bounce slot that still leads to the buffer is a mapping the ops failed to release.
 */
export function checkNotTranslated(
  k: ConformanceKernel,
  dev: DmaDevice,
  addrs: readonly number[],
  when: string,
): void {
  for (const a of addrs) {
    const got = k.ops.dmaToPhys(dev, a);
    if (got !== undefined && !isUntranslated(k, dev, a, got)) {
      fail(
        `${when}, DMA address ${hex(a)} still reaches CPU physical ${hex(got)} (dmaToPhys): ` +
          `${k.ops.name} keeps a translation it should have released`,
      );
    }
  }
}

/** Every output entry's first and last DMA byte, as map_sg left them (for "nothing mapped" checks). */
export function writtenAddresses(entries: readonly Scatterlist[]): number[] {
  const out: number[] = [];
  for (const s of entries) {
    out.push(s.dmaAddress);
    if (s.dmaLength > 1) out.push(s.dmaAddress + s.dmaLength - 1);
  }
  return out.filter((a) => Number.isSafeInteger(a) && a >= 0);
}

/** §8: the DMA-API debug checker has reported nothing so far. */
export function checkDebugClean(k: ConformanceKernel, when: string): void {
  const errs = k.debug.errors();
  if (errs.length) {
    fail(
      `§8: ${when}, the DMA-API debug checker reported ${errs.length} error(s) with ${k.ops.name}:\n` +
        errs.map((e) => `  - [${e.kind}] ${e.device ?? ''}: ${e.message}`).join('\n'),
    );
  }
}

/** §8: the DMA-API debug checker holds no live mapping of `dev` (and reported nothing). */
export function checkNothingLive(k: ConformanceKernel, dev: DmaDevice, when: string): void {
  checkDebugClean(k, when);
  const live = k.debug.entries(dev);
  if (live.length) {
    fail(
      `§8: ${when}, the DMA-API debug checker still holds ${live.length} mapping(s) of ${dev.name}:\n` +
        live
          .slice(0, 8)
          .map((e) => `  - ${e.type} dma ${hex(e.devAddr)} size ${e.size} phys ${hex(e.paddr)}`)
          .join('\n'),
    );
  }
}
