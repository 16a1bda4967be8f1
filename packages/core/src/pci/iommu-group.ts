/**
 * IOMMU groups of PCI functions: pci_device_group() in drivers/iommu/iommu.c with
 * pci_acs_enabled() / pci_acs_path_enabled() from drivers/pci/pci.c (v5.x-7.0 logic).
 * Device-specific ACS quirks (pci_dev_specific_acs_enabled) and DMA alias quirks are not modelled.
 */
import { PCI_ACS_EC, PCI_ACS_ISOLATED } from './acs';
import type { PciDev } from './device';
import type { PciTopology } from './topology';

/**
 * pci_acs_flags_enabled(): the function has an ACS capability and every requested control bit is
 * set, except that a bit the capability does not implement counts as hard-wired on (Egress Control
 * excepted: it is required only when asked for).
 */
export function pciAcsFlagsEnabled(dev: PciDev, flags: number): boolean {
  const acs = dev.acs;
  if (!acs) return false;
  const required = flags & (acs.cap | PCI_ACS_EC);
  return (acs.ctrl & required) === required;
}

/**
 * pci_acs_enabled(): conventional PCI never isolates; PCIe-to-PCI bridges have no ACS; root and
 * downstream ports must enable the flags; endpoints, upstream ports and RC integrated endpoints
 * must only when they are part of a multi-function device; single-function ones are isolated.
 */
export function pciAcsEnabled(dev: PciDev, flags: number): boolean {
  switch (dev.pcieType) {
    case 'pci':
    case 'pcie-to-pci-bridge':
      return false;
    case 'root-port':
    case 'downstream':
      return pciAcsFlagsEnabled(dev, flags);
    case 'endpoint':
    case 'upstream':
    case 'rc-endpoint':
      return dev.multifunction ? pciAcsFlagsEnabled(dev, flags) : true;
  }
}

/**
 * pci_acs_path_enabled(start, end, flags): ACS is enabled on `start` and on every bridge above it,
 * up to `end` or (end null) the root bus.
 */
export function pciAcsPathEnabled(start: PciDev, end: PciDev | null, flags: number): boolean {
  for (let pdev: PciDev | null = start; pdev;) {
    if (!pciAcsEnabled(pdev, flags)) return false;
    if (pdev.upstream === null) return end === null;
    if (pdev === end) return true;
    pdev = pdev.upstream;
  }
  return true;
}

export interface IommuGroups {
  /** Group number of each function, indexed by PciDev.index. */
  groupOf: number[];
  /** Members of each group, in enumeration order. */
  groups: PciDev[][];
}

/**
 * Allocates every function's IOMMU group in the order the kernel probes them (enumeration order),
 * numbering groups from 0 as /sys/kernel/iommu_groups does.
 *
 * pci_device_group(pdev):
 * 1. DMA aliases: a function on conventional PCI is seen by the IOMMU with the requester ID of the
 *    PCIe-to-PCI bridge above it (pci_for_each_dma_alias), so it takes that bridge's group.
 * 2. Walking up from there, while the bridge above is not isolated by ACS SV, RR, CR and UF on the
 *    whole path to the root (pci_acs_path_enabled(bus->self, NULL, PCI_ACS_ISOLATED)), the bridge's
 *    group is used.
 * 3. Functions of one multi-function device that lack ACS isolation share a group
 *    (get_pci_function_alias_group).
 * 4. Otherwise a new group.
 */
export function computeIommuGroups(topo: PciTopology): IommuGroups {
  const groupOf: number[] = new Array(topo.devices.length).fill(-1);
  const groups: PciDev[][] = [];
  const join = (dev: PciDev, g: number) => {
    groupOf[dev.index] = g;
    groups[g].push(dev);
  };
  for (const dev of topo.devices) {
    const g = pciDeviceGroup(dev, groupOf);
    if (g >= 0) {
      join(dev, g);
    } else {
      groups.push([]);
      join(dev, groups.length - 1);
    }
  }
  return { groupOf, groups };
}

function pciDeviceGroup(start: PciDev, groupOf: number[]): number {
  // 1. pci_for_each_dma_alias(): the device itself, then each conventional-PCI bridge above it.
  let pdev = start;
  for (let up = start.upstream; up; up = up.upstream) {
    if (up.pcieType === 'root-port' || up.pcieType === 'upstream' || up.pcieType === 'downstream')
      continue;
    pdev = up; // PCIe-to-PCI bridge (alias on its secondary bus) or a conventional bridge
    if (groupOf[up.index] >= 0) return groupOf[up.index];
  }
  // 2. Continue upstream to the point where ACS isolates the devices.
  for (let self = pdev.upstream; self; self = self.upstream) {
    if (pciAcsPathEnabled(self, null, PCI_ACS_ISOLATED)) break;
    pdev = self;
    if (groupOf[pdev.index] >= 0) return groupOf[pdev.index];
  }
  // 3. Non-isolated functions of the same slot.
  if (pdev.multifunction && !pciAcsEnabled(pdev, PCI_ACS_ISOLATED)) {
    // functions on the same bus, in for_each_pci_dev() order
    const bus = pdev.upstream ? pdev.upstream.children : pdev.hostBridge.rootDevices;
    for (const tmp of bus) {
      if (tmp === pdev || tmp.slot !== pdev.slot) continue;
      if (pciAcsEnabled(tmp, PCI_ACS_ISOLATED)) continue;
      if (groupOf[tmp.index] >= 0) return groupOf[tmp.index];
    }
  }
  return -1;
}
