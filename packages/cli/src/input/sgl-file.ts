/**
 * The input of `dmasim map`: one scatterlist to map for one DMA client, in YAML or JSON.
 *
 *   topology: ../topologies/switch-2nvme-nic.yaml   # relative to this file; or --topology
 *   device: 0000:05:00.0                            # the DMA client
 *   direction: to-device                            # to-device | from-device | bidirectional
 *   deviceParams: { maxSegmentSize: 65536, segmentBoundaryMask: 0xffffffff, dmaMaskBits: 64 }
 *   entries:
 *     - { phys: "0x100000000", length: 8192 }       # CPU physical RAM
 *     - { provider: 0000:03:00.0, offset: 0, length: 4096 }   # into that provider's p2pmem
 *
 * Each entry becomes one scatterlist entry whose page offset is its address modulo 4096.
 */
import { dirname, resolve } from 'node:path';
import { z } from 'zod';
import {
  bdfSchema,
  DMA_DIRECTION_NAMES,
  intSchema,
  loadDocumentFile,
  loadTopologyFile,
  P2pdmaDevices,
  probeP2pmemProviders,
  sizeSchema,
  SpecError,
  Swiotlb,
  KernelLog,
  type DmaDataDirection,
  type DmaDeviceParams,
  type PciDev,
  type PciTopology,
  pciP2pdmaMapType,
  type PciP2pdmaMapType,
} from '@dmasim/core';

const UINT_MAX = 0xffff_ffff;

const lengthSchema = sizeSchema.refine((n) => n > 0 && n <= UINT_MAX, {
  message: 'must be 1..0xffffffff bytes (a scatterlist length is an unsigned int)',
});

/** One entry: RAM ({ phys, length }) or P2P memory ({ provider, offset, length }). */
const entrySchema = z
  .strictObject({
    /** CPU physical address of System RAM */
    phys: intSchema.optional(),
    /** The P2P provider (BDF) */
    provider: bdfSchema.optional(),
    /** Bytes into the provider's p2pmem; default 0 */
    offset: sizeSchema.optional(),
    length: lengthSchema,
  })
  .superRefine((e, ctx) => {
    if ((e.phys === undefined) === (e.provider === undefined)) {
      ctx.addIssue({
        code: 'custom',
        message: 'an entry needs either phys (RAM) or provider (P2P memory), not both or neither',
        path: [],
      });
    } else if (e.phys !== undefined && e.offset !== undefined) {
      ctx.addIssue({
        code: 'custom',
        message: 'offset goes with provider; a RAM entry gives its address in phys',
        path: ['offset'],
      });
    }
  });

export const sglFileSchema = z.strictObject({
  $schema: z.string().optional(),
  description: z.string().optional(),
  topology: z.string().min(1).optional(),
  device: bdfSchema,
  direction: z.enum(Object.keys(DMA_DIRECTION_NAMES) as [keyof typeof DMA_DIRECTION_NAMES]),
  deviceParams: z
    .strictObject({
      maxSegmentSize: sizeSchema.optional(),
      segmentBoundaryMask: intSchema.optional(),
      dmaMaskBits: z.number().int().min(24).max(64).optional(),
    })
    .optional(),
  entries: z.array(entrySchema).min(1, { message: 'entries must list at least one entry' }),
});

export type SglFileData = z.output<typeof sglFileSchema>;

/** One resolved entry: where its bytes are in CPU physical memory. */
export interface SglEntry {
  /** CPU physical address of the first byte. */
  phys: number;
  length: number;
  /** The provider, for P2P memory. */
  provider?: PciDev;
  /** pci_p2pdma_map_type(provider, device), for P2P memory. */
  mapType?: PciP2pdmaMapType;
}

export interface SglInput {
  file: string;
  topology: PciTopology;
  topologyFile: string;
  device: PciDev;
  direction: DmaDataDirection;
  deviceParams: DmaDeviceParams;
  entries: SglEntry[];
}

/**
 * Loads a `dmasim map` input file. The topology comes from `--topology` when given, else from
 * the file's `topology` (relative to the file). Entries are checked against that topology: RAM
 * entries must lie in System RAM, P2P entries inside the provider's registered p2pmem; every
 * problem is reported at its line and column.
 */
export function loadSglFile(path: string, topologyOverride?: string): SglInput {
  return loadDocumentFile(path, {
    schema: sglFileSchema,
    name: 'the scatterlist file',
    fileWhat: 'scatterlist file',
    build: (data) => resolveSgl(data, path, topologyOverride),
  });
}

function hex(n: number): string {
  return `0x${n.toString(16)}`;
}

function resolveSgl(data: SglFileData, file: string, topologyOverride?: string): SglInput {
  let topologyFile: string;
  if (topologyOverride !== undefined) topologyFile = topologyOverride;
  else if (data.topology !== undefined) topologyFile = resolve(dirname(file), data.topology);
  else {
    throw new SpecError(
      'no topology: give `topology: FILE` (relative to this file) or --topology FILE',
      [],
    );
  }
  const topology = loadTopologyFile(topologyFile);
  const device = topology.find(data.device);
  if (!device) {
    throw new SpecError(`device ${data.device} is not in the topology ${topologyFile}`, ['device']);
  }
  if (device.kind !== 'endpoint') {
    throw new SpecError(`device ${device.bdf} is a ${device.kind}, not an endpoint`, ['device']);
  }
  // Which providers have P2P memory once their drivers probed (the same in every design's kernel).
  const p2p = new P2pdmaDevices(topology);
  const probed = probeP2pmemProviders(p2p);
  const mem = topology.memoryMap;
  // Where the default swiotlb pool sits (memblock reserves it; no buffer may be there).
  const swiotlb = new Swiotlb(mem, {}, new KernelLog());
  const entries: SglEntry[] = data.entries.map((e, i) => {
    const at = ['entries', i];
    if (e.phys !== undefined) {
      if (!mem.isRam(e.phys, e.length)) {
        const ram = mem.ram.map((r) => `${hex(r.start)}-${hex(r.end - 1)}`).join(', ');
        throw new SpecError(
          `${hex(e.phys)}+${e.length} is not System RAM (RAM: ${ram}); P2P memory is given as { provider, offset, length }`,
          [...at, 'phys'],
        );
      }
      if (e.phys < swiotlb.end && swiotlb.start < e.phys + e.length) {
        throw new SpecError(
          `${hex(e.phys)}+${e.length} overlaps the swiotlb bounce pool ` +
            `[${hex(swiotlb.start)}-${hex(swiotlb.end - 1)}], which the kernel reserved at boot`,
          [...at, 'phys'],
        );
      }
      return { phys: e.phys, length: e.length };
    }
    const provider = topology.find(e.provider!);
    const offset = e.offset ?? 0;
    if (!provider) {
      throw new SpecError(`provider ${e.provider} is not in the topology`, [...at, 'provider']);
    }
    const pgmap = p2p.get(provider)?.pgmaps[0];
    if (!pgmap) {
      const why = probed.find((r) => r.dev === provider)?.detail;
      throw new SpecError(
        `${provider.bdf} has no P2P memory` +
          (why ? ` (${why})` : ': give it `p2pmem:` or an NVMe `cmb:` in the topology'),
        [...at, 'provider'],
      );
    }
    const size = pgmap.range.end - pgmap.range.start + 1;
    if (offset + e.length > size) {
      throw new SpecError(
        `offset ${offset} + length ${e.length} runs past the ${size} bytes of ${provider.bdf}'s p2pmem`,
        [...at, 'length'],
      );
    }
    const mapType = pciP2pdmaMapType(p2p, provider, device);
    return { phys: pgmap.range.start + offset, length: e.length, provider, mapType };
  });
  const dp = data.deviceParams ?? {};
  return {
    file,
    topology,
    topologyFile,
    device,
    direction: DMA_DIRECTION_NAMES[data.direction],
    deviceParams: {
      maxSegmentSize: dp.maxSegmentSize,
      segmentBoundaryMask: dp.segmentBoundaryMask,
      dmaMaskBits: dp.dmaMaskBits,
    },
    entries,
  };
}

/** The JSON Schema of `dmasim map` input files (input side: what users write). */
export function sglJsonSchema(): Record<string, unknown> {
  return z.toJSONSchema(sglFileSchema, { io: 'input' }) as Record<string, unknown>;
}
