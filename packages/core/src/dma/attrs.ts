/** DMA_ATTR_* (include/linux/dma-mapping.h; reference §3.4). */
export const DMA_ATTR_WEAK_ORDERING = 1 << 1;
export const DMA_ATTR_WRITE_COMBINE = 1 << 2;
export const DMA_ATTR_NO_KERNEL_MAPPING = 1 << 4;
export const DMA_ATTR_SKIP_CPU_SYNC = 1 << 5;
export const DMA_ATTR_FORCE_CONTIGUOUS = 1 << 6;
export const DMA_ATTR_ALLOC_SINGLE_PAGES = 1 << 7;
export const DMA_ATTR_NO_WARN = 1 << 8;
export const DMA_ATTR_PRIVILEGED = 1 << 9;
/** v6.18: the address is MMIO; no CPU cache maintenance, never bounced. */
export const DMA_ATTR_MMIO = 1 << 10;
/** 2026: dma-debug ignores overlapping cacheline mappings. */
export const DMA_ATTR_DEBUGGING_IGNORE_CACHELINES = 1 << 11;
export const DMA_ATTR_REQUIRE_COHERENT = 1 << 12;
