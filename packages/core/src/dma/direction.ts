/** enum dma_data_direction (include/linux/dma-direction.h). */
export enum DmaDataDirection {
  DMA_BIDIRECTIONAL = 0,
  DMA_TO_DEVICE = 1,
  DMA_FROM_DEVICE = 2,
  DMA_NONE = 3,
}

/** valid_dma_direction(): every direction but DMA_NONE. */
export function validDmaDirection(dir: number): dir is DmaDataDirection {
  return dir === 0 || dir === 1 || dir === 2;
}

/** The kernel's name for a direction, as dma-debug prints it (dir2name[]). */
export function dmaDirectionName(dir: number): string {
  switch (dir) {
    case DmaDataDirection.DMA_BIDIRECTIONAL:
      return 'DMA_BIDIRECTIONAL';
    case DmaDataDirection.DMA_TO_DEVICE:
      return 'DMA_TO_DEVICE';
    case DmaDataDirection.DMA_FROM_DEVICE:
      return 'DMA_FROM_DEVICE';
    case DmaDataDirection.DMA_NONE:
      return 'DMA_NONE';
    default:
      return `direction ${dir}`;
  }
}

/** The spelling map input files use (`direction: to-device`). */
export const DMA_DIRECTION_NAMES = {
  bidirectional: DmaDataDirection.DMA_BIDIRECTIONAL,
  'to-device': DmaDataDirection.DMA_TO_DEVICE,
  'from-device': DmaDataDirection.DMA_FROM_DEVICE,
} as const;
