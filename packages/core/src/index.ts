/**
 * @dmasim/core: the hardware model (PCI topology, ACS, IOMMU groups) and the kernel's common
 * P2PDMA code. Numbers: sizes and addresses are JavaScript numbers while below 2^53, which every
 * modelled physical and bus address is; a model that needs the top bits of a 64-bit DMA address
 * uses bigint and says so.
 */
import 'reflect-metadata';

export * from './input-error';
export * from './pci/bdf';
export * from './pci/acs';
export * from './pci/units';
export * from './pci/topology-schema';
export * from './pci/device';
export * from './pci/topology';
export * from './pci/path-level';
export * from './p2pdma/map-type';
export * from './p2pdma/state';
export * from './p2pdma/analysis';
export * from './di/strategy';
