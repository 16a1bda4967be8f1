/**
 * Reserved IOVA regions (struct iommu_resv_region, include/linux/iommu.h) and the ranges
 * dma-iommu keeps out of a DMA domain's IOVA space (iova_reserve_iommu_regions() and
 * iova_reserve_pci_windows(), drivers/iommu/dma-iommu.c, v5.x-7.0; reference §4.5).
 *
 * Per IOMMU driver (get_resv_regions):
 * - Intel VT-d (intel_iommu_get_resv_regions()): the interrupt window IOAPIC_RANGE_START..END,
 *   0xfee00000-0xfeefffff, as IOMMU_RESV_MSI (RMRRs from the DMAR table are not modelled).
 * - AMD-Vi (amd_iommu_get_resv_regions()): the same MSI window as IOMMU_RESV_MSI, and the
 *   HyperTransport range 0xfd00000000-0xffffffffff as IOMMU_RESV_RESERVED (recent kernels skip
 *   it when the IOMMU reports the range may be ignored, amd_iommu_ht_range_ignore(); modelled as
 *   always present). IVRS unity maps are not modelled.
 * - Arm SMMU (arm_smmu_get_resv_regions()): a software-managed MSI window MSI_IOVA_BASE
 *   0x8000000, 1 MiB, IOMMU_RESV_SW_MSI, which dma-iommu maps itself rather than reserves.
 *
 * dma-iommu reserves, for a PCI device: every memory window of its host bridge, as a bus address
 * (window start minus the window's CPU-to-bus offset), so that an IOVA never equals a BAR bus
 * address a switch would route peer-to-peer instead of sending it up to the IOMMU; then every
 * resv region except SW_MSI. Gaps between dma-ranges are not modelled (x86 host bridges have
 * none).
 */
import type { HostBridge, PciDev } from '../pci/device';
import type { CpuInfo } from '../pci/topology';
import { IOMMU_MMIO, IOMMU_NOEXEC, IOMMU_WRITE } from './prot';

/** enum iommu_resv_type. */
export enum IommuResvType {
  /** Memory the device must keep reaching at the same address (RMRR, IVMD). */
  IOMMU_RESV_DIRECT = 0,
  /** As DIRECT, but may be dropped when the device is assigned. */
  IOMMU_RESV_DIRECT_RELAXABLE = 1,
  /** Never usable as IOVA. */
  IOMMU_RESV_RESERVED = 2,
  /** Hardware MSI doorbell window, translated by interrupt remapping, not the page table. */
  IOMMU_RESV_MSI = 3,
  /** Software-managed MSI window: dma-iommu maps doorbells into it. */
  IOMMU_RESV_SW_MSI = 4,
}

export interface IommuResvRegion {
  readonly start: number;
  readonly length: number;
  readonly prot: number;
  readonly type: IommuResvType;
}

/** x86 MSI / interrupt window (IOAPIC_RANGE_START/END, MSI_RANGE_START/END). */
export const MSI_RANGE_START = 0xfee0_0000;
export const MSI_RANGE_END = 0xfeef_ffff;
/** AMD HyperTransport reserved range (HT_RANGE_START/END). */
export const HT_RANGE_START = 0xfd_0000_0000;
export const HT_RANGE_END = 0xff_ffff_ffff;
/** Arm SMMU software MSI window (MSI_IOVA_BASE, MSI_IOVA_LENGTH). */
export const MSI_IOVA_BASE = 0x800_0000;
export const MSI_IOVA_LENGTH = 0x10_0000;

/** iommu_get_resv_regions() for a device on a platform with this CPU (see the file comment). */
export function iommuGetResvRegions(cpu: CpuInfo): IommuResvRegion[] {
  const msi: IommuResvRegion = {
    start: MSI_RANGE_START,
    length: MSI_RANGE_END - MSI_RANGE_START + 1,
    prot: 0,
    type: IommuResvType.IOMMU_RESV_MSI,
  };
  switch (cpu.vendor) {
    case 'Intel':
      return [msi];
    case 'AMD':
      return [
        msi,
        {
          start: HT_RANGE_START,
          length: HT_RANGE_END - HT_RANGE_START + 1,
          prot: 0,
          type: IommuResvType.IOMMU_RESV_RESERVED,
        },
      ];
    case 'ARM':
      return [
        {
          start: MSI_IOVA_BASE,
          length: MSI_IOVA_LENGTH,
          prot: IOMMU_WRITE | IOMMU_NOEXEC | IOMMU_MMIO,
          type: IommuResvType.IOMMU_RESV_SW_MSI,
        },
      ];
    default:
      return [];
  }
}

/** An IOVA range dma-iommu reserves in a domain, [start, end) in bytes. */
export interface IovaReservedRange {
  readonly start: number;
  /** Exclusive. */
  readonly end: number;
  /** Where it comes from: a host bridge window, or a resv region's type. */
  readonly source: 'pci-window' | 'msi' | 'reserved' | 'direct';
  /** The host bridge, for a window. */
  readonly hostBridge?: HostBridge;
}

/**
 * iova_reserve_pci_windows(): the memory windows of the device's host bridge, as bus addresses
 * (CPU address + busOffset), in window order.
 */
export function iovaReservePciWindows(hb: HostBridge): IovaReservedRange[] {
  return hb.windows.map((w) => ({
    start: w.base + hb.busOffset,
    end: w.base + hb.busOffset + w.size,
    source: 'pci-window' as const,
    hostBridge: hb,
  }));
}

/**
 * iova_reserve_iommu_regions(): what a DMA domain's IOVA allocator must reserve for `dev`: its
 * host bridge windows, then its resv regions except IOMMU_RESV_SW_MSI ("we ARE the software that
 * manages these"). The IOVA allocator rounds each out to whole granules (reserve_iova() on
 * iova_pfn(start) .. iova_pfn(end - 1)).
 */
export function iovaReserveIommuRegions(dev: PciDev, cpu: CpuInfo): IovaReservedRange[] {
  const out = iovaReservePciWindows(dev.hostBridge);
  for (const r of iommuGetResvRegions(cpu)) {
    if (r.type === IommuResvType.IOMMU_RESV_SW_MSI) continue;
    out.push({
      start: r.start,
      end: r.start + r.length,
      source:
        r.type === IommuResvType.IOMMU_RESV_MSI
          ? 'msi'
          : r.type === IommuResvType.IOMMU_RESV_RESERVED
            ? 'reserved'
            : 'direct',
    });
  }
  return out;
}
