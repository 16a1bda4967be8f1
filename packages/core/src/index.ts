/**
 * @dmasim/core: the hardware model (PCI topology, ACS, IOMMU groups) and the kernel's common
 * P2PDMA code. Numbers: sizes and addresses are JavaScript numbers while below 2^53, which every
 * modelled physical and bus address is; a model that needs the top bits of a 64-bit DMA address
 * uses bigint and says so.
 */
import 'reflect-metadata';

export * from './input-error';
export * from './input/document';
export * from './errno';
export * from './kernel-log';
export * from './clock';
export * from './pci/bdf';
export * from './pci/acs';
export * from './pci/units';
export * from './pci/topology-schema';
export * from './pci/device';
export * from './pci/topology';
export * from './pci/topology-loader';
export * from './pci/resources';
export * from './pci/path-level';
export * from './pci/iommu-group';
export * from './p2pdma/map-type';
export * from './p2pdma/map-type-cache';
export * from './p2pdma/state';
export * from './p2pdma/allowlist';
export * from './p2pdma/distance';
export * from './p2pdma/analysis';
export * from './p2pdma/pool';
export * from './p2pdma/provider';
export * from './p2pdma/cmb';
export * from './mm/page';
export * from './mm/memory-map';
export * from './mm/memremap';
export * from './mm/page-ref';
export * from './mm/mm';
export * from './mm/gup';
export * from './mm/iov-iter';
export * from './scatterlist/scatterlist';
export * from './p2pdma/map-state';
export * from './p2pdma/p2p-memory';
export * from './p2pdma/probe';
export * from './p2pdma/p2pmem-mmap';
export * from './dma/direction';
export * from './dma/attrs';
export * from './dma/device';
export * from './dma/map-ops';
export * from './dma/mapping';
export * from './dma/swiotlb';
export * from './dma/direct/options';
export * from './dma/direct/stats';
export * from './dma/direct/addressing';
export * from './dma/direct/direct';
export * from './dma/debug';
export * from './iommu/prot';
export * from './iommu/domain';
export * from './iommu/page-table';
export * from './iommu/iotlb';
export * from './iommu/resv-region';
export * from './iommu/fault';
export * from './iommu/iommu';
export * from './block/blk-status';
export * from './block/queue-limits';
export * from './block/request-queue';
export * from './block/bio';
export * from './block/request';
export * from './block/blk-merge';
export * from './block/blk-map-sg';
export * from './block/request-mapper';
export * from './block/bio-iov-iter';
export * from './di/strategy';
export * from './di/kernel';
export * from './di/registry';
export type { ImportCpu, ImportOptions, ImportResult } from './pci/import/classify';
export * from './pci/import/lspci';
export * from './pci/import/export-yaml';
export * from './pci/import/sysfs';
