/**
 * The scenario file format (docs/scenario-format.md; JSON Schema in
 * packages/core/schema/scenario.schema.json): a topology, optional platform and cost-model
 * overrides, the strategies to run, and the steps of the I/O. Validated with zod so that every
 * problem is reported at its file, line and column (input/document.ts).
 */
import { z } from 'zod';
import { platformSchema, sizeSchema } from '../pci/topology-schema';
import { costModelOverridesSchema } from './cost-model';

const name = z.string().min(1);

/** A generator of data: what a NIC receives, what a fill writes, what a verify expects. */
export const dataSourceSchema = z.strictObject({
  /** random: seeded pseudo-random bytes; counter: byte i = (i + seed) & 0xff; byte: every byte = seed. */
  pattern: z.enum(['zero', 'random', 'counter', 'byte']).default('random'),
  seed: z.number().int().min(0).default(1),
});

export const ALLOC_KINDS = ['ram', 'p2pmem', 'user-ram', 'user-p2pmem', 'concat'] as const;

export const allocSchema = z.strictObject({
  /**
   * ram: kernel pages; p2pmem: pci_alloc_p2pmem() from a provider; user-ram: an anonymous mmap
   * in a process; user-p2pmem: mmap of a provider's /sys/.../p2pmem/allocate; concat: one kernel
   * buffer made of earlier buffers (`parts`) in order, e.g. RAM pages and two providers' P2P pages.
   */
  kind: z.enum(ALLOC_KINDS),
  /** Bytes; for concat, the sum of the parts (may be omitted). */
  size: sizeSchema.optional(),
  /** concat: the buffers, in order. */
  parts: z.array(name).min(1).optional(),
  /** p2pmem: a provider's name or BDF, or "auto" (pci_p2pmem_find_many() for `clients`). */
  provider: name.optional(),
  /** Devices that will DMA to the memory: provider selection and the P2P checks use them. */
  clients: z.array(name).optional(),
  /** p2pmem with "auto": what nvmet does when no provider suits every client (default ram). */
  fallback: z.enum(['ram', 'none']).optional(),
  /** RAM: physically contiguous pages, or every other page (scattered). Default contiguous. */
  layout: z.enum(['contiguous', 'scattered']).optional(),
});

/** Fills a buffer, or a namespace's media directly (data already on the drive). */
export const fillSchema = z.strictObject({
  buffer: name.optional(),
  /** An NVMe controller whose namespace to fill (instead of a buffer); give a length. */
  namespace: name.optional(),
  nsid: z.number().int().min(1).optional(),
  offset: sizeSchema.optional(),
  length: sizeSchema.optional(),
  pattern: dataSourceSchema.shape.pattern,
  seed: dataSourceSchema.shape.seed,
});

export const dmaSchema = z.strictObject({
  device: name,
  /** write: the device writes memory (a NIC receiving); read: it reads memory (a NIC sending). */
  op: z.enum(['write', 'read']),
  buffer: name,
  offset: sizeSchema.optional(),
  length: sizeSchema.optional(),
  /** write: the data the device delivers (what arrives on the wire). Default random, seed 1. */
  data: dataSourceSchema.optional(),
  /**
   * dma-api (default): the buffer is mapped for the device through the design. bus-address: the
   * driver bypasses the DMA API and programs pci_p2pmem_virt_to_bus() itself (the buggy mapper).
   */
  mapping: z.enum(['dma-api', 'bus-address']).optional(),
});

export const nvmeSchema = z.strictObject({
  device: name,
  nsid: z.number().int().min(1).optional(),
  /** read: from the namespace into the buffer; write: from the buffer to the namespace. */
  op: z.enum(['read', 'write']),
  buffer: name,
  offset: sizeSchema.optional(),
  length: sizeSchema.optional(),
  /** Byte offset on the namespace (a multiple of the LBA size). Default 0. */
  at: sizeSchema.optional(),
  /** Bytes per I/O. Default 128 KiB. */
  ioSize: sizeSchema.optional(),
  /** kernel: an in-kernel submitter (nvmet); odirect: read()/write() with O_DIRECT on a user buffer. */
  mode: z.enum(['kernel', 'odirect']).optional(),
});

/** One side of a verify. */
export const rangeSchema = z.union([
  z.strictObject({ buffer: name, offset: sizeSchema.optional(), length: sizeSchema.optional() }),
  z.strictObject({
    namespace: name,
    nsid: z.number().int().min(1).optional(),
    offset: sizeSchema.optional(),
    length: sizeSchema.optional(),
  }),
  z.strictObject({ device: name, offset: sizeSchema.optional(), length: sizeSchema.optional() }),
  z.strictObject({
    data: dataSourceSchema,
    offset: sizeSchema.optional(),
    length: sizeSchema.optional(),
  }),
]);

export const verifySchema = z.strictObject({ a: rangeSchema, b: rangeSchema });

const stepBase = {
  /**
   * Names the step in the output; default "<kind><index>", e.g. "nvme3". An alloc's id names
   * its buffer, so allocs need one.
   */
  id: name.optional(),
  /** Steps this one needs besides those found from the buffers, namespaces and devices it uses. */
  needs: z.array(name).optional(),
};

const leafStep = z.union([
  z.strictObject({ ...stepBase, alloc: allocSchema }),
  z.strictObject({ ...stepBase, fill: fillSchema }),
  z.strictObject({ ...stepBase, dma: dmaSchema }),
  z.strictObject({ ...stepBase, nvme: nvmeSchema }),
  z.strictObject({ ...stepBase, verify: verifySchema }),
]);

/**
 * repeat: the inner steps run `repeat` times in order; each iteration continues the data streams
 * (a dma's data and an nvme's namespace offset advance by their length), the buffers stay put:
 * a staging buffer reused by a stream of I/Os.
 */
export const repeatSchema = z.strictObject({
  ...stepBase,
  repeat: z.number().int().min(1),
  steps: z.array(leafStep).min(1),
});

export const stepSchema = z.union([leafStep, repeatSchema]);

export const scenarioSchema = z.strictObject({
  $schema: z.string().optional(),
  name: name,
  description: z.string().optional(),
  /** A topology file (relative to the scenario file) or an inline topology. */
  topology: z.union([z.string().min(1), z.record(z.string(), z.unknown())]),
  /** Merged over the topology's platform (iommu, rootComplexP2p, ...). */
  platform: platformSchema.partial().optional(),
  /** Cost-model constants to replace (cost-model.ts). */
  cost: costModelOverridesSchema.optional(),
  /** Strategy ids; default every registered strategy. */
  strategies: z.array(name).min(1).optional(),
  /** NVMe driver settings for every controller. */
  nvme: z
    .strictObject({
      /** v5.x (default): the scatterlist driver of §6.1; 2026: the DMA-iterator driver of §6.2. */
      release: z.enum(['v5.x', '2026']).optional(),
      /** Controllers advertise SGL support (Identify SGLS). Default false. */
      sgls: z.boolean().optional(),
      /** The sgl_threshold module parameter. Default 32768. */
      sglThreshold: sizeSchema.optional(),
    })
    .optional(),
  steps: z.array(stepSchema).min(1),
});

export type ScenarioSpec = z.output<typeof scenarioSchema>;
export type StepSpec = z.output<typeof stepSchema>;
export type LeafStepSpec = z.output<typeof leafStep>;
export type DataSourceSpec = z.output<typeof dataSourceSchema>;
export type AllocSpec = z.output<typeof allocSchema>;
export type FillSpec = z.output<typeof fillSchema>;
export type DmaSpec = z.output<typeof dmaSchema>;
export type NvmeSpec = z.output<typeof nvmeSchema>;
export type RangeSpec = z.output<typeof rangeSchema>;
export type VerifySpec = z.output<typeof verifySchema>;
