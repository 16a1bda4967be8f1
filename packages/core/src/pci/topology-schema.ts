/**
 * The topology file format (the public contract; docs/topology-format.md describes it for users).
 *
 * This schema checks the shape of one document. Relations between devices (duplicate addresses,
 * children under endpoints, BARs that do not fit their windows) are checked when the model is
 * built, with the path of the offending value so the loader can point at its line.
 */
import { z } from 'zod';
import { parseBdf } from './bdf';
import { ACS_FLAG_NAMES } from './acs';
import { parseIntText, parseSize } from './units';

export const DEVICE_KINDS = [
  'host-bridge',
  'root-port',
  'switch-upstream',
  'switch-downstream',
  'pci-bridge',
  'endpoint',
] as const;
export type DeviceKind = (typeof DEVICE_KINDS)[number];

/** Kinds that forward to a secondary bus and may have children. */
export const BRIDGE_KINDS: readonly DeviceKind[] = [
  'root-port',
  'switch-upstream',
  'switch-downstream',
  'pci-bridge',
];

export const DEVICE_CLASSES = ['nvme', 'nic', 'gpu', 'accelerator', 'other'] as const;
export type DeviceClass = (typeof DEVICE_CLASSES)[number];

export const CPU_VENDORS = ['AMD', 'Intel', 'ARM', 'other'] as const;

/** A byte count: a number, or a string such as "16KiB", "1.5GiB", "0x4000". */
export const sizeSchema = z.union([z.number(), z.string()]).transform((v, ctx) => {
  const n = typeof v === 'number' ? v : parseSize(v);
  if (n === undefined || !Number.isSafeInteger(n) || n < 0) {
    ctx.addIssue({
      code: 'custom',
      message: `malformed size ${JSON.stringify(v)}: use a whole number of bytes or a number with KiB, MiB, GiB or TiB (for example "16KiB")`,
    });
    return z.NEVER;
  }
  return n;
});

/** A non-negative integer; strings accept hex ("0x8086"), as YAML numbers do. */
export const intSchema = z.union([z.number(), z.string()]).transform((v, ctx) => {
  const n = typeof v === 'number' ? v : parseIntText(v);
  if (n === undefined || !Number.isSafeInteger(n) || n < 0) {
    ctx.addIssue({
      code: 'custom',
      message: `expected a non-negative integer (hex accepted as 0x..), got ${JSON.stringify(v)}`,
    });
    return z.NEVER;
  }
  return n;
});

const u16 = intSchema.refine((n) => n <= 0xffff, { message: 'must fit in 16 bits (0..0xffff)' });

export const bdfSchema = z.string().refine((s) => parseBdf(s) !== undefined, {
  error: (iss) =>
    `malformed BDF ${JSON.stringify(iss.input)}: expected "BB:DD.F" or "DDDD:BB:DD.F" in hex, device 00-1f, function 0-7`,
});

const acsFlag = z.enum(ACS_FLAG_NAMES);

export const acsSchema = z
  .strictObject({
    cap: z.array(acsFlag).optional(),
    ctrl: z.array(acsFlag).optional(),
  })
  .describe(
    'ACS extended capability; present means the function has one. cap defaults to the bits in ctrl',
  );

export const linkSchema = z.strictObject({
  gen: z.number().int().min(1).max(6),
  width: z.union(
    [1, 2, 4, 8, 12, 16, 32].map((w) => z.literal(w)) as unknown as [
      z.ZodLiteral<number>,
      z.ZodLiteral<number>,
    ],
  ),
});

const payloadSize = intSchema.refine((n) => [128, 256, 512, 1024, 2048, 4096].includes(n), {
  message: 'must be 128, 256, 512, 1024, 2048 or 4096 bytes',
});

export const barSchema = z.strictObject({
  bar: z.number().int().min(0).max(5),
  size: sizeSchema,
  prefetchable: z.boolean().optional(),
  /** CPU physical address; assigned by the loader when absent. */
  address: intSchema.optional(),
});

export const cmbSchema = z.strictObject({
  bar: z.number().int().min(0).max(5),
  offset: sizeSchema.optional(),
  size: sizeSchema,
  /** CMBSZ.RDS: read data (PRP/SGL data) may be in the CMB */
  rds: z.boolean(),
  /** CMBSZ.WDS: write data may be in the CMB */
  wds: z.boolean(),
  /** CMBSZ.SQS: submission queues may be in the CMB */
  sqs: z.boolean().optional(),
});

/**
 * P2P memory a driver registers at probe time with pci_p2pdma_add_resource(pdev, bar, size,
 * offset) and publishes with pci_p2pmem_publish() (a GPU or accelerator driver, the p2pmem test
 * driver). NVMe CMBs are registered from `cmb` instead.
 */
export const p2pmemSchema = z.strictObject({
  bar: z.number().int().min(0).max(5),
  /** Bytes into the BAR; default 0. */
  offset: sizeSchema.optional(),
  /** Bytes; default (and 0): the rest of the BAR. */
  size: sizeSchema.optional(),
  /** pci_p2pmem_publish(): visible to pci_p2pmem_find_many(); default true. */
  publish: z.boolean().optional(),
});

/** An address window a bridge forwards, or a host bridge decodes. */
export const windowSchema = z.strictObject({
  base: intSchema,
  size: sizeSchema,
  prefetchable: z.boolean().optional(),
});

export interface DeviceSpecInput {
  bdf: string;
  kind: DeviceKind;
  name?: string;
  class?: DeviceClass;
  vendor?: number | string;
  device?: number | string;
  acs?: { cap?: string[]; ctrl?: string[] };
  link?: { gen: number; width: number };
  mps?: number | string;
  mrrs?: number | string;
  bars?: {
    bar: number;
    size: number | string;
    prefetchable?: boolean;
    address?: number | string;
  }[];
  cmb?: {
    bar: number;
    offset?: number | string;
    size: number | string;
    rds: boolean;
    wds: boolean;
    sqs?: boolean;
  };
  dmaMaskBits?: number;
  windows?: { base: number | string; size: number | string; prefetchable?: boolean }[];
  children?: DeviceSpecInput[];
}

const deviceFields = {
  bdf: bdfSchema,
  kind: z.enum(DEVICE_KINDS),
  name: z.string().min(1).optional(),
  class: z.enum(DEVICE_CLASSES).optional(),
  vendor: u16.optional(),
  device: u16.optional(),
  acs: acsSchema.optional(),
  link: linkSchema.optional(),
  mps: payloadSize.optional(),
  mrrs: payloadSize.optional(),
  bars: z.array(barSchema).optional(),
  cmb: cmbSchema.optional(),
  p2pmem: p2pmemSchema.optional(),
  dmaMaskBits: z.number().int().min(24).max(64).optional(),
  /** Bridges only: fixed forwarding windows; assigned by the loader when absent. */
  windows: z.array(windowSchema).optional(),
};

export const deviceSchema: z.ZodType<DeviceSpec, DeviceSpecInput> = z
  .lazy(() =>
    z.strictObject({
      ...deviceFields,
      children: z.array(deviceSchema).optional(),
    }),
  )
  .meta({
    id: 'TopologyDevice',
    description: 'One PCI function; bridges list the functions below them in children',
  }) as unknown as z.ZodType<DeviceSpec, DeviceSpecInput>;

export const hostBridgeSchema = z.strictObject({
  name: z.string().min(1),
  domain: intSchema
    .refine((n) => n <= 0xffff, { message: 'PCI domain must fit in 16 bits' })
    .default(0),
  bus: intSchema.refine((n) => n <= 0xff, { message: 'bus number must be 0..0xff' }),
  numaNode: z.number().int().min(0).optional(),
  /** PCI bus address minus CPU physical address for this bridge's windows (pci_bus_address - resource start). */
  busOffset: z.number().int().default(0),
  /** Memory windows the host bridge decodes; default: one 32-bit and one 64-bit prefetchable window. */
  windows: z.array(windowSchema).optional(),
  devices: z.array(deviceSchema),
});

export const cpuSchema = z.strictObject({
  vendor: z.enum(CPU_VENDORS),
  /** x86 family (AMD Zen is 0x17 and newer); ignored elsewhere. */
  family: intSchema.default(0),
});

/** System RAM: a total size, optionally split into NUMA nodes (node i gets nodes[i] bytes). */
export const memoryObjectSchema = z.strictObject({
  /** Total RAM; default 64 GiB, or the sum of `nodes`. */
  size: sizeSchema.optional(),
  /** Bytes of RAM per NUMA node, node 0 first; the nodes take the address space in order. */
  nodes: z.array(sizeSchema).min(1).optional(),
});

/** `memory: 64GiB` is short for `memory: { size: 64GiB }`. */
export const memorySchema = z.preprocess(
  (v) => (typeof v === 'string' || typeof v === 'number' ? { size: v } : v),
  memoryObjectSchema,
);

export const IOMMU_GRANULES = [4096, 16384, 65536] as const;
export const IOMMU_MODES = ['strict', 'lazy', 'passthrough'] as const;
export type IommuMode = (typeof IOMMU_MODES)[number];
export const IOMMU_ADDRESS_WIDTHS = [39, 48, 57] as const;

/**
 * The platform's DMA remapping hardware (Intel VT-d, AMD-Vi, Arm SMMU) and how the kernel runs it.
 * Absent: no IOMMU (devices DMA to physical addresses, dma-direct). Present: enabled unless
 * `enabled: false`, with the defaults of an x86 server kernel (lazy, 4 KiB, 48-bit).
 */
export const iommuSchema = z.strictObject({
  /** Default true when the key is present. */
  enabled: z.boolean().default(true),
  /** Smallest IOMMU page (1 << __ffs(pgsize_bitmap)); 4 KiB on x86, 16/64 KiB on some arm64. */
  granule: sizeSchema
    .refine((n) => (IOMMU_GRANULES as readonly number[]).includes(n), {
      message: 'must be 4096, 16384 or 65536 bytes (4KiB, 16KiB or 64KiB)',
    })
    .default(4096),
  /** iommu.passthrough=1 -> passthrough; iommu.strict=1 -> strict; otherwise lazy (flush queues). */
  mode: z.enum(IOMMU_MODES).default('lazy'),
  /** Input address width of the page tables (VT-d AGAW, AMD paging mode, SMMU IAS). */
  addressWidth: z
    .union(
      IOMMU_ADDRESS_WIDTHS.map((w) => z.literal(w)) as unknown as [
        z.ZodLiteral<number>,
        z.ZodLiteral<number>,
      ],
    )
    .default(48),
  /** IOTLB entries of each IOMMU unit (one per host bridge). */
  iotlbEntries: z.number().int().min(1).default(64),
  /** Leaf entries one level up (2 MiB with a 4 KiB granule); default true. */
  superpages: z.boolean().default(true),
});

/**
 * Whether the root complex forwards peer-to-peer memory requests (a TLP whose target is a BAR, not
 * RAM) between its root ports and to other host bridges, per direction. Some root complexes
 * forward peer writes but not peer reads (Intel client CPUs, anchors §5): the kernel may allow a
 * THRU_HOST_BRIDGE path that the hardware then drops.
 */
export const rootComplexP2pSchema = z.strictObject({
  /** Peer memory writes (posted; a dropped one is not reported to the initiator). Default true. */
  write: z.boolean().default(true),
  /** Peer memory reads (a dropped one completes with an error). Default true. */
  read: z.boolean().default(true),
});

export const platformSchema = z.strictObject({
  cpu: cpuSchema,
  memory: memorySchema.optional(),
  /** Absent: no IOMMU. */
  iommu: iommuSchema.optional(),
  /** Absent: the root complexes forward peer writes and reads. */
  rootComplexP2p: rootComplexP2pSchema.optional(),
});

export const topologySchema = z.strictObject({
  $schema: z.string().optional(),
  name: z.string().optional(),
  description: z.string().optional(),
  platform: platformSchema,
  hostBridges: z
    .array(hostBridgeSchema)
    .min(1, { message: 'a topology needs at least one host bridge' }),
});

export interface BarSpec {
  bar: number;
  size: number;
  prefetchable?: boolean;
  address?: number;
}
export interface CmbSpec {
  bar: number;
  offset?: number;
  size: number;
  rds: boolean;
  wds: boolean;
  sqs?: boolean;
}
export interface P2pmemSpec {
  bar: number;
  offset?: number;
  size?: number;
  publish?: boolean;
}
export interface WindowSpec {
  base: number;
  size: number;
  prefetchable?: boolean;
}
export type AcsFlagSpec = (typeof ACS_FLAG_NAMES)[number];

/** A device as the schema outputs it (sizes and numbers resolved). */
export interface DeviceSpec {
  bdf: string;
  kind: DeviceKind;
  name?: string;
  class?: DeviceClass;
  vendor?: number;
  device?: number;
  acs?: { cap?: AcsFlagSpec[]; ctrl?: AcsFlagSpec[] };
  link?: { gen: number; width: number };
  mps?: number;
  mrrs?: number;
  bars?: BarSpec[];
  cmb?: CmbSpec;
  p2pmem?: P2pmemSpec;
  dmaMaskBits?: number;
  windows?: WindowSpec[];
  children?: DeviceSpec[];
}

export type HostBridgeSpec = z.output<typeof hostBridgeSchema>;
export type PlatformSpec = z.output<typeof platformSchema>;
export type IommuSpec = z.output<typeof iommuSchema>;
export type RootComplexP2pSpec = z.output<typeof rootComplexP2pSchema>;
export type TopologySpec = z.output<typeof topologySchema>;
export type TopologySpecInput = z.input<typeof topologySchema>;
