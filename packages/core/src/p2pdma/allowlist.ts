/**
 * The host-bridge side of the P2PDMA decision in drivers/pci/p2pdma.c: cpu_supports_p2pdma() and
 * the host bridge allowlist (pci_p2pdma_whitelist[]), as in mainline v6.x-7.0.
 */
import { hex4 } from '../pci/bdf';
import type { HostBridge, PciDev } from '../pci/device';
import type { CpuInfo } from '../pci/topology';

export const PCI_VENDOR_ID_INTEL = 0x8086;
export const PCI_VENDOR_ID_AMD = 0x1022;
export const PCI_VENDOR_ID_GOOGLE = 0x1ae0;
/** PCI_ANY_ID in an entry's device field matches every device of the vendor. */
export const PCI_ANY_ID = 0xffff_ffff;
/** Cross-host-bridge P2P (QPI/UPI) "does not perform well": only allowed within one host bridge. */
export const REQ_SAME_HOST_BRIDGE = 1 << 0;

export interface P2pdmaAllowlistEntry {
  vendor: number;
  device: number;
  flags: number;
  note: string;
}

/**
 * pci_p2pdma_whitelist[] of mainline (v5.x-7.0). Not included: AMD 1022:1450/15d0/1630 (v5.1-~v5.15,
 * superseded by the family >= 0x17 CPU test), and the 2025-26 DSA/IAA/QAT and NVIDIA entries seen
 * only in developer trees (reference §1.2, [DEV]/[UNVERIFIED]).
 */
export const pciP2pdmaWhitelist: readonly P2pdmaAllowlistEntry[] = [
  {
    vendor: PCI_VENDOR_ID_INTEL,
    device: 0x3c00,
    flags: REQ_SAME_HOST_BRIDGE,
    note: 'Xeon E5/Core i7',
  },
  {
    vendor: PCI_VENDOR_ID_INTEL,
    device: 0x3c01,
    flags: REQ_SAME_HOST_BRIDGE,
    note: 'Xeon E5/Core i7',
  },
  {
    vendor: PCI_VENDOR_ID_INTEL,
    device: 0x2f00,
    flags: REQ_SAME_HOST_BRIDGE,
    note: 'Xeon E7 v3/E5 v3/Core i7',
  },
  {
    vendor: PCI_VENDOR_ID_INTEL,
    device: 0x2f01,
    flags: REQ_SAME_HOST_BRIDGE,
    note: 'Xeon E7 v3/E5 v3/Core i7',
  },
  { vendor: PCI_VENDOR_ID_INTEL, device: 0x2030, flags: 0, note: 'Skylake-E root port A' },
  { vendor: PCI_VENDOR_ID_INTEL, device: 0x2031, flags: 0, note: 'Skylake-E root port B' },
  { vendor: PCI_VENDOR_ID_INTEL, device: 0x2032, flags: 0, note: 'Skylake-E root port C' },
  { vendor: PCI_VENDOR_ID_INTEL, device: 0x2033, flags: 0, note: 'Skylake-E root port D' },
  { vendor: PCI_VENDOR_ID_INTEL, device: 0x2020, flags: 0, note: 'Skylake-E host bridge' },
  { vendor: PCI_VENDOR_ID_INTEL, device: 0x09a2, flags: 0, note: 'Ice Lake-SP host bridge' },
  { vendor: PCI_VENDOR_ID_GOOGLE, device: PCI_ANY_ID, flags: 0, note: 'Google SoCs' },
];

/**
 * cpu_supports_p2pdma() (v5.10+): x86 only, any AMD CPU of family 0x17 (Zen) or newer can route
 * peer-to-peer traffic through its root complex; every other CPU relies on the allowlist.
 */
export function cpuSupportsP2pdma(cpu: CpuInfo): boolean {
  return cpu.vendor === 'AMD' && cpu.family >= 0x17;
}

export interface WarnSink {
  warn(dev: PciDev | string, msg: string): void;
}

/** The first allowlist entry matching a function's IDs (vendor equal, device equal or PCI_ANY_ID). */
export function allowlistEntryFor(
  dev: PciDev,
  allowlist: readonly P2pdmaAllowlistEntry[] = pciP2pdmaWhitelist,
): P2pdmaAllowlistEntry | undefined {
  return allowlist.find(
    (e) => dev.vendor === e.vendor && (e.device === PCI_ANY_ID || dev.device === e.device),
  );
}

/**
 * __host_bridge_whitelist(): looks the host bridge's pci_host_bridge_dev() (the first function of
 * the root bus, only if it is 00.0 or a root port) up in the allowlist. An entry with
 * REQ_SAME_HOST_BRIDGE fails when the two devices are under different host bridges.
 */
export function hostBridgeInAllowlist(
  host: HostBridge,
  sameHostBridge: boolean,
  warn: boolean,
  log: WarnSink | undefined,
  allowlist: readonly P2pdmaAllowlistEntry[] = pciP2pdmaWhitelist,
): boolean {
  const root = host.allowlistDevice;
  if (!root) return false;
  const e = allowlistEntryFor(root, allowlist);
  if (e) return !(e.flags & REQ_SAME_HOST_BRIDGE && !sameHostBridge);
  if (warn)
    log?.warn(
      root,
      `Host bridge not in P2PDMA whitelist: ${hex4(root.vendor)}:${hex4(root.device)}`,
    );
  return false;
}

/**
 * host_bridge_whitelist(a, b, warn): the same host bridge is checked once with
 * same_host_bridge = true; different ones must both pass with same_host_bridge = false (the
 * second is not looked at when the first fails).
 */
export function hostBridgeWhitelist(
  a: PciDev,
  b: PciDev,
  warn: boolean,
  log: WarnSink | undefined,
  allowlist: readonly P2pdmaAllowlistEntry[] = pciP2pdmaWhitelist,
): boolean {
  const hostA = a.hostBridge;
  const hostB = b.hostBridge;
  if (hostA === hostB) return hostBridgeInAllowlist(hostA, true, warn, log, allowlist);
  return (
    hostBridgeInAllowlist(hostA, false, warn, log, allowlist) &&
    hostBridgeInAllowlist(hostB, false, warn, log, allowlist)
  );
}
