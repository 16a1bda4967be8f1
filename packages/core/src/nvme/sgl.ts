/**
 * SGL building: nvme_pci_setup_sgls(), nvme_pci_sgl_set_data() and nvme_pci_sgl_set_seg() of
 * drivers/nvme/host/pci.c (v5.0-v6.2 with segment chaining, which v6.3 removed as NVME_MAX_SEGS
 * never reached a page of descriptors; reference §6.1).
 *
 * One mapped entry becomes a data block descriptor in the command. More go to a descriptor list
 * (16 bytes each): a small-pool block for at most 16, else 4096-byte pages of SGES_PER_PAGE = 256.
 * The command holds a segment descriptor pointing at the list: LAST_SEGMENT with length
 * entries * 16 when fewer than 256 remain, else SEGMENT with length PAGE_SIZE. When a page fills,
 * its last slot becomes such a descriptor for the next page and the data descriptor it held moves
 * to slot 0 of the new page.
 *
 * [DERIVED] The chaining descriptor is given the count of entries still to be written, not
 * counting the one moved to slot 0, so a last segment's length is one descriptor short; and a
 * list of exactly 256 entries is announced as a SEGMENT (not LAST_SEGMENT) whose last slot is a
 * data descriptor. Neither could happen in the kernel (at most 127 entries); the model keeps the
 * kernel's arithmetic so a controller model walking such a list sees what the code would emit.
 */
import { BLK_STS_OK, BLK_STS_RESOURCE, type BlkStatus } from '../block/blk-status';
import { PAGE_SIZE } from '../mm/page';
import {
  NVME_SGL_DESC_SIZE,
  NVME_SGL_FMT_DATA_DESC,
  NVME_SGL_FMT_LAST_SEG_DESC,
  NVME_SGL_FMT_SEG_DESC,
  nvmeSglType,
  type NvmeSglDesc,
} from './command';
import type { NvmeDescriptorBlock } from './descriptor-pool';
import { NVME_SMALL_POOL_SIZE, type NvmeDescriptorPools, type NvmeDmaSegment } from './prp';

/** SGES_PER_PAGE: PAGE_SIZE / sizeof(struct nvme_sgl_desc) = 256. */
export const SGES_PER_PAGE = PAGE_SIZE / NVME_SGL_DESC_SIZE;
/** Descriptors in a small-pool block: 256 / 16 = 16. */
export const NVME_SMALL_POOL_SGES = NVME_SMALL_POOL_SIZE / NVME_SGL_DESC_SIZE;

/** Writes descriptor `i` of a list block as the device reads it (addr, length, type at byte 15). */
export function nvmeSglDescWrite(block: NvmeDescriptorBlock, i: number, d: NvmeSglDesc): void {
  const off = block.slot(i, NVME_SGL_DESC_SIZE);
  block.view.setBigUint64(off, BigInt(d.addr), true);
  block.view.setUint32(off + 8, d.length, true);
  block.view.setUint8(off + 12, 0);
  block.view.setUint8(off + 13, 0);
  block.view.setUint8(off + 14, 0);
  block.view.setUint8(off + 15, d.type);
}

/** Reads descriptor `i` of a list block. */
export function nvmeSglDescRead(block: NvmeDescriptorBlock, i: number): NvmeSglDesc {
  const off = block.slot(i, NVME_SGL_DESC_SIZE);
  const addr = block.view.getBigUint64(off, true);
  if (addr > BigInt(Number.MAX_SAFE_INTEGER)) {
    throw new RangeError(`SGL descriptor ${i}: address 0x${addr.toString(16)} is above 2^53`);
  }
  return {
    addr: Number(addr),
    length: block.view.getUint32(off + 8, true),
    type: block.view.getUint8(off + 15),
  };
}

/** nvme_pci_sgl_set_data(sge, sg): a data block descriptor for one mapped entry. */
export function nvmePciSglSetData(seg: NvmeDmaSegment): NvmeSglDesc {
  return { addr: seg.dmaAddress, length: seg.length, type: nvmeSglType(NVME_SGL_FMT_DATA_DESC) };
}

/**
 * nvme_pci_sgl_set_seg(sge, dma_addr, entries): a descriptor pointing at a list: LAST_SEGMENT of
 * entries * 16 bytes when entries < SGES_PER_PAGE, else SEGMENT of PAGE_SIZE bytes.
 */
export function nvmePciSglSetSeg(dmaAddr: number, entries: number): NvmeSglDesc {
  if (entries < SGES_PER_PAGE) {
    return {
      addr: dmaAddr,
      length: entries * NVME_SGL_DESC_SIZE,
      type: nvmeSglType(NVME_SGL_FMT_LAST_SEG_DESC),
    };
  }
  return { addr: dmaAddr, length: PAGE_SIZE, type: nvmeSglType(NVME_SGL_FMT_SEG_DESC) };
}

/** What nvme_pci_setup_sgls() produced. */
export interface NvmeSglSetup {
  status: BlkStatus;
  /** cmd->dptr.sgl: a data block descriptor, or a (last) segment descriptor for list 0. */
  sgl?: NvmeSglDesc;
  /** The descriptor lists in chain order. */
  lists: NvmeDescriptorBlock[];
  /** iod->npages: -1 without a list, 0 for a small-pool list, else the number of list pages. */
  npages: number;
}

/**
 * nvme_pci_setup_sgls(dev, req, cmd, entries) (drivers/nvme/host/pci.c, v5.0-v6.2; §6.1): the
 * SGL for the `segs` (the nr_mapped DMA entries). The caller sets PSDT (NVME_CMD_SGL_METABUF).
 * BLK_STS_RESOURCE when a pool is empty, with everything allocated freed (nvme_free_sgls()).
 */
export function nvmePciSetupSgls(
  segs: readonly NvmeDmaSegment[],
  pools: NvmeDescriptorPools,
  opts: { singleLevel?: boolean } = {},
): NvmeSglSetup {
  let entries = segs.length;
  if (!entries) throw new RangeError('nvme_pci_setup_sgls: no DMA segments');
  if (entries === 1) {
    return { status: BLK_STS_OK, sgl: nvmePciSglSetData(segs[0]!), lists: [], npages: -1 };
  }
  if (opts.singleLevel) return nvmePciSetupSglsSingleLevel(segs, pools);
  const small = entries <= NVME_SMALL_POOL_SGES;
  const pool = small ? pools.small : pools.page;
  let npages = small ? 0 : 1;
  let list = pool.alloc();
  if (!list) return { status: BLK_STS_RESOURCE, lists: [], npages: -1 };
  const lists = [list];
  const sgl = nvmePciSglSetSeg(list.dma, entries);
  let i = 0;
  let s = 0;
  do {
    if (i === SGES_PER_PAGE) {
      const old = list;
      const fresh = pool.alloc();
      if (!fresh) {
        for (const l of lists) l.pool.free(l);
        return { status: BLK_STS_RESOURCE, lists: [], npages: -1 };
      }
      list = fresh;
      lists.push(list);
      npages++;
      // The descriptor in the last slot moves to slot 0 of the new page; the slot links to it.
      nvmeSglDescWrite(list, 0, nvmeSglDescRead(old, i - 1));
      nvmeSglDescWrite(old, i - 1, nvmePciSglSetSeg(list.dma, entries));
      i = 1;
    }
    nvmeSglDescWrite(list, i++, nvmePciSglSetData(segs[s++]!));
  } while (--entries > 0);
  return { status: BLK_STS_OK, sgl, lists, npages };
}

/**
 * nvme_pci_setup_data_sgl() of the 2026 driver (§6.2): one descriptor list (small pool for at
 * most 16 entries, else one page) announced by a LAST_SEGMENT of entries * 16 bytes; one level
 * only, at most NVME_MAX_SEGS = 256 entries (more is misuse: the queue limits forbid it).
 */
function nvmePciSetupSglsSingleLevel(
  segs: readonly NvmeDmaSegment[],
  pools: NvmeDescriptorPools,
): NvmeSglSetup {
  const entries = segs.length;
  if (entries > SGES_PER_PAGE) {
    throw new RangeError(`nvme_pci_setup_data_sgl: ${entries} segments (at most ${SGES_PER_PAGE})`);
  }
  const small = entries <= NVME_SMALL_POOL_SGES;
  const list = (small ? pools.small : pools.page).alloc();
  if (!list) return { status: BLK_STS_RESOURCE, lists: [], npages: -1 };
  segs.forEach((seg, i) => nvmeSglDescWrite(list, i, nvmePciSglSetData(seg)));
  const sgl = {
    addr: list.dma,
    length: entries * NVME_SGL_DESC_SIZE,
    type: nvmeSglType(NVME_SGL_FMT_LAST_SEG_DESC),
  };
  return { status: BLK_STS_OK, sgl, lists: [list], npages: small ? 0 : 1 };
}
