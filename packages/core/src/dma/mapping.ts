/**
 * The generic DMA mapping layer (kernel/dma/mapping.c, v6.0-v6.18; reference §3.3): the entry
 * points drivers call. They check their arguments, call the device's DmaMapOps, and enforce the
 * return conventions; the DMA-API debug checker (debug.ts) sees what they do through the ops
 * wrapper and the DmaDebugHooks.
 */
import { EINVAL, EIO, ENOMEM, EREMOTEIO, errnoName } from '../errno';
import type { KernelLog } from '../kernel-log';
import type { Page } from '../mm/page';
import { pageToPhys } from '../mm/page';
import type { Scatterlist, SgTable } from '../scatterlist/scatterlist';
import type { DmaDevice } from './device';
import { dmaBitMask } from './device';
import { validDmaDirection, type DmaDataDirection } from './direction';
import { DMA_MAPPING_ERROR } from './map-ops';

/** SIZE_MAX in the model. */
export const SIZE_MAX_MODEL = Number.MAX_SAFE_INTEGER;

const warnedOnce = new WeakMap<KernelLog, Set<string>>();

/** WARN_ON_ONCE(): the first time per kernel (log) and site. */
export function warnOnce(log: KernelLog, site: string, msg: string): void {
  let seen = warnedOnce.get(log);
  if (!seen) warnedOnce.set(log, (seen = new Set()));
  if (seen.has(site)) return;
  seen.add(site);
  log.warn(undefined, `WARNING: at ${site}: ${msg}`);
}

/** BUG_ON(!valid_dma_direction(dir)): a misuse the kernel crashes on; the model throws. */
function checkDirection(fn: string, dir: number): void {
  if (!validDmaDirection(dir)) {
    throw new RangeError(`${fn}: invalid DMA direction ${dir} (kernel BUG)`);
  }
}

/**
 * What a dma_map_sgtable() error means to the caller, in the words of
 * Documentation/core-api/dma-api.rst.
 */
export function dmaMapSgtableErrorText(ret: number): string {
  switch (ret) {
    case -EINVAL:
      return 'An invalid argument, unaligned access or other error in usage. Will fail again if retried.';
    case -ENOMEM:
      return 'Insufficient resources (like memory or IOVA space) to complete the mapping. Should succeed if retried later.';
    case -EIO:
      return 'Legacy error code with an unknown meaning. eg. this is returned if a lower level call returned DMA_MAPPING_ERROR.';
    case -EREMOTEIO:
      return 'The DMA device cannot access P2PDMA memory specified in the sg_table. This will not succeed if retried.';
    default:
      return `${errnoName(ret)} is not a dma_map_sgtable() error`;
  }
}

/**
 * __dma_map_sg_attrs(dev, sg, nents, dir, attrs) (v6.0+): invalid direction -> BUG (throws);
 * a device without a DMA mask -> WARN, 0; otherwise the ops' result, where anything that is
 * neither positive nor -EINVAL/-ENOMEM/-EIO/-EREMOTEIO is WARNed about once and becomes -EIO.
 */
function dmaMapSgAttrsInner(
  dev: DmaDevice,
  sgl: Scatterlist,
  nents: number,
  dir: DmaDataDirection,
  attrs: number,
): number {
  checkDirection('dma_map_sg', dir);
  if (!dev.dmaMask) {
    warnOnce(dev.log, 'kernel/dma/mapping.c __dma_map_sg_attrs', `${dev.name}: no DMA mask`);
    return 0;
  }
  const ents = dev.dmaOps.mapSg(dev, sgl, nents, dir, attrs);
  if (ents > 0) return ents;
  if (ents !== -EINVAL && ents !== -ENOMEM && ents !== -EIO && ents !== -EREMOTEIO) {
    warnOnce(
      dev.log,
      'kernel/dma/mapping.c __dma_map_sg_attrs',
      `${dev.dmaOps.name} map_sg returned ${ents} for ${dev.name}; only a count > 0, -EINVAL, ` +
        '-ENOMEM, -EIO or -EREMOTEIO are allowed (treated as -EIO)',
    );
    return -EIO;
  }
  return ents;
}

/**
 * dma_map_sg_attrs(dev, sg, nents, dir, attrs): the number of DMA segments (fewer than nents
 * when merged), or 0 on any error: the negative codes are flattened, as `unsigned int` does.
 */
export function dmaMapSgAttrs(
  dev: DmaDevice,
  sgl: Scatterlist,
  nents: number,
  dir: DmaDataDirection,
  attrs = 0,
): number {
  const ret = dmaMapSgAttrsInner(dev, sgl, nents, dir, attrs);
  return ret < 0 ? 0 : ret;
}

/**
 * dma_map_sgtable(dev, sgt, dir, attrs): maps sgt.origNents entries; 0 with sgt.nents set, or
 * -EINVAL / -ENOMEM / -EIO / -EREMOTEIO (see dmaMapSgtableErrorText()). A 0 from the ops (the
 * device has no DMA mask) is returned as 0 with sgt.nents = 0, as the kernel does.
 */
export function dmaMapSgtable(
  dev: DmaDevice,
  sgt: SgTable,
  dir: DmaDataDirection,
  attrs = 0,
): number {
  if (!sgt.sgl) throw new RangeError('dma_map_sgtable: the table has no entries');
  const nents = dmaMapSgAttrsInner(dev, sgt.sgl, sgt.origNents, dir, attrs);
  if (nents < 0) return nents;
  sgt.nents = nents;
  return 0;
}

/** dma_unmap_sg_attrs(dev, sg, nents, dir, attrs): `nents` is what was passed to the map. */
export function dmaUnmapSgAttrs(
  dev: DmaDevice,
  sgl: Scatterlist,
  nents: number,
  dir: DmaDataDirection,
  attrs = 0,
): void {
  checkDirection('dma_unmap_sg', dir);
  dev.dmaOps.unmapSg(dev, sgl, nents, dir, attrs);
}

/** dma_unmap_sgtable(): unmaps with orig_nents. */
export function dmaUnmapSgtable(
  dev: DmaDevice,
  sgt: SgTable,
  dir: DmaDataDirection,
  attrs = 0,
): void {
  if (!sgt.sgl) throw new RangeError('dma_unmap_sgtable: the table has no entries');
  dmaUnmapSgAttrs(dev, sgt.sgl, sgt.origNents, dir, attrs);
}

/** dma_map_phys(dev, phys, size, dir, attrs) (v6.18): a DMA address or DMA_MAPPING_ERROR. */
export function dmaMapPhys(
  dev: DmaDevice,
  phys: number,
  size: number,
  dir: DmaDataDirection,
  attrs = 0,
): number {
  checkDirection('dma_map_phys', dir);
  if (!dev.dmaMask) {
    warnOnce(dev.log, 'kernel/dma/mapping.c dma_map_phys', `${dev.name}: no DMA mask`);
    return DMA_MAPPING_ERROR;
  }
  return dev.dmaOps.mapPhys(dev, phys, size, dir, attrs);
}

/** dma_map_page_attrs(dev, page, offset, size, dir, attrs): dma_map_phys() of the page's byte. */
export function dmaMapPageAttrs(
  dev: DmaDevice,
  page: Page,
  offset: number,
  size: number,
  dir: DmaDataDirection,
  attrs = 0,
): number {
  return dmaMapPhys(dev, pageToPhys(page) + offset, size, dir, attrs);
}

/** dma_unmap_phys() / dma_unmap_page_attrs() */
export function dmaUnmapPhys(
  dev: DmaDevice,
  addr: number,
  size: number,
  dir: DmaDataDirection,
  attrs = 0,
): void {
  checkDirection('dma_unmap_phys', dir);
  dev.dmaOps.unmapPhys(dev, addr, size, dir, attrs);
}

/**
 * dma_map_resource(dev, phys, size, dir, attrs): an MMIO range; refuses RAM (WARN, error
 * cookie) as the kernel does (pfn_valid() check); DMA_MAPPING_ERROR when the ops have no
 * map_resource (dma-direct returns the physical address itself: its ops implement that).
 */
export function dmaMapResource(
  dev: DmaDevice,
  phys: number,
  size: number,
  dir: DmaDataDirection,
  attrs = 0,
  isRam?: (phys: number) => boolean,
): number {
  checkDirection('dma_map_resource', dir);
  if (isRam?.(phys)) {
    warnOnce(
      dev.log,
      'kernel/dma/mapping.c dma_map_resource',
      `${dev.name}: pfn_valid(PHYS_PFN(phys_addr))`,
    );
    return DMA_MAPPING_ERROR;
  }
  const ops = dev.dmaOps;
  if (!ops.mapResource) return DMA_MAPPING_ERROR;
  return ops.mapResource(dev, phys, size, dir, attrs);
}

/** dma_unmap_resource() */
export function dmaUnmapResource(
  dev: DmaDevice,
  addr: number,
  size: number,
  dir: DmaDataDirection,
  attrs = 0,
): void {
  checkDirection('dma_unmap_resource', dir);
  dev.dmaOps.unmapResource?.(dev, addr, size, dir, attrs);
}

/** dma_mapping_error(dev, addr): tells the debug checker the driver looked, then compares. */
export function dmaMappingError(dev: DmaDevice, addr: number): boolean {
  dev.dmaOps.debugMappingError?.(dev, addr);
  return addr === DMA_MAPPING_ERROR;
}

/** dma_sync_single_for_cpu() */
export function dmaSyncSingleForCpu(
  dev: DmaDevice,
  addr: number,
  size: number,
  dir: DmaDataDirection,
): void {
  checkDirection('dma_sync_single_for_cpu', dir);
  dev.dmaOps.syncSingleForCpu?.(dev, addr, size, dir);
}

/** dma_sync_single_for_device() */
export function dmaSyncSingleForDevice(
  dev: DmaDevice,
  addr: number,
  size: number,
  dir: DmaDataDirection,
): void {
  checkDirection('dma_sync_single_for_device', dir);
  dev.dmaOps.syncSingleForDevice?.(dev, addr, size, dir);
}

/** dma_sync_sg_for_cpu(): `nents` as passed to the map. */
export function dmaSyncSgForCpu(
  dev: DmaDevice,
  sgl: Scatterlist,
  nents: number,
  dir: DmaDataDirection,
): void {
  checkDirection('dma_sync_sg_for_cpu', dir);
  dev.dmaOps.syncSgForCpu?.(dev, sgl, nents, dir);
}

/** dma_sync_sg_for_device() */
export function dmaSyncSgForDevice(
  dev: DmaDevice,
  sgl: Scatterlist,
  nents: number,
  dir: DmaDataDirection,
): void {
  checkDirection('dma_sync_sg_for_device', dir);
  dev.dmaOps.syncSgForDevice?.(dev, sgl, nents, dir);
}

/** dma_sync_sgtable_for_cpu() */
export function dmaSyncSgtableForCpu(dev: DmaDevice, sgt: SgTable, dir: DmaDataDirection): void {
  if (sgt.sgl) dmaSyncSgForCpu(dev, sgt.sgl, sgt.origNents, dir);
}

/** dma_sync_sgtable_for_device() */
export function dmaSyncSgtableForDevice(dev: DmaDevice, sgt: SgTable, dir: DmaDataDirection): void {
  if (sgt.sgl) dmaSyncSgForDevice(dev, sgt.sgl, sgt.origNents, dir);
}

/** dma_max_mapping_size(): the ops' limit, SIZE_MAX without one. */
export function dmaMaxMappingSize(dev: DmaDevice): number {
  return dev.dmaOps.maxMappingSize?.(dev) ?? SIZE_MAX_MODEL;
}

/** dma_opt_mapping_size(): min(the ops' optimum or SIZE_MAX, dma_max_mapping_size()). */
export function dmaOptMappingSize(dev: DmaDevice): number {
  const opt = dev.dmaOps.optMappingSize?.() ?? SIZE_MAX_MODEL;
  return Math.min(opt, dmaMaxMappingSize(dev));
}

/** dma_get_merge_boundary(): 0 when the ops cannot merge. */
export function dmaGetMergeBoundary(dev: DmaDevice): number {
  return dev.dmaOps.getMergeBoundary?.(dev) ?? 0;
}

/**
 * dma_pci_p2pdma_supported(dev) (v6.0-v6.11: no ops, or ops->flags has
 * DMA_F_PCI_P2PDMA_SUPPORTED; v6.12+: no ops, which dma-direct and dma-iommu are): whether
 * the device's DMA ops can map PCI P2PDMA pages. NVMe and RDMA gate P2P on it.
 */
export function dmaPciP2pdmaSupported(dev: DmaDevice): boolean {
  return dev.dmaOps.capabilities.pciP2pdma;
}

/** dma_set_mask(dev, mask) for a mask of `bits` bits: 0, or -EIO for a mask below 24 bits. */
export function dmaSetMask(dev: DmaDevice, bits: number): number {
  // dma_supported(): dma-direct refuses masks below the lowest ZONE_DMA address (24 bits).
  if (bits < 24) return -EIO;
  dev.dmaMaskBits = bits;
  dev.dmaMask = dmaBitMask(bits);
  return 0;
}

/** dma_set_mask_and_coherent() */
export function dmaSetMaskAndCoherent(dev: DmaDevice, bits: number): number {
  const ret = dmaSetMask(dev, bits);
  if (!ret) dev.coherentDmaMask = dmaBitMask(bits);
  return ret;
}

/** dma_set_max_seg_size() */
export function dmaSetMaxSegSize(dev: DmaDevice, size: number): void {
  dev.maxSegmentSize = size;
}

/** dma_set_seg_boundary() */
export function dmaSetSegBoundary(dev: DmaDevice, mask: number): void {
  dev.segBoundaryMask = mask;
}

/** device_release_driver(): the driver lets go; the debug checker looks for leaks. */
export function deviceReleaseDriver(dev: DmaDevice): void {
  const driver = dev.driver;
  if (driver === undefined) return;
  dev.driver = undefined;
  dev.dmaOps.debugDriverUnbound?.(dev, driver);
}
