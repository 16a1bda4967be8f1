/**
 * PCI addresses: domain, bus, device (slot) and function, written "DDDD:BB:DD.F" as the kernel's
 * pci_name() prints them.
 */

export interface PciAddress {
  domain: number;
  bus: number;
  /** PCI_DEVFN(slot, fn) = slot << 3 | fn */
  devfn: number;
}

const BDF_RE = /^(?:([0-9a-fA-F]{1,4}):)?([0-9a-fA-F]{1,2}):([0-9a-fA-F]{1,2})\.([0-7])$/;

/** PCI_DEVFN(slot, func) */
export function pciDevfn(slot: number, fn: number): number {
  return ((slot & 0x1f) << 3) | (fn & 0x07);
}

/** PCI_SLOT(devfn) */
export function pciSlot(devfn: number): number {
  return (devfn >> 3) & 0x1f;
}

/** PCI_FUNC(devfn) */
export function pciFunc(devfn: number): number {
  return devfn & 0x07;
}

/**
 * Parses "BB:DD.F" or "DDDD:BB:DD.F" (hex). Returns undefined for malformed text so callers can
 * report it with a position; a slot above 0x1f is malformed.
 */
export function parseBdf(text: string, defaultDomain = 0): PciAddress | undefined {
  const m = BDF_RE.exec(text.trim());
  if (!m) return undefined;
  const domain = m[1] !== undefined ? parseInt(m[1], 16) : defaultDomain;
  const bus = parseInt(m[2], 16);
  const slot = parseInt(m[3], 16);
  const fn = parseInt(m[4], 16);
  if (slot > 0x1f) return undefined;
  return { domain, bus, devfn: pciDevfn(slot, fn) };
}

function hex(n: number, width: number): string {
  return n.toString(16).padStart(width, '0');
}

/** A vendor or device ID as the kernel prints it with %04x; undefined prints as 0000. */
export function hex4(n: number | undefined): string {
  return hex(n ?? 0, 4);
}

/** "DDDD:BB", a bus as lspci -t and the kernel's pci_bus name print it. */
export function formatBus(domain: number, bus: number): string {
  return `${hex(domain, 4)}:${hex(bus, 2)}`;
}

/** pci_name(): "0000:03:00.0" */
export function formatBdf(a: PciAddress): string {
  return `${hex(a.domain, 4)}:${hex(a.bus, 2)}:${hex(pciSlot(a.devfn), 2)}.${pciFunc(a.devfn)}`;
}

/**
 * The index the kernel's map-type cache uses for a client:
 * map_types_idx() = (pci_domain_nr << 16) | pci_dev_id, pci_dev_id = bus << 8 | devfn.
 */
export function mapTypesIdx(a: PciAddress): number {
  return a.domain * 0x10000 + ((a.bus << 8) | a.devfn);
}
