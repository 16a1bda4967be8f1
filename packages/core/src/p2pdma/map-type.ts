/**
 * enum pci_p2pdma_map_type (include/linux/pci-p2pdma.h), with the kernel's values.
 */
export enum PciP2pdmaMapType {
  /** Not computed yet; also what an empty cache slot decodes to. */
  UNKNOWN = 0,
  /** The page is not P2PDMA memory. */
  NONE = 1,
  /** No usable path: mappers fail with -EREMOTEIO. */
  NOT_SUPPORTED = 2,
  /** The path stays below a common bridge: program the PCI bus address, no IOMMU mapping. */
  BUS_ADDR = 3,
  /** TLPs go up through the root complex: map like normal memory. */
  THRU_HOST_BRIDGE = 4,
}

export type MapTypeName = keyof typeof PciP2pdmaMapType;

export function mapTypeName(t: PciP2pdmaMapType): MapTypeName {
  return PciP2pdmaMapType[t] as MapTypeName;
}
