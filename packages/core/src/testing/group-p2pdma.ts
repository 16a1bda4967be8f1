/**
 * PCI P2PDMA pages in map_sg, per map type (§1.1, §3.2, §3.3, §11).
 *
 * With capabilities.pciP2pdma (dma-direct, dma-iommu): BUS_ADDR pages become bus addresses
 * (CPU physical + the provider's bus offset) in entries marked SG_DMA_BUS_ADDRESS;
 * THRU_HOST_BRIDGE pages are mapped like RAM (not marked) and reach the BAR's CPU address;
 * a NOT_SUPPORTED page fails the whole list with -EREMOTEIO and nothing stays mapped. Every entry
 * is decided by its own page, so lists mixing RAM and several providers work (§3.2, since v6.0).
 *
 * Without it (every other dma_map_ops, §11): any P2PDMA page fails the list with -EREMOTEIO and
 * dma_pci_p2pdma_supported() is false, so NVMe and RDMA never hand such pages to these ops.
 */
import { DmaDataDirection } from '../dma/direction';
import { dmaPciP2pdmaSupported } from '../dma/mapping';
import { PAGE_SIZE } from '../mm/page';
import {
  CONFORMANCE_BUS_OFFSETS,
  CONFORMANCE_PROVIDERS,
  type ConformanceProvider,
} from './conformance-fabric';
import { fail } from './conformance-failure';
import {
  checkProperty,
  newKernel,
  propertyTag,
  type ConformanceGroup,
  type SuiteContext,
} from './conformance-suite';
import { mapExpectingFailure, mapExpectingSuccess, refuses, unmapAndCheck } from './map-sg-steps';
import { contiguous, entry, limitsOf } from './recipes';
import { ALL_REGIONS, describeRecipe, listArb, type EntryRecipe } from './scatterlist-recipe';

const BIDI = DmaDataDirection.DMA_BIDIRECTIONAL;
const TiB = 2 ** 40;

function mapCheckUnmap(ctx: SuiteContext, entries: readonly EntryRecipe[]): void {
  const k = newKernel(ctx);
  const dev = k.client();
  const list = k.build(entries, limitsOf(dev));
  const mapped = mapExpectingSuccess(ctx, k, dev, list, BIDI, 0);
  unmapAndCheck(ctx, k, dev, list, mapped, BIDI, 0);
}

function refuse(ctx: SuiteContext, entries: readonly EntryRecipe[], why: string): void {
  const k = newKernel(ctx);
  const dev = k.client();
  mapExpectingFailure(ctx, k, dev, k.build(entries, limitsOf(dev)), BIDI, 0, why);
}

function supportedCase(ctx: SuiteContext, expected: boolean) {
  return {
    name: `§3.3 dma_pci_p2pdma_supported() is ${expected} for the ops' devices`,
    run() {
      const dev = newKernel(ctx).client();
      if (dmaPciP2pdmaSupported(dev) !== expected) {
        fail(`§3.3: dma_pci_p2pdma_supported(${dev.name}) is ${!expected} with ${ctx.opsName}`);
      }
    },
  };
}

export function p2pdmaGroup(ctx: SuiteContext): ConformanceGroup {
  const group: ConformanceGroup = {
    name: 'P2PDMA pages by map type (§1.1, §3.2)',
    cases: [
      supportedCase(ctx, true),
      {
        // nvme0's BAR 2 is at CPU 0x100_0000_0000 and hb0's bus offset is 16 TiB, so its first
        // byte is programmed as 0x1100_0000_0000 (checkMapped() checks every entry that way).
        name: `§1.1/§3.2 BUS_ADDR pages: DMA address = CPU physical + bus offset (${CONFORMANCE_BUS_OFFSETS.hb0 / TiB} TiB), marked SG_DMA_BUS_ADDRESS, dma_length = length`,
        run: () =>
          mapCheckUnmap(ctx, [
            entry('nvme0', 2 * PAGE_SIZE, 0, 0),
            entry('nvme1', PAGE_SIZE, 512),
            contiguous('nvme0', PAGE_SIZE),
            entry('nvme0', 100, 3000),
          ]),
      },
      {
        name: "§1.1/§3.2 THRU_HOST_BRIDGE pages: mapped like RAM, not marked, the device reaches the BAR's CPU physical address",
        run: () =>
          mapCheckUnmap(ctx, [
            entry('thru', 3 * PAGE_SIZE),
            contiguous('thru', PAGE_SIZE),
            entry('thru', 200, 1000),
          ]),
      },
      {
        name: '§1.1/§3.3 a NOT_SUPPORTED page alone: -EREMOTEIO, nothing mapped',
        run: () => refuse(ctx, [entry('remote', PAGE_SIZE)], '§1.1/§3.3'),
      },
      {
        name: '§3.2 a NOT_SUPPORTED page after RAM, BUS_ADDR and THRU_HOST_BRIDGE entries: -EREMOTEIO, the unwind leaves nothing mapped',
        run: () =>
          refuse(
            ctx,
            [
              entry('nvme0', PAGE_SIZE),
              entry('thru', PAGE_SIZE),
              entry('ram', PAGE_SIZE),
              entry('remote', 64),
              entry('ram', PAGE_SIZE),
            ],
            '§3.2',
          ),
      },
      {
        name: '§3.2 mixed lists (RAM, two BUS_ADDR providers, THRU_HOST_BRIDGE) alternating entry by entry map each entry by its own page',
        run: () =>
          mapCheckUnmap(ctx, [
            entry('ram', PAGE_SIZE),
            entry('nvme0', PAGE_SIZE),
            entry('thru', PAGE_SIZE),
            entry('nvme1', PAGE_SIZE),
            contiguous('nvme1', PAGE_SIZE),
            entry('ram', 2 * PAGE_SIZE),
            entry('nvme0', 512, 512),
          ]),
      },
      {
        name: `§3.2 random lists of RAM and P2P pages of every map type: -EREMOTEIO exactly when a NOT_SUPPORTED page is present, else mapped byte for byte ${propertyTag(ctx)}`,
        run() {
          checkProperty(
            ctx,
            listArb(ALL_REGIONS),
            (r) => {
              const k = newKernel(ctx);
              const dev = k.client();
              const list = k.build(r.entries, limitsOf(dev));
              if (list.placed.some((p) => refuses(ctx, k, p.region))) {
                mapExpectingFailure(ctx, k, dev, list, r.dir, r.attrs, '§1.1/§3.2');
              } else {
                const mapped = mapExpectingSuccess(ctx, k, dev, list, r.dir, r.attrs);
                unmapAndCheck(ctx, k, dev, list, mapped, r.dir, r.attrs);
              }
            },
            describeRecipe,
          );
        },
      },
    ],
  };
  if (!ctx.caps.pciP2pdma)
    group.skip = 'capabilities.pciP2pdma is false (see "P2PDMA pages refused")';
  return group;
}

const TYPE_OF: Record<ConformanceProvider, string> = {
  nvme0: 'BUS_ADDR',
  nvme1: 'BUS_ADDR',
  thru: 'THRU_HOST_BRIDGE',
  remote: 'NOT_SUPPORTED',
};

export function p2pdmaRefusedGroup(ctx: SuiteContext): ConformanceGroup {
  const group: ConformanceGroup = {
    name: 'P2PDMA pages refused without pciP2pdma (§3.3, §11)',
    cases: [
      supportedCase(ctx, false),
      ...CONFORMANCE_PROVIDERS.filter((p) => p !== 'nvme1').map((p) => ({
        name: `§11 a ${TYPE_OF[p]} page between RAM entries: -EREMOTEIO, nothing mapped`,
        run: () =>
          refuse(
            ctx,
            [entry('ram', PAGE_SIZE), entry(p, PAGE_SIZE), entry('ram', PAGE_SIZE)],
            '§11',
          ),
      })),
      {
        name: `§11 random lists: -EREMOTEIO exactly when a P2PDMA page is present ${propertyTag(ctx)}`,
        run() {
          checkProperty(
            ctx,
            listArb(ALL_REGIONS),
            (r) => {
              const k = newKernel(ctx);
              const dev = k.client();
              const list = k.build(r.entries, limitsOf(dev));
              if (list.placed.some((p) => p.region !== 'ram')) {
                mapExpectingFailure(ctx, k, dev, list, r.dir, r.attrs, '§11');
              } else {
                const mapped = mapExpectingSuccess(ctx, k, dev, list, r.dir, r.attrs);
                unmapAndCheck(ctx, k, dev, list, mapped, r.dir, r.attrs);
              }
            },
            describeRecipe,
          );
        },
      },
    ],
  };
  if (ctx.caps.pciP2pdma)
    group.skip = 'capabilities.pciP2pdma is true (see "P2PDMA pages by map type")';
  return group;
}
