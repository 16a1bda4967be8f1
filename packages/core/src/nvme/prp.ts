/**
 * PRP building: nvme_pci_setup_prps() of drivers/nvme/host/pci.c (v5.15-v6.16, the scatterlist
 * driver; reference §6.1), over the DMA segments of a mapped request.
 *
 * PRP1 holds the first address, which may start anywhere in a 4 KiB controller page. If the
 * rest fits in one page, PRP2 is its address; otherwise PRP2 points to a PRP list: one entry per
 * further 4 KiB page, in a 256-byte block of the small pool when at most 32 entries are needed,
 * else in 4096-byte pages of 512 entries. When a page fills, its last slot becomes the DMA
 * address of the next list page and the entry it held moves to slot 0 of the new page.
 *
 * The walk only steps to the next segment when the current one is used up exactly; a segment
 * other than the last that does not end on a 4 KiB boundary is caught as "Invalid SGL" and the
 * request fails with BLK_STS_IOERR. A first segment that ends before the end of its page is not
 * caught at that point (the driver advances its address anyway), exactly as the kernel does; the
 * virt_boundary_mask of 4095 keeps both layouts from reaching the driver.
 */
import { BLK_STS_IOERR, BLK_STS_OK, BLK_STS_RESOURCE, type BlkStatus } from '../block/blk-status';
import type { NvmeDescriptorBlock, NvmeDescriptorPool } from './descriptor-pool';
import { NVME_PRP_ENTRY_SIZE } from './command';
import { NVME_CTRL_PAGE_SIZE } from './registers';

/** A DMA segment as the controller sees it (what RequestMapper.mapRequest() returns). */
export interface NvmeDmaSegment {
  dmaAddress: number;
  length: number;
}

/** The driver's two descriptor pools (dev->prp_page_pool, dev->prp_small_pool). */
export interface NvmeDescriptorPools {
  /** "prp list page": 4096-byte blocks. */
  page: NvmeDescriptorPool;
  /** "prp list 256": 256-byte blocks. */
  small: NvmeDescriptorPool;
}

/** NVME_SMALL_POOL_SIZE: the small pool's block size (256 bytes). */
export const NVME_SMALL_POOL_SIZE = 256;
/** PRP entries in a small block: 256 / 8 = 32. */
export const NVME_SMALL_POOL_PRPS = NVME_SMALL_POOL_SIZE / NVME_PRP_ENTRY_SIZE;
/** PRP entries in a list page: NVME_CTRL_PAGE_SIZE >> 3 = 512 (the last one may chain). */
export const NVME_PRPS_PER_LIST_PAGE = NVME_CTRL_PAGE_SIZE / NVME_PRP_ENTRY_SIZE;

/** What nvme_pci_setup_prps() produced. */
export interface NvmePrpSetup {
  status: BlkStatus;
  /** cmnd->dptr.prp1: the first segment's DMA address. */
  prp1: number;
  /** cmnd->dptr.prp2: 0, the second page's address, or list 0's DMA address (iod->first_dma). */
  prp2: number;
  /** The PRP lists in chain order; list 0 is what PRP2 points to. */
  lists: NvmeDescriptorBlock[];
  /** iod->npages: -1 without a list, 0 for a small-pool list, else the number of list pages. */
  npages: number;
  /**
   * The layout is illegal for PRPs (BLK_STS_IOERR): the caller prints "Invalid SGL for
   * payload:%d nents:%d". The lists allocated so far are still allocated: the kernel does not
   * free them on this path (nvme_map_data() only unmaps the scatterlist).
   */
  invalid?: boolean;
}

function freeLists(lists: NvmeDescriptorBlock[]): void {
  for (const l of lists) l.pool.free(l);
}

/**
 * nvme_pci_setup_prps(dev, req, cmnd) (drivers/nvme/host/pci.c, v5.15-v6.16; §6.1): the PRP
 * entries for `payload` bytes (blk_rq_payload_bytes()) over `segs` (sg_dma_address/sg_dma_len of
 * the mapped entries). BLK_STS_RESOURCE when a pool is empty (everything allocated so far freed,
 * nvme_free_prps()), BLK_STS_IOERR with `invalid` for a segment that is not a multiple of 4 KiB
 * where the walk needs it to be. Throws when the segments hold fewer bytes than the payload (a
 * mapping that lost data; the kernel would run off the list).
 */
export function nvmePciSetupPrps(
  segs: readonly NvmeDmaSegment[],
  payload: number,
  pools: NvmeDescriptorPools,
): NvmePrpSetup {
  const PAGE = NVME_CTRL_PAGE_SIZE;
  if (!segs.length) throw new RangeError('nvme_pci_setup_prps: no DMA segments');
  let idx = 0;
  const next = (): void => {
    idx++;
    const s = segs[idx];
    if (!s) throw new RangeError(`nvme_pci_setup_prps: the segments end before ${payload} bytes`);
    dmaAddr = s.dmaAddress;
    dmaLen = s.length;
  };
  const prp1 = segs[0]!.dmaAddress;
  let dmaAddr = prp1;
  let dmaLen = segs[0]!.length;
  const offset = dmaAddr % PAGE;
  let length = payload;

  // PRP1 covers up to the end of its controller page.
  length -= PAGE - offset;
  if (length <= 0) return { status: BLK_STS_OK, prp1, prp2: 0, lists: [], npages: -1 };

  dmaLen -= PAGE - offset;
  if (dmaLen) dmaAddr += PAGE - offset;
  else next();

  if (length <= PAGE) return { status: BLK_STS_OK, prp1, prp2: dmaAddr, lists: [], npages: -1 };

  const nprps = Math.ceil(length / PAGE);
  const small = nprps <= NVME_SMALL_POOL_PRPS;
  const pool = small ? pools.small : pools.page;
  let npages = small ? 0 : 1;
  let list = pool.alloc();
  if (!list) return { status: BLK_STS_RESOURCE, prp1, prp2: dmaAddr, lists: [], npages: -1 };
  const lists = [list];
  const prp2 = list.dma;
  let i = 0;
  for (;;) {
    if (i === NVME_PRPS_PER_LIST_PAGE) {
      const old = list;
      const fresh = pool.alloc();
      if (!fresh) {
        freeLists(lists);
        return { status: BLK_STS_RESOURCE, prp1, prp2, lists: [], npages: -1 };
      }
      list = fresh;
      lists.push(list);
      npages++;
      // The last slot of the full page chains to the new one; its entry moves to slot 0.
      list.setLe64(0, old.getLe64Big(i - 1));
      old.setLe64(i - 1, list.dma);
      i = 1;
    }
    list.setLe64(i++, dmaAddr);
    dmaLen -= PAGE;
    dmaAddr += PAGE;
    length -= PAGE;
    if (length <= 0) break;
    if (dmaLen > 0) continue;
    if (dmaLen < 0) return { status: BLK_STS_IOERR, prp1, prp2, lists, npages, invalid: true };
    next();
  }
  return { status: BLK_STS_OK, prp1, prp2, lists, npages };
}

/**
 * The data addresses a PRP data pointer describes for `payload` bytes, read back from the lists
 * as a controller walks them (model introspection for tests and the controller model): PRP1,
 * then PRP2 or the list entries, following the chain pointer in the last slot of a full page.
 * `lookup` finds a list by DMA address (NvmeDescriptorPool.lookup of the driver's pools).
 */
export function nvmePrpWalk(
  prp1: number,
  prp2: number,
  payload: number,
  lookup: (dma: number) => { block: NvmeDescriptorBlock; offset: number } | undefined,
): number[] {
  const PAGE = NVME_CTRL_PAGE_SIZE;
  const out = [prp1];
  let left = payload - (PAGE - (prp1 % PAGE));
  if (left <= 0) return out;
  if (left <= PAGE) {
    out.push(prp2);
    return out;
  }
  let at = lookup(prp2);
  let slot = at ? at.offset / NVME_PRP_ENTRY_SIZE : 0;
  while (left > 0) {
    if (!at) throw new RangeError(`PRP list at 0x${prp2.toString(16)} is not a pool block`);
    const lastSlot = at.block.entries - 1;
    if (slot === lastSlot && left > PAGE) {
      // More than one page left in the last slot: it points to the next list.
      const nextList = at.block.getLe64(slot);
      at = lookup(nextList);
      slot = 0;
      continue;
    }
    out.push(at.block.getLe64(slot++));
    left -= PAGE;
  }
  return out;
}
