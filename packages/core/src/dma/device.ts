/**
 * The DMA side of struct device: masks, dma_parms, coherence and the dma_map_ops the device uses
 * (include/linux/device.h, include/linux/dma-mapping.h, drivers/pci/probe.c defaults; §4.1).
 *
 * Masks. DMA_BIT_MASK(64) does not fit a double; the model's physical and bus addresses are all
 * below 2^52 (see provider.ts), so a mask of 53 bits or more is stored as
 * Number.MAX_SAFE_INTEGER, which reaches every modelled address. Narrower masks are exact.
 */
import type { KernelLog } from '../kernel-log';
import type { PciDev } from '../pci/device';
import type { DmaMapOps } from './map-ops';

/** PCI core default max segment size (pci_device_add(): dma_set_max_seg_size(65536)). */
export const PCI_DEFAULT_MAX_SEG_SIZE = 65536;
/** PCI core default segment boundary (dma_set_seg_boundary(0xffffffff)). */
export const PCI_DEFAULT_SEG_BOUNDARY_MASK = 0xffff_ffff;
/** ULONG_MAX in the model: the boundary of a device without dma_parms. */
export const ULONG_MAX_MODEL = Number.MAX_SAFE_INTEGER;

/** DMA_BIT_MASK(n), saturated at 2^53 - 1 (see the file comment). */
export function dmaBitMask(bits: number): number {
  if (!Number.isInteger(bits) || bits < 0 || bits > 64) {
    throw new RangeError(`DMA_BIT_MASK(${bits}): bits must be 0..64`);
  }
  return bits >= 53 ? Number.MAX_SAFE_INTEGER : 2 ** bits - 1;
}

/** What a device's DMA parameters can be created with. */
export interface DmaDeviceParams {
  /** Streaming DMA mask in bits (dma_set_mask()); default 64 (the topology's dmaMaskBits wins). */
  dmaMaskBits?: number;
  /** Coherent DMA mask in bits; default = dmaMaskBits. */
  coherentDmaMaskBits?: number;
  /** bus_dma_limit: a limit the interconnect imposes, 0 for none. */
  busDmaLimit?: number;
  /** dma_parms->max_segment_size; default 65536 for PCI. */
  maxSegmentSize?: number;
  /** dma_parms->segment_boundary_mask; default 0xffffffff for PCI. */
  segmentBoundaryMask?: number;
  /** dev->dma_coherent: CPU caches snoop the device's DMA; default true (x86 PCI). */
  coherent?: boolean;
  /** dev->untrusted (external-facing port): the IOMMU path bounces every mapping. */
  untrusted?: boolean;
  /** dma_parms->min_align_mask: address bits a bounce buffer keeps (NVMe: 4095); default 0. */
  minAlignMask?: number;
}

export class DmaDevice {
  /** *dev->dma_mask (see dmaBitMask()). */
  dmaMask: number;
  dmaMaskBits: number;
  coherentDmaMask: number;
  /** dev->bus_dma_limit, 0 for none. */
  busDmaLimit: number;
  /** dma_get_max_seg_size() */
  maxSegmentSize: number;
  /** dma_get_seg_boundary() */
  segBoundaryMask: number;
  /** dev_is_dma_coherent() */
  coherent: boolean;
  untrusted: boolean;
  /** dma_get_min_align_mask() */
  minAlignMask: number;
  /** Name of the bound driver, undefined when none (device_release_driver() clears it). */
  driver: string | undefined = undefined;

  /**
   * @param name dev_name(): the BDF for a PCI function
   * @param pci the PCI function, undefined for a device that is not one
   * @param dmaOps get_dma_ops(dev): the ops of the design (or plugin) this kernel runs
   * @param log the kernel log WARNs and messages go to
   */
  constructor(
    readonly name: string,
    readonly pci: PciDev | undefined,
    public dmaOps: DmaMapOps,
    readonly log: KernelLog,
    params: DmaDeviceParams = {},
  ) {
    const bits = params.dmaMaskBits ?? pci?.props.dmaMaskBits ?? 64;
    this.dmaMaskBits = bits;
    this.dmaMask = dmaBitMask(bits);
    this.coherentDmaMask = dmaBitMask(params.coherentDmaMaskBits ?? bits);
    this.busDmaLimit = params.busDmaLimit ?? 0;
    this.maxSegmentSize =
      params.maxSegmentSize ?? (pci ? PCI_DEFAULT_MAX_SEG_SIZE : PCI_DEFAULT_MAX_SEG_SIZE);
    this.segBoundaryMask =
      params.segmentBoundaryMask ?? (pci ? PCI_DEFAULT_SEG_BOUNDARY_MASK : ULONG_MAX_MODEL);
    this.coherent = params.coherent ?? true;
    this.untrusted = params.untrusted ?? false;
    this.minAlignMask = params.minAlignMask ?? 0;
  }

  /**
   * min_not_zero(*dev->dma_mask, dev->bus_dma_limit): the highest address the device can reach,
   * as dma_capable() and the IOVA allocator use it.
   */
  get dmaLimit(): number {
    return this.busDmaLimit ? Math.min(this.dmaMask, this.busDmaLimit) : this.dmaMask;
  }
}
