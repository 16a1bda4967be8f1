/**
 * PCIe Access Control Services bits, with the values of include/uapi/linux/pci_regs.h
 * (PCI_ACS_SV .. PCI_ACS_DT), as they appear in both the ACS Capability and Control registers.
 */

export const PCI_ACS_SV = 0x0001; // Source Validation
export const PCI_ACS_TB = 0x0002; // Translation Blocking
export const PCI_ACS_RR = 0x0004; // P2P Request Redirect
export const PCI_ACS_CR = 0x0008; // P2P Completion Redirect
export const PCI_ACS_UF = 0x0010; // Upstream Forwarding
export const PCI_ACS_EC = 0x0020; // P2P Egress Control
export const PCI_ACS_DT = 0x0040; // Direct Translated P2P

export const ACS_FLAG_NAMES = ['SV', 'TB', 'RR', 'CR', 'UF', 'EC', 'DT'] as const;
export type AcsFlagName = (typeof ACS_FLAG_NAMES)[number];

export const ACS_FLAG_BITS: Record<AcsFlagName, number> = {
  SV: PCI_ACS_SV,
  TB: PCI_ACS_TB,
  RR: PCI_ACS_RR,
  CR: PCI_ACS_CR,
  UF: PCI_ACS_UF,
  EC: PCI_ACS_EC,
  DT: PCI_ACS_DT,
};

/** The lspci spelling of each bit (`ACSCtl: SrcValid+ TransBlk- ReqRedir+ ...`). */
export const ACS_LSPCI_NAMES: Record<AcsFlagName, string> = {
  SV: 'SrcValid',
  TB: 'TransBlk',
  RR: 'ReqRedir',
  CR: 'CmpltRedir',
  UF: 'UpstreamFwd',
  EC: 'EgressCtrl',
  DT: 'DirectTrans',
};

/**
 * Bits that redirect peer traffic upstream: pci_bridge_has_acs_redir() in drivers/pci/p2pdma.c
 * tests RR, CR and EC in the control register (UF, SV, TB and DT are not consulted).
 */
export const ACS_REDIR_MASK = PCI_ACS_RR | PCI_ACS_CR | PCI_ACS_EC;

/**
 * PCI_ACS_ISOLATED (REQ_ACS_FLAGS before v6.x): what drivers/iommu/iommu.c requires for a port to
 * isolate the devices below it: SV, RR, CR and UF.
 */
export const PCI_ACS_ISOLATED = PCI_ACS_SV | PCI_ACS_RR | PCI_ACS_CR | PCI_ACS_UF;

export function acsBits(names: readonly AcsFlagName[] | undefined): number {
  let bits = 0;
  for (const n of names ?? []) bits |= ACS_FLAG_BITS[n];
  return bits;
}

export function acsNames(bits: number): AcsFlagName[] {
  return ACS_FLAG_NAMES.filter((n) => (bits & ACS_FLAG_BITS[n]) !== 0);
}

/** `SrcValid+ TransBlk- ReqRedir+ ...` as lspci prints a register. */
export function formatAcsLspci(bits: number): string {
  return ACS_FLAG_NAMES.map(
    (n) => `${ACS_LSPCI_NAMES[n]}${bits & ACS_FLAG_BITS[n] ? '+' : '-'}`,
  ).join(' ');
}
