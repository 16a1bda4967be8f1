/**
 * `dmasim map SGL`: the smallest useful comparison. One scatterlist, mapped with
 * dma_map_sgtable() for one device by each design, side by side: the result code, the DMA
 * entries the device would be given, and what the kernel logged (including the DMA-API debug
 * checker, which is on).
 */
import { relative } from 'node:path';
import { Option } from 'commander';
import { ContainerModule } from 'inversify';
import {
  createKernelContainer,
  deviceReleaseDriver,
  DmaApiDebugOptions,
  DmaDevices,
  dmaMapSgtable,
  dmaMapSgtableErrorText,
  dmaUnmapSgtable,
  errnoName,
  KernelLog,
  mapTypeName,
  Memmap,
  P2pdmaDevices,
  PAGE_SIZE,
  P2pMemory,
  probeP2pmemProviders,
  StrategyRegistry,
  sgAllocTable,
  sgDmaIsBusAddress,
  sgEntries,
  sgSetPage,
  Swiotlb,
  SgTable,
  type DmaMapOps,
  type KernelLogEntry,
  type StrategyDescriptor,
} from '@dmasim/core';
import type { CliContext, CommandModule } from '../context';
import { loadSglFile, type SglInput } from '../input/sgl-file';
import { cliRegistry, PLUGIN_HELP, pluginOption } from '../plugins';
import { builtInRegistry, selectStrategies } from '../strategies';
import { alignColumns, cell, heading, type Cell } from '../render/text';

export interface MapOptions {
  topology?: string;
  strategy?: string[];
  /** --plugin specs (paths or package names), loaded after the built-in designs. */
  plugin?: string[];
  json?: boolean;
}

export interface MapEntryJson {
  dmaAddress: string;
  dmaLength: number;
  busAddress: boolean;
  /** Present when the address is a swiotlb bounce buffer: the CPU physical address it stands for. */
  bouncedFrom?: string;
  /** Present when the address lies above the device's DMA mask (the kernel does not check bus addresses). */
  aboveDmaMask?: true;
}

/** The IOVA range a mapping took, when the design allocates one (dma-iommu). */
export interface MapIovaJson {
  /** First IOVA. */
  start: string;
  /** Last IOVA (inclusive). */
  end: string;
  /** IOMMU pages (granules) in the range, seg-boundary padding included. */
  granules: number;
  /** The granule in bytes. */
  granule: number;
}

export interface MapResultJson {
  strategy: string;
  /** dma_map_sgtable()'s result: 0 or -errno. */
  ret: number;
  /** errno name when ret < 0 */
  error?: string;
  /** sgt->nents after mapping (0 on failure) */
  nents: number;
  /** Present when the design allocated an IOVA range for the list. */
  iova?: MapIovaJson;
  entries: MapEntryJson[];
  /** Kernel log lines from the mapping and unmapping (DMA-API debug reports included). */
  messages: string[];
}

function hex(n: number): string {
  return `0x${n.toString(16)}`;
}

/** The IOVA range the ops report for the last map_sg (dma-iommu), if they report one. */
function lastIova(ops: DmaMapOps): MapIovaJson | undefined {
  const r = ops.lastMapSgIova?.();
  if (!r) return undefined;
  return {
    start: hex(r.iova),
    end: hex(r.iova + r.size - 1),
    granules: r.size / r.granule,
    granule: r.granule,
  };
}

function logLine(e: KernelLogEntry): string {
  return e.dev ? `${e.dev}: ${e.msg}` : e.msg;
}

/** Why a design cannot take this input at all (a scatterlist needs struct pages), if it cannot. */
export function mapNotApplicable(input: SglInput, mem: P2pMemory): string | undefined {
  if (mem.structPages || !input.entries.some((e) => e.provider)) return undefined;
  return (
    'P2P memory has no struct pages in this design, so a scatterlist cannot hold it; ' +
    'its submitters put DMA addresses in dma_vec bios instead (see `dmasim run`)'
  );
}

/** Maps the input once in a fresh kernel running `strategy`, then unmaps and unbinds. */
export function mapWithStrategy(
  input: SglInput,
  strategy: StrategyDescriptor,
  registry: StrategyRegistry = builtInRegistry(),
): MapResultJson | { strategy: string; notApplicable: string } {
  const c = createKernelContainer({
    topology: input.topology,
    strategy,
    options: { dmaApiDebug: true },
    modules: [
      ...registry.modulesFor(strategy, input.topology),
      // Show every report the checker makes, not only the first (debugfs all_errors).
      new ContainerModule(({ bind }) => {
        bind<DmaApiDebugOptions>(DmaApiDebugOptions).toConstantValue({ allErrors: true });
      }),
    ],
  });
  const log = c.get(KernelLog);
  const mem = c.get<P2pMemory>(P2pMemory);
  const notApplicable = mapNotApplicable(input, mem);
  if (notApplicable) return { strategy: strategy.id, notApplicable };
  probeP2pmemProviders(c.get(P2pdmaDevices), log, mem);
  const boot = log.messages().length;
  const memmap = c.get(Memmap);
  const dev = c.get(DmaDevices).get(input.device, input.deviceParams);

  const sgt = new SgTable();
  if (sgAllocTable(sgt, input.entries.length) !== 0) throw new Error('sg_alloc_table failed');
  sgEntries(sgt.sgl, sgt.origNents).forEach((s, i) => {
    const e = input.entries[i]!;
    sgSetPage(s, memmap.pfnToPage(Math.floor(e.phys / PAGE_SIZE)), e.length, e.phys % PAGE_SIZE);
  });

  const ret = dmaMapSgtable(dev, sgt, input.direction);
  const entries: MapEntryJson[] = [];
  const iova = ret === 0 ? lastIova(dev.dmaOps) : undefined;
  if (ret === 0) {
    const swiotlb = c.isBound(Swiotlb) ? c.get(Swiotlb) : undefined;
    for (const s of sgEntries(sgt.sgl, sgt.nents)) {
      const e: MapEntryJson = {
        dmaAddress: hex(s.dmaAddress),
        dmaLength: s.dmaLength,
        busAddress: sgDmaIsBusAddress(s),
      };
      if (swiotlb?.isSwiotlbBuffer(s.dmaAddress)) {
        const orig = dev.dmaOps.dmaToPhys(dev, s.dmaAddress);
        if (orig !== undefined) e.bouncedFrom = hex(orig);
      }
      if (s.dmaAddress + s.dmaLength - 1 > dev.dmaLimit) e.aboveDmaMask = true;
      entries.push(e);
    }
    dmaUnmapSgtable(dev, sgt, input.direction);
  }
  deviceReleaseDriver(dev);
  const result: MapResultJson = {
    strategy: strategy.id,
    ret,
    nents: ret === 0 ? sgt.nents : 0,
    ...(iova ? { iova } : {}),
    entries,
    messages: log.messages().slice(boot).map(logLine),
  };
  if (ret < 0) result.error = errnoName(-ret);
  return result;
}

function renderInput(input: SglInput, ctx: CliContext): string[] {
  const { c } = ctx.out;
  const rows: Cell[][] = [
    ['#', 'cpu phys', 'length', 'page offset', 'memory'].map((t) => cell(t, c.dim)),
  ];
  input.entries.forEach((e, i) => {
    rows.push([
      cell(String(i)),
      cell(hex(e.phys)),
      cell(String(e.length)),
      cell(String(e.phys % PAGE_SIZE)),
      cell(e.provider ? `p2pmem of ${e.provider.bdf}, ${mapTypeName(e.mapType!)}` : 'RAM'),
    ]);
  });
  const dir = ['bidirectional', 'to-device', 'from-device'][input.direction];
  return [
    heading(
      c,
      `Scatterlist for ${input.device.bdf} (${dir}), topology ${relative(process.cwd(), input.topologyFile) || input.topologyFile}`,
    ),
    ...alignColumns(rows).map((l) => `  ${l}`),
  ];
}

function entryNote(e: MapEntryJson, input: SglInput): string {
  const notes: string[] = [];
  if (e.busAddress) notes.push('PCI bus address (peer-to-peer, no IOMMU, nothing to unmap)');
  if (e.bouncedFrom) notes.push(`swiotlb bounce buffer for ${e.bouncedFrom}`);
  if (e.aboveDmaMask) {
    const bits = input.deviceParams.dmaMaskBits ?? input.device.props.dmaMaskBits ?? 64;
    notes.push(`above the device's ${bits}-bit DMA mask (not checked for bus addresses)`);
  }
  return notes.join('; ');
}

function renderResult(
  r: MapResultJson,
  d: StrategyDescriptor,
  ctx: CliContext,
  input: SglInput,
): string[] {
  const { c } = ctx.out;
  const title = d.title.startsWith(`${d.id}:`) ? d.title : `${d.id}: ${d.title}`;
  const lines = ['', heading(c, title)];
  if (r.ret === 0) {
    const n = input.entries.length;
    const merged = r.nents < n ? ` (merged from ${n})` : '';
    lines.push(`  ${c.green('dma_map_sgtable: 0')}, ${r.nents} DMA entries${merged}`);
    if (r.iova) {
      const g = r.iova.granules;
      lines.push(
        `  IOVA range ${r.iova.start}-${r.iova.end} (${g} granule${g === 1 ? '' : 's'} of ${r.iova.granule / 1024} KiB)`,
      );
    }
    const rows: Cell[][] = [['#', 'dma address', 'dma length', ''].map((t) => cell(t, c.dim))];
    r.entries.forEach((e, i) => {
      rows.push([
        cell(String(i)),
        cell(e.dmaAddress),
        cell(String(e.dmaLength)),
        cell(entryNote(e, input), e.aboveDmaMask ? c.yellow : undefined),
      ]);
    });
    lines.push(...alignColumns(rows).map((l) => `  ${l}`));
  } else {
    lines.push(`  ${c.red(`dma_map_sgtable: -${r.error}`)}: ${dmaMapSgtableErrorText(r.ret)}`);
  }
  if (r.messages.length) {
    lines.push(`  ${c.dim('kernel log:')}`, ...r.messages.map((m) => `    ${m}`));
  }
  return lines;
}

export function runMap(path: string, opts: MapOptions, ctx: CliContext): number {
  const registry = cliRegistry(opts.plugin);
  const strategies = selectStrategies(registry, opts.strategy);
  const input = loadSglFile(path, opts.topology);
  const all = strategies.map((s) => mapWithStrategy(input, s, registry));
  const results = all.filter((r): r is MapResultJson => !('notApplicable' in r));
  const notApplicable = all.filter((r) => 'notApplicable' in r);
  if (opts.json) {
    const doc = { schemaVersion: 1, results, ...(notApplicable.length ? { notApplicable } : {}) };
    ctx.out.write(`${JSON.stringify(doc, null, 2)}\n`);
  } else {
    ctx.out.out(...renderInput(input, ctx));
    all.forEach((r, i) => {
      const d = strategies[i]!;
      if ('notApplicable' in r) {
        ctx.out.out('', heading(ctx.out.c, `${d.id}: not applicable`), `  ${r.notApplicable}`);
      } else {
        ctx.out.out(...renderResult(r, d, ctx, input));
      }
    });
  }
  return 0;
}

const HELP_EXAMPLES = `
Input (YAML or JSON):
  topology: ../topologies/switch-2nvme-nic.yaml   # relative to this file (or --topology)
  device: 0000:05:00.0                            # the DMA client
  direction: to-device                            # to-device | from-device | bidirectional
  deviceParams: { maxSegmentSize: 65536, segmentBoundaryMask: 0xffffffff, dmaMaskBits: 64 }
  entries:
    - { phys: "0x100000000", length: 8192 }             # CPU physical RAM
    - { provider: 0000:03:00.0, offset: 0, length: 4096 }  # into that provider's p2pmem

Examples:
  $ dmasim map examples/sgl/nic-reads-cmb.yaml
  $ dmasim map examples/sgl/nic-reads-cmb.yaml --strategy dma-direct --json
  $ dmasim map examples/sgl/nic-gather-iommu.yaml --strategy dma-iommu
  $ dmasim map examples/sgl/nic-reads-cmb.yaml --plugin ./my-plugin
${PLUGIN_HELP}

Exit status: 0 success (whatever the mapping returned), 1 invalid input (file:line:column:
message), 2 usage error.`;

export const mapCommand: CommandModule = {
  register(program, ctx) {
    program
      .command('map')
      .summary('map one scatterlist for one device with each design, side by side')
      .description(
        'Build the scatterlist SGL describes (RAM and P2P memory entries), map it with ' +
          'dma_map_sgtable() for the given device under each design, and show the result code, the ' +
          'DMA entries and the kernel log (the DMA-API debug checker is on).',
      )
      .argument('<sgl>', 'scatterlist file (YAML or JSON)')
      .option('--topology <file>', "topology file (default: the SGL file's `topology`)")
      .addOption(
        new Option(
          '--strategy <name>',
          "design to run: dma-direct, dma-iommu, dma-vec, a plugin's id, or all (repeatable; default all)",
        ).argParser((v: string, prev: string[] | undefined) => [...(prev ?? []), v]),
      )
      .addOption(pluginOption())
      .option('--json', 'print one JSON document (schemaVersion 1)')
      .addHelpText('after', HELP_EXAMPLES)
      .action((path: string, opts: MapOptions) => {
        runMap(path, opts, ctx);
      });
  },
};
