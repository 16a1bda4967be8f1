/**
 * The IOMMU hardware of one simulated machine and the IOMMU core's view of it
 * (drivers/iommu/iommu.c, v6.x-7.0; reference §4): one IOMMU unit per host bridge, each with its
 * IOTLB; every PCI function in an IOMMU group (pci_device_group(), pci/iommu-group.ts); one
 * domain per group, whose type follows the kernel's default domain policy:
 *
 *   platform.iommu.mode   iommu.* command line   default domain
 *   passthrough           passthrough=1          IDENTITY (one shared identity domain)
 *   strict                strict=1               DMA      (IOTLB invalidated on every unmap)
 *   lazy (default)        strict=0               DMA_FQ   (invalidations batched by flush queues)
 *
 * With no `platform.iommu` (or `enabled: false`) there is no IOMMU: no groups or domains, and a
 * device's DMA address reaches memory untranslated.
 *
 * dmaAccess() is the translation a DMA goes through at the root complex. Peer-to-peer TLPs that a
 * switch routes (§4.6 BUS_ADDR) never reach it; deciding that is the fabric's job, not this one's.
 */
import { DmaDataDirection, validDmaDirection } from '../dma/direction';
import { EBUSY, EFAULT, EINVAL } from '../errno';
import { printkHex, type KernelLog } from '../kernel-log';
import type { HostBridge, PciDev } from '../pci/device';
import { computeIommuGroups } from '../pci/iommu-group';
import type { PciTopology } from '../pci/topology';
import type { IommuMode } from '../pci/topology-schema';
import {
  IOMMU_DOMAIN_BLOCKED,
  IOMMU_DOMAIN_DMA,
  IOMMU_DOMAIN_DMA_FQ,
  IOMMU_DOMAIN_IDENTITY,
  IOMMU_DOMAIN_UNMANAGED,
  IommuDomain,
  iommuDomainTypeStr,
  type IommuDomainType,
} from './domain';
import { iommuFaultLogLine, type IommuFault, type IommuFaultInfo } from './fault';
import {
  emptyIotlbStats,
  IommuIotlbGather,
  iommuIotlbGatherAddRange,
  iommuIotlbGatherInit,
  iommuIotlbGatherIsDisjoint,
  Iotlb,
  type IotlbEntry,
  type IotlbStats,
} from './iotlb';
import { IOMMU_READ, IOMMU_WRITE } from './prot';
import {
  iommuGetResvRegions,
  iovaReserveIommuRegions,
  type IommuResvRegion,
  type IovaReservedRange,
} from './resv-region';
import { printkPad } from '../printk';

/** IOTLB entries per unit when the topology does not say. */
export const DEFAULT_IOTLB_ENTRIES = 64;

/** The platform.iommu settings with defaults applied. */
export interface IommuConfig {
  granule: number;
  mode: IommuMode;
  addressWidth: number;
  iotlbEntries: number;
  superpages: boolean;
}

/** One IOMMU unit (a VT-d DRHD, an AMD-Vi IOMMU): the one serving a host bridge. */
export class IommuUnit {
  constructor(
    readonly index: number,
    readonly hostBridge: HostBridge,
    readonly iotlb: Iotlb,
  ) {}
}

/** struct iommu_group. */
export class IommuGroup {
  /** The domain the group is attached to now (group->domain). */
  domain: IommuDomain;

  constructor(
    /** As /sys/kernel/iommu_groups/<id>. */
    readonly id: number,
    readonly devices: readonly PciDev[],
    /** Index of the IOMMU unit the group sits behind. */
    readonly unit: number,
    /** group->default_domain. */
    readonly defaultDomain: IommuDomain,
  ) {
    this.domain = defaultDomain;
  }
}

/** One physically contiguous piece of a DMA after translation. */
export interface DmaAccessSegment {
  readonly iova: number;
  readonly paddr: number;
  readonly size: number;
}

/** What a DMA through the IOMMU came to. */
export type DmaAccessResult =
  | {
      readonly ok: true;
      /** False when no page table was consulted (no IOMMU, or an identity domain). */
      readonly translated: boolean;
      /** Physical address of the first byte. */
      readonly paddr: number;
      /** The physical pieces, in IOVA order (adjacent pieces merged). */
      readonly segments: readonly DmaAccessSegment[];
    }
  | {
      readonly ok: false;
      readonly fault: IommuFault;
      /** A faulting DMA moves nothing. */
      readonly bytesMoved: 0;
    };

const DEFAULT_DOMAIN_TYPE: Record<IommuMode, IommuDomainType> = {
  passthrough: IOMMU_DOMAIN_IDENTITY,
  strict: IOMMU_DOMAIN_DMA,
  lazy: IOMMU_DOMAIN_DMA_FQ,
};

export class Iommu {
  readonly enabled: boolean;
  /** The settings; undefined without an IOMMU. */
  readonly config: IommuConfig | undefined;
  /** One unit per host bridge, indexed like topology.hostBridges. */
  readonly units: readonly IommuUnit[];
  /** Every IOMMU group, by id. */
  readonly groups: readonly IommuGroup[];
  /** Every fault so far, oldest first. */
  readonly faults: IommuFault[] = [];
  /** Calls so far, for the cost model (IOTLB counters: iotlbStats()). */
  readonly counters = { iommuMap: 0, iommuUnmap: 0, iotlbSync: 0, flushIotlbAll: 0, dmaAccess: 0 };
  private readonly groupByDev: (IommuGroup | undefined)[] = [];
  private nextDomainId = 1;
  private identityDomain: IommuDomain | undefined;
  private blockingDomain: IommuDomain | undefined;

  constructor(
    readonly topology: PciTopology,
    private readonly log: KernelLog,
  ) {
    const spec = topology.platform.iommu;
    this.enabled = spec?.enabled ?? false;
    if (!spec || !this.enabled) {
      this.config = undefined;
      this.units = [];
      this.groups = [];
      return;
    }
    const config: IommuConfig = {
      granule: spec.granule,
      mode: spec.mode,
      addressWidth: spec.addressWidth,
      iotlbEntries: spec.iotlbEntries ?? DEFAULT_IOTLB_ENTRIES,
      superpages: spec.superpages,
    };
    this.config = config;
    this.units = topology.hostBridges.map(
      (hb, i) => new IommuUnit(i, hb, new Iotlb(config.iotlbEntries)),
    );
    // iommu_subsys_init()
    const defType = DEFAULT_DOMAIN_TYPE[config.mode];
    log.info(undefined, `iommu: Default domain type: ${iommuDomainTypeStr(defType)}`);
    if (defType !== IOMMU_DOMAIN_IDENTITY) {
      log.info(undefined, `iommu: DMA domain TLB invalidation policy: ${config.mode} mode`);
    }
    // iommu_probe_device() in enumeration order: group, then the group's default domain.
    const { groups } = computeIommuGroups(topology);
    this.groups = groups.map((members, id) => {
      const unit = members[0]!.hostBridge.index;
      const dom = this.defaultDomainFor(defType);
      dom.units.add(unit);
      const g = new IommuGroup(id, members, unit, dom);
      for (const d of members) {
        this.groupByDev[d.index] = g;
        log.info(d, `Adding to iommu group ${id}`);
      }
      return g;
    });
  }

  private newDomain(type: IommuDomainType): IommuDomain {
    const c = this.config!;
    return new IommuDomain(this.nextDomainId++, type, {
      granule: c.granule,
      superpages: c.superpages,
      addressWidth: c.addressWidth,
    });
  }

  private defaultDomainFor(type: IommuDomainType): IommuDomain {
    if (type === IOMMU_DOMAIN_IDENTITY) {
      // Intel and AMD share one static identity domain among all devices (v6.8+).
      this.identityDomain ??= this.newDomain(IOMMU_DOMAIN_IDENTITY);
      return this.identityDomain;
    }
    return this.newDomain(type);
  }

  private pdev(dev: PciDev | string): PciDev {
    return typeof dev === 'string' ? this.topology.get(dev) : dev;
  }

  /** iommu_group_get(): the device's group; undefined without an IOMMU. */
  iommuGroupGet(dev: PciDev | string): IommuGroup | undefined {
    return this.groupByDev[this.pdev(dev).index];
  }

  /** iommu_get_domain_for_dev(): the domain the device's group is attached to now. */
  iommuGetDomainForDev(dev: PciDev | string): IommuDomain | undefined {
    return this.iommuGroupGet(dev)?.domain;
  }

  /** The IOMMU unit a device's DMA goes through; undefined without an IOMMU. */
  iommuUnitOf(dev: PciDev | string): IommuUnit | undefined {
    const g = this.iommuGroupGet(dev);
    return g ? this.units[g.unit] : undefined;
  }

  /** iommu_paging_domain_alloc() (v6.11+): a new UNMANAGED paging domain (VFIO, a driver). */
  iommuPagingDomainAlloc(): IommuDomain {
    if (!this.enabled) throw new Error('iommuPagingDomainAlloc: the platform has no IOMMU');
    return this.newDomain(IOMMU_DOMAIN_UNMANAGED);
  }

  /**
   * iommu_attach_group(): attaches `group` to `domain`; -EBUSY when the group is not on its
   * default domain (someone else owns it). The old domain's IOTLB entries on the unit are
   * invalidated (VT-d clears the context entry and issues a domain-selective flush).
   */
  iommuAttachGroup(domain: IommuDomain, group: IommuGroup): number {
    if (group.domain !== group.defaultDomain) return -EBUSY;
    if (!domain.isPaging) return -EINVAL;
    this.setGroupDomain(group, domain);
    return 0;
  }

  /** iommu_detach_group(): back to the default domain. */
  iommuDetachGroup(domain: IommuDomain, group: IommuGroup): void {
    if (group.domain !== domain) return;
    this.setGroupDomain(group, group.defaultDomain);
  }

  /**
   * __iommu_group_set_blocking_domain(): the group's DMA is blocked (what DMA ownership claims
   * and failed attaches leave). One static blocked domain is shared, as Intel and AMD have it.
   */
  iommuGroupSetBlockingDomain(group: IommuGroup): void {
    this.blockingDomain ??= this.newDomain(IOMMU_DOMAIN_BLOCKED);
    this.setGroupDomain(group, this.blockingDomain);
  }

  private setGroupDomain(group: IommuGroup, domain: IommuDomain): void {
    const old = group.domain;
    if (old === domain) return;
    if (old.isPaging) this.units[group.unit]!.iotlb.invalidateDomain(old.id);
    group.domain = domain;
    domain.units.add(group.unit);
  }

  /**
   * iommu_map(): maps [iova, iova + size) to paddr in a paging domain; 0 or -errno. Non-paging
   * domains: -EINVAL. IOVA, paddr and size not multiples of the granule: -EINVAL with the core's
   * "unaligned" message. Otherwise the page table's rules (page-table.ts), with VT-d's message
   * when the range exceeds the address width.
   */
  iommuMap(domain: IommuDomain, iova: number, paddr: number, size: number, prot: number): number {
    this.counters.iommuMap++;
    const pt = domain.pageTable;
    if (!pt) return -EINVAL;
    const g = domain.granule;
    if (iova % g || paddr % g || size % g) {
      this.log.err(
        undefined,
        `iommu: unaligned: iova ${printkHex(iova)} pa ${printkPad(paddr)} size ${printkHex(size)} min_pagesz ${printkHex(g)}`,
      );
      return -EINVAL;
    }
    const ret = pt.map(iova, paddr, size, prot);
    if (ret === -EFAULT && this.topology.cpu.vendor === 'Intel') {
      this.log.err(
        undefined,
        `DMAR: intel_iommu_map: iommu width (${this.config!.addressWidth}) is not sufficient for the mapped address (${(iova + size).toString(16)})`,
      );
    }
    return ret;
  }

  /**
   * iommu_unmap_fast(): unmaps from `iova`, returning the bytes unmapped (page-table.ts), and
   * gathers the range for a later iommuIotlbSync() unless `gather.queued` (a flush-queue domain:
   * the page tables do not gather, the flush queue flushes the whole domain later).
   */
  iommuUnmapFast(
    domain: IommuDomain,
    iova: number,
    size: number,
    gather: IommuIotlbGather,
  ): number {
    this.counters.iommuUnmap++;
    const pt = domain.pageTable;
    if (!pt) return 0;
    const g = domain.granule;
    if (iova % g || size % g) {
      this.log.err(
        undefined,
        `iommu: unaligned: iova ${printkHex(iova)} size ${printkHex(size)} min_pagesz ${printkHex(g)}`,
      );
      return 0;
    }
    if (gather.queued) return pt.unmap(iova, size);
    return pt.unmap(iova, size, (leafIova, leafSize) =>
      this.iommuIotlbGatherAddPage(domain, gather, leafIova, leafSize),
    );
  }

  /** iommu_unmap(): iommu_unmap_fast() with its own gather, synced before returning (strict). */
  iommuUnmap(domain: IommuDomain, iova: number, size: number): number {
    const gather = new IommuIotlbGather();
    const n = this.iommuUnmapFast(domain, iova, size, gather);
    this.iommuIotlbSync(domain, gather);
    return n;
  }

  /**
   * iommu_iotlb_gather_add_page(): a page of another size, or one disjoint from the gathered
   * range, syncs what was gathered first.
   */
  iommuIotlbGatherAddPage(
    domain: IommuDomain,
    gather: IommuIotlbGather,
    iova: number,
    size: number,
  ): void {
    if ((gather.pgsize && gather.pgsize !== size) || iommuIotlbGatherIsDisjoint(gather, iova, size))
      this.iommuIotlbSync(domain, gather);
    gather.pgsize = size;
    iommuIotlbGatherAddRange(gather, iova, size);
  }

  /**
   * iommu_iotlb_sync(): one range invalidation of the gathered range on every unit the domain is
   * attached through, then the gather is emptied. Nothing gathered: nothing issued.
   */
  iommuIotlbSync(domain: IommuDomain, gather: IommuIotlbGather): void {
    if (!gather.empty) {
      this.counters.iotlbSync++;
      for (const u of domain.units) {
        this.units[u]!.iotlb.invalidateRange(domain.id, gather.start, gather.end);
      }
    }
    iommuIotlbGatherInit(gather);
  }

  /** iommu_flush_iotlb_all(): a domain-wide invalidation on every unit (the flush queue's flush). */
  iommuFlushIotlbAll(domain: IommuDomain): void {
    this.counters.flushIotlbAll++;
    for (const u of domain.units) this.units[u]!.iotlb.invalidateDomain(domain.id);
  }

  /**
   * iommu_iova_to_phys(): identity domains return the IOVA, blocked domains 0, paging domains
   * what the page table maps (0 when unmapped, as the kernel returns).
   */
  iommuIovaToPhys(domain: IommuDomain, iova: number): number {
    if (domain.type === IOMMU_DOMAIN_IDENTITY) return iova;
    return domain.pageTable?.iovaToPhys(iova) ?? 0;
  }

  /** iommu_get_resv_regions() (resv-region.ts); none without an IOMMU. */
  iommuGetResvRegions(dev: PciDev | string): IommuResvRegion[] {
    if (!this.iommuGroupGet(dev)) return [];
    return iommuGetResvRegions(this.topology.cpu);
  }

  /**
   * The IOVA ranges dma-iommu reserves in the device's DMA domain (iova_reserve_iommu_regions():
   * host bridge windows as bus addresses, then the resv regions but SW_MSI); none without an
   * IOMMU.
   */
  iovaReservedRanges(dev: PciDev | string): IovaReservedRange[] {
    const pdev = this.pdev(dev);
    if (!this.iommuGroupGet(pdev)) return [];
    return iovaReserveIommuRegions(pdev, this.topology.cpu);
  }

  /** IOTLB counters summed over the units. */
  iotlbStats(): IotlbStats {
    const sum = emptyIotlbStats();
    for (const u of this.units) {
      for (const k of Object.keys(sum) as (keyof IotlbStats)[]) sum[k] += u.iotlb.stats[k];
    }
    return sum;
  }

  /**
   * A DMA of `size` bytes at DMA address `iova` by `dev`, in direction `dir` of the data
   * (DMA_TO_DEVICE: the device reads memory and needs IOMMU_READ; DMA_FROM_DEVICE: it writes and
   * needs IOMMU_WRITE; DMA_BIDIRECTIONAL: both). No IOMMU or an identity domain: passes through.
   * Blocked domain: a 'blocked' fault. Paging domain: each page is looked up in the unit's IOTLB
   * (a hit or a miss; a miss walks the page table and fills the IOTLB, so a stale entry left by a
   * lazy unmap still translates), then checked against the permission. The first page that is not
   * mapped or not permitted faults the whole DMA: the fault is recorded and logged, nothing moves.
   */
  dmaAccess(
    dev: PciDev | string,
    iova: number,
    size: number,
    dir: DmaDataDirection,
  ): DmaAccessResult {
    if (!Number.isSafeInteger(iova) || iova < 0 || !Number.isSafeInteger(size) || size <= 0) {
      throw new RangeError(`dmaAccess: bad range ${iova} + ${size}`);
    }
    if (!validDmaDirection(dir)) throw new RangeError(`dmaAccess: invalid direction ${dir}`);
    this.counters.dmaAccess++;
    const pdev = this.pdev(dev);
    const group = this.iommuGroupGet(pdev);
    const passthrough = (): DmaAccessResult => ({
      ok: true,
      translated: false,
      paddr: iova,
      segments: [{ iova, paddr: iova, size }],
    });
    if (!group) return passthrough();
    const domain = group.domain;
    if (domain.type === IOMMU_DOMAIN_IDENTITY) return passthrough();
    const faultDir =
      dir === DmaDataDirection.DMA_FROM_DEVICE
        ? DmaDataDirection.DMA_FROM_DEVICE
        : DmaDataDirection.DMA_TO_DEVICE;
    if (!domain.pageTable) {
      return this.fault(pdev, { address: iova, direction: faultDir, reason: 'blocked', domain });
    }
    const need =
      dir === DmaDataDirection.DMA_TO_DEVICE
        ? IOMMU_READ
        : dir === DmaDataDirection.DMA_FROM_DEVICE
          ? IOMMU_WRITE
          : IOMMU_READ | IOMMU_WRITE;
    const iotlb = this.units[group.unit]!.iotlb;
    const pt = domain.pageTable;
    const sizes = pt.superpageSize ? [pt.superpageSize, pt.granule] : [pt.granule];
    const segments: DmaAccessSegment[] = [];
    const end = iova + size;
    for (let at = iova; at < end;) {
      if (at > domain.geometry.apertureEnd) {
        return this.fault(pdev, {
          address: at,
          direction: faultDir,
          reason: 'unmapped',
          domain,
          beyondAperture: true,
        });
      }
      let e: IotlbEntry | undefined = iotlb.lookup(domain.id, at, sizes);
      if (!e) {
        const pte = pt.leafAt(at);
        if (!pte) {
          return this.fault(pdev, { address: at, direction: faultDir, reason: 'unmapped', domain });
        }
        e = {
          domainId: domain.id,
          iova: pte.iova,
          size: pte.size,
          paddr: pte.paddr,
          prot: pte.prot,
        };
        iotlb.fill(e);
      }
      if ((e.prot & need) !== need) {
        const missingRead = need & IOMMU_READ && !(e.prot & IOMMU_READ);
        return this.fault(pdev, {
          address: at,
          direction: missingRead
            ? DmaDataDirection.DMA_TO_DEVICE
            : DmaDataDirection.DMA_FROM_DEVICE,
          reason: 'permission',
          domain,
        });
      }
      const stop = Math.min(end, e.iova + e.size);
      const paddr = e.paddr + (at - e.iova);
      const last = segments[segments.length - 1];
      if (last && last.paddr + last.size === paddr) {
        segments[segments.length - 1] = { ...last, size: last.size + (stop - at) };
      } else {
        segments.push({ iova: at, paddr, size: stop - at });
      }
      at = stop;
    }
    return { ok: true, translated: true, paddr: segments[0]!.paddr, segments };
  }

  private fault(
    pdev: PciDev,
    f: {
      address: number;
      direction: DmaDataDirection.DMA_TO_DEVICE | DmaDataDirection.DMA_FROM_DEVICE;
      reason: IommuFault['reason'];
      domain: IommuDomain;
      beyondAperture?: boolean;
    },
  ): DmaAccessResult {
    const info: IommuFaultInfo = {
      device: pdev.bdf,
      address: f.address,
      direction: f.direction,
      reason: f.reason,
      domainId: f.domain.id,
      beyondAperture: f.beyondAperture ?? false,
    };
    const line = iommuFaultLogLine(this.topology.cpu, pdev, info);
    const fault: IommuFault = line ? { ...info, message: line.msg } : info;
    if (line) this.log[line.level](line.dev, line.msg);
    this.faults.push(fault);
    return { ok: false, fault, bytesMoved: 0 };
  }
}
