/**
 * The PCI device model: one object per PCI function, as the kernel's struct pci_dev, linked to the
 * bridge above it (pci_upstream_bridge) and to its host bridge (struct pci_host_bridge).
 */
import { formatBdf, formatBus, mapTypesIdx, pciFunc, pciSlot, type PciAddress } from './bdf';
import type { DeviceClass, DeviceKind, DeviceSpec, HostBridgeSpec } from './topology-schema';
import type { SpecPath } from '../input-error';

/**
 * PCIe device/port type from the Express capability (PCI_EXP_TYPE_*), or 'pci' for a conventional
 * PCI function (no Express capability: behind a PCIe-to-PCI bridge, or a legacy host bridge).
 */
export type PcieType =
  | 'endpoint'
  | 'rc-endpoint'
  | 'root-port'
  | 'upstream'
  | 'downstream'
  | 'pcie-to-pci-bridge'
  | 'pci';

export interface PciBar {
  bar: number;
  size: number;
  prefetchable: boolean;
  /** CPU physical address (pci_resource_start). */
  cpuAddress: number;
  /** PCI bus address (pci_bus_address) = cpuAddress + host bridge busOffset. */
  busAddress: number;
}

/** An address window a bridge forwards downstream, in CPU physical addresses. */
export interface PciWindow {
  base: number;
  size: number;
  prefetchable: boolean;
}

export interface PciLink {
  gen: number;
  width: number;
}

export interface PciCmb {
  bar: number;
  offset: number;
  size: number;
  rds: boolean;
  wds: boolean;
  sqs: boolean;
}

export interface PciAcs {
  /** ACS Capability register bits (PCI_ACS_*). */
  readonly cap: number;
  /** ACS Control register bits (PCI_ACS_*). */
  ctrl: number;
}

/** A host bridge (struct pci_host_bridge) and its root bus. */
export class HostBridge {
  /** Functions on the root bus, sorted by devfn. */
  readonly rootDevices: PciDev[] = [];
  /** Memory windows the host bridge decodes (CPU physical addresses), set by assignResources. */
  windows: PciWindow[] = [];
  /** The spec this host bridge was built from. */
  source?: HostBridgeSpec;

  constructor(
    readonly index: number,
    readonly name: string,
    readonly domain: number,
    readonly bus: number,
    readonly numaNode: number | undefined,
    readonly busOffset: number,
    readonly specPath: SpecPath,
  ) {}

  /**
   * pci_host_bridge_dev() as drivers/pci/p2pdma.c defines it: the first function on the root bus,
   * accepted only if it is devfn 00.0 or a PCIe root port; otherwise there is none.
   */
  get allowlistDevice(): PciDev | undefined {
    const first = this.rootDevices[0];
    if (!first) return undefined;
    if (first.devfn === 0 || first.pcieType === 'root-port') return first;
    return undefined;
  }

  get label(): string {
    return `${this.name} [${formatBus(this.domain, this.bus)}]`;
  }
}

export class PciDev implements PciAddress {
  /** Dense ordinal in the topology (depth-first, parents before children). */
  index = -1;
  readonly children: PciDev[] = [];
  bars: PciBar[] = [];
  windows: PciWindow[] = [];
  /** Other functions exist in the same slot (the header type's multi-function bit). */
  multifunction = false;
  /** Depth below the root bus: 0 for root-bus functions. */
  depth = 0;
  /** The spec this function was built from (BARs before assignment, for export). */
  source?: DeviceSpec;
  readonly bdf: string;
  readonly devId: number;
  readonly mapTypesIdx: number;

  constructor(
    readonly domain: number,
    readonly bus: number,
    readonly devfn: number,
    readonly kind: DeviceKind,
    readonly pcieType: PcieType,
    readonly hostBridge: HostBridge,
    /** pci_upstream_bridge(): the bridge whose secondary bus this function sits on; null on a root bus. */
    readonly upstream: PciDev | null,
    readonly specPath: SpecPath,
    readonly props: {
      name?: string;
      class?: DeviceClass;
      vendor?: number;
      device?: number;
      acs?: PciAcs;
      link?: PciLink;
      mps?: number;
      mrrs?: number;
      cmb?: PciCmb;
      /** P2P memory the driver registers: pci_p2pdma_add_resource(bar, size, offset). */
      p2pmem?: { bar: number; offset: number; size: number; publish: boolean };
      dmaMaskBits?: number;
    },
  ) {
    this.bdf = formatBdf(this);
    this.devId = (bus << 8) | devfn;
    this.mapTypesIdx = mapTypesIdx(this);
  }

  get slot(): number {
    return pciSlot(this.devfn);
  }
  get fn(): number {
    return pciFunc(this.devfn);
  }
  get name(): string | undefined {
    return this.props.name;
  }
  get acs(): PciAcs | undefined {
    return this.props.acs;
  }
  get vendor(): number | undefined {
    return this.props.vendor;
  }
  get device(): number | undefined {
    return this.props.device;
  }
  get isBridge(): boolean {
    return this.kind !== 'endpoint' && this.kind !== 'host-bridge';
  }
  /** The bus the children of this bridge sit on. */
  get secondaryBus(): number | undefined {
    return this.children[0]?.bus;
  }
  /** "0000:03:00.0 (nvme0)" */
  get label(): string {
    return this.props.name ? `${this.bdf} (${this.props.name})` : this.bdf;
  }
  bar(n: number): PciBar | undefined {
    return this.bars.find((b) => b.bar === n);
  }
}
