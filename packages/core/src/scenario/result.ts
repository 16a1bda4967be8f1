/**
 * What `dmasim run` reports: one result per strategy, in the JSON shape of `dmasim run --json`
 * (schemaVersion 1). Every figure here is modelled, not measured: byte and TLP counts come from
 * the fabric, times from the cost model (cost-model.ts), whose constants cite anchors.md.
 */

/** Where a failed step failed, in the order an I/O meets them. */
export type StepStage =
  | 'alloc' // allocating memory (p2pmem pool, provider selection, mmap)
  | 'pin' // pinning user pages (GUP, FOLL_PCI_P2PDMA)
  | 'bio' // building the bio (bio_add_page / bio_add_dma_addr)
  | 'split' // bio splitting to the queue limits
  | 'map' // DMA mapping (dma_map_sgtable, the request mapper, nvme_map_data)
  | 'route' // the fabric: no route, a root complex that drops peer traffic
  | 'iommu-fault' // the IOMMU refused a DMA
  | 'nvme-status' // the controller completed the command with an error status
  | 'verify' // the data compared unequal
  | 'dependency'; // skipped because an earlier step it needs failed

/** An error in the kernel's own terms, with a sentence a user understands. */
export interface StepError {
  /** The kernel's name for it: "-EREMOTEIO", "BLK_STS_TARGET", "IO_PAGE_FAULT", "mismatch", ... */
  code: string;
  message: string;
}

export interface StepResult {
  id: string;
  ok: boolean;
  skipped: boolean;
  /** The stage that failed (or, for a skipped step, 'dependency'); null when ok. */
  stage: StepStage | null;
  error: StepError | null;
  /** Optional detail for people: what the step did ("32 I/Os of 128 KiB, PRPs", "fell back to RAM"). */
  detail?: string;
}

export type Integrity = 'verified' | 'mismatch' | 'not-checked';

export interface RunMetrics {
  /** Payload bytes every DMA delivered (all devices, both directions). */
  bytesTransferred: number;
  /** Of those, bytes whose memory side is a PCI BAR (peer-to-peer). */
  p2pBytes: number;
  /** Payload bytes that went through a root complex (RAM traffic and peer traffic routed up). */
  hostBridgeBytes: number;
  /** Payload bytes translated by an IOMMU paging domain. */
  iommuTranslatedBytes: number;
  /** Bytes copied through swiotlb bounce buffers. */
  bounceBytes: number;
  /** DMA segments handed to devices (mapped scatterlist entries, dma_vecs, single mappings). */
  dmaSegments: number;
  /** NVMe descriptors written (PRP entries in lists, SGL descriptors). */
  nvmeDescriptors: number;
  /** Most IOVA space allocated at once (bytes). */
  iovaBytesPeak: number;
  iotlbMisses: number;
  iommuFaults: number;
  /** struct page memory of the P2P providers registered (64 bytes per 4 KiB page). */
  structPageBytes: number;
  /** Bytes of scatterlists, bio_vecs, dma_vecs and NVMe descriptor blocks built over the run. */
  mappingMetadataBytes: number;
  /** Modelled CPU time of mapping and unmapping. */
  cpuNs: number;
  /** Modelled wire time of the DMAs. */
  transferNs: number;
  /** bytesTransferred / transferNs, in GB/s (10^9 bytes per second); 0 when nothing moved. */
  effectiveGBps: number;
  integrity: Integrity;
}

/**
 * One path the DMAs of a step took through the fabric, with the payload it carried: what a report
 * draws on the topology tree. DMAs of one step between the same initiator and target by the same
 * route are summed.
 */
export interface TransferPath {
  /** The step whose DMAs took it (inside a repeat, the inner step). */
  step: string;
  /** The device that issued the DMAs: its name, or its BDF when it has none. */
  initiator: string;
  /** "RAM", the device whose BAR held the memory (name or BDF), or "(refused)" for a path that
   * only refused DMAs before reaching any memory. */
  target: string;
  /** PCI functions by BDF: the initiator, and the target device (absent for RAM, or when refused). */
  initiatorBdf: string;
  targetBdf?: string;
  /** Payload bytes the device wrote along the path. */
  writeBytes: number;
  /** Payload bytes the device read along the path. */
  readBytes: number;
  /** DMAs refused on it (the path then ends where they were refused). */
  refused: number;
  /** The requests went up to a root complex (RAM, redirected or cross-root-port peer traffic). */
  viaRootComplex: boolean;
  /** The target is under another host bridge than the initiator. */
  crossHostBridge: boolean;
  /**
   * The PCIe links crossed, in order: each named by the function whose upstream link it is (BDF),
   * towards the root complex ('up') or away from it ('down').
   */
  links: { bdf: string; dir: 'up' | 'down' }[];
}

export interface StrategyRunResult {
  strategy: string;
  /** Every step succeeded. */
  ok: boolean;
  steps: StepResult[];
  metrics: RunMetrics;
  /** Sentences that explain this design's outcome (kernel messages, fall-backs, costs). */
  notes?: string[];
  /** Where the data went, per step and path (absent when no DMA was issued). */
  transfers?: TransferPath[];
}

export interface ScenarioRunResult {
  schemaVersion: 1;
  scenario: string;
  /** Says that the times are modelled, for readers of the JSON alone. */
  modelled?: string;
  results: StrategyRunResult[];
  /** Sentences on what tells the designs apart (differences.ts). */
  notes?: string[];
}
