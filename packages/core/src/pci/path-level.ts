/**
 * Path levels as nvidia-smi `topo -m` prints them (reference/anchors.md §2): PIX (at most one
 * PCIe bridge), PXB (several bridges, no host bridge), PHB (through a host bridge), NODE (between
 * host bridges in one NUMA node), SYS (across the SMP interconnect between NUMA nodes).
 */
export type PathLevel = 'PIX' | 'PXB' | 'PHB' | 'NODE' | 'SYS';
