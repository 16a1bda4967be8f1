/**
 * IOMMU faults: a DMA the IOMMU refused, and the line the IOMMU driver's fault handler prints.
 *
 * Log formats, by CPU vendor:
 * - Intel VT-d, dmar_fault_do_one() (drivers/iommu/intel/dmar.c, v5.x-7.0, legacy-mode reasons
 *   from dma_remap_fault_reasons[]), pr_err with pr_fmt "DMAR: ":
 *   `DMAR: [DMA Read NO_PASID] Request device [03:00.0] fault addr 0x1000 [fault reason 0x06] PTE Read access is not set`
 *   Second-level PTEs have no present bit apart from R/W, so an unmapped IOVA and a missing
 *   permission give the same reason (0x05 write / 0x06 read); a blocked device has no context
 *   entry (0x02); an IOVA beyond the address width is 0x04.
 * - AMD-Vi, amd_iommu_report_page_fault() (drivers/iommu/amd/iommu.c, v5.14-7.0), pci_err():
 *   `Event logged [IO_PAGE_FAULT domain=0x0001 address=0x1000 flags=0x0020]`
 *   flags (IO_PAGE_FAULT event, AMD IOMMU spec 2.5.3): RW 0x20 for a write, PR 0x10 when a
 *   translation was present, PE 0x40 when it lacked the permission.
 * - Arm SMMUv3, arm_smmu_evtq_thread() (before v6.14): dev_info "event 0x10 received:"
 *   (F_TRANSLATION) or "event 0x13 received:" (F_PERMISSION); a blocked device's STE aborts
 *   without recording an event, so nothing is printed.
 * - Other vendors: recorded, not printed.
 */
import { DmaDataDirection } from '../dma/direction';
import { printkHex } from '../kernel-log';
import type { PciDev } from '../pci/device';
import type { CpuInfo } from '../pci/topology';

export type IommuFaultReason = 'unmapped' | 'permission' | 'blocked';

/** A DMA the IOMMU refused. No data moved. */
export interface IommuFault {
  /** pci_name() of the requester. */
  readonly device: string;
  /** The DMA address (IOVA) of the first byte refused. */
  readonly address: number;
  /** DMA_TO_DEVICE for a device read of memory, DMA_FROM_DEVICE for a device write. */
  readonly direction: DmaDataDirection.DMA_TO_DEVICE | DmaDataDirection.DMA_FROM_DEVICE;
  readonly reason: IommuFaultReason;
  /** The domain the device was attached to. */
  readonly domainId: number;
  /** The address lies beyond the domain's aperture (reason 'unmapped'). */
  readonly beyondAperture: boolean;
  /** The line the driver printed, if it prints one. */
  readonly message?: string;
}

/** VT-d legacy fault reasons used here (dma_remap_fault_reasons[]). */
const VTD_REASONS: Record<number, string> = {
  0x02: 'Present bit in context entry is clear',
  0x04: 'Access beyond MGAW',
  0x05: 'PTE Write access is not set',
  0x06: 'PTE Read access is not set',
};

/** AMD-Vi IO_PAGE_FAULT event flag bits. */
export const EVENT_FLAG_PR = 0x010;
export const EVENT_FLAG_RW = 0x020;
export const EVENT_FLAG_PE = 0x040;

/** The fault record without the message. */
export type IommuFaultInfo = Omit<IommuFault, 'message'>;

/**
 * The line the platform's IOMMU driver logs for `fault` and the device it names (undefined for
 * pr_*() lines), or undefined when it prints none.
 */
export function iommuFaultLogLine(
  cpu: CpuInfo,
  dev: PciDev,
  fault: IommuFaultInfo,
): { level: 'err' | 'info'; dev: PciDev | string | undefined; msg: string } | undefined {
  const write = fault.direction === DmaDataDirection.DMA_FROM_DEVICE;
  switch (cpu.vendor) {
    case 'Intel': {
      const code =
        fault.reason === 'blocked' ? 0x02 : fault.beyondAperture ? 0x04 : write ? 0x05 : 0x06;
      const bdf = `${hex2(dev.bus)}:${hex2(dev.slot)}.${dev.fn}`;
      return {
        level: 'err',
        dev: undefined,
        msg:
          `DMAR: [${write ? 'DMA Write' : 'DMA Read'} NO_PASID] Request device [${bdf}] ` +
          `fault addr ${printkHex(fault.address)} [fault reason ${printkHex2(code)}] ${VTD_REASONS[code]}`,
      };
    }
    case 'AMD': {
      let flags = write ? EVENT_FLAG_RW : 0;
      if (fault.reason === 'permission') flags |= EVENT_FLAG_PR | EVENT_FLAG_PE;
      return {
        level: 'err',
        dev,
        msg: `Event logged [IO_PAGE_FAULT domain=${hex04(fault.domainId)} address=${printkHex(fault.address)} flags=${hex04(flags)}]`,
      };
    }
    case 'ARM':
      if (fault.reason === 'blocked') return undefined;
      return {
        level: 'info',
        dev: 'arm-smmu-v3',
        msg: `event ${printkHex2(fault.reason === 'permission' ? 0x13 : 0x10)} received:`,
      };
    default:
      return undefined;
  }
}

function hex2(n: number): string {
  return n.toString(16).padStart(2, '0');
}

/** `0x%02x` */
function printkHex2(n: number): string {
  return `0x${hex2(n)}`;
}

/** `0x%04x` */
function hex04(n: number): string {
  return `0x${n.toString(16).padStart(4, '0')}`;
}
