/**
 * The scenario runner: one scenario, one fresh simulated machine and kernel per strategy (its own
 * container, topology, fabric, namespaces), the steps run in order, and what each design did:
 * which steps worked, where and why the others failed (in the kernel's terms), what it cost
 * (counted by the fabric and the kernel, priced by cost-model.ts) and whether the data arrived.
 *
 * A failed step does not stop the run: the steps that depend on it (through a buffer, a
 * namespace, a device's received data, or `needs`) are skipped, the others go on. A DMA that the
 * hardware dropped silently (a posted write refused by the IOMMU or a root complex) fails its
 * step, but the steps after it run, as they would on a real machine; verify steps then show what
 * was lost.
 */
import type { Container } from 'inversify';
import { bioSplitToLimits } from '../block/blk-merge';
import { bioReleasePages, blkdevDirectIo } from '../block/bio-iov-iter';
import { REQ_OP_READ, REQ_OP_WRITE, type Bio } from '../block/bio';
import { BLK_STS_OK, blkStatusName, blkStatusToErrno, type BlkStatus } from '../block/blk-status';
import { blkRqFromBio, type Request } from '../block/request';
import type { RequestQueue } from '../block/request-queue';
import { createKernelContainer, DmaDevices } from '../di/kernel';
import type { StrategyRegistry } from '../di/registry';
import type { StrategyDescriptor } from '../di/strategy';
import { DmaDataDirection } from '../dma/direction';
import type { DmaDevice } from '../dma/device';
import { DmaMapOps } from '../dma/map-ops';
import { dmaPciP2pdmaSupported } from '../dma/mapping';
import { Swiotlb } from '../dma/swiotlb';
import { errnoName } from '../errno';
import { InputError } from '../input-error';
import { Iommu } from '../iommu/iommu';
import { KernelLog } from '../kernel-log';
import { IovIter, READ, WRITE } from '../mm/iov-iter';
import { MmStruct } from '../mm/mm';
import { Memmap } from '../mm/memremap';
import { PageRefs } from '../mm/page-ref';
import { NVME_CTRL_SGLS_BYTE_ALIGNED } from '../nvme/identify';
import type { NvmeCtrl, NvmeCtrlOptions } from '../nvme/ctrl';
import { NvmeCtrls } from '../nvme/ctrls';
import { nvmeQueueRq, type NvmeQueueRqResult } from '../nvme/execute';
import { NvmeNamespaceData } from '../nvme/namespace-data';
import type { PciDev } from '../pci/device';
import type { PciTopology } from '../pci/topology';
import { P2pMemory } from '../p2pdma/p2p-memory';
import { pciP2pdmaStructPageBytes, pciP2pmemPublish, pciP2pmemVirtToBus } from '../p2pdma/provider';
import { P2pdmaDevices } from '../p2pdma/state';
import { ExtentStore, rangesEqual, type DataSource } from '../fabric/extent-store';
import { Fabric, type DmaTransferResult, type TrafficVisitor } from '../fabric/fabric';
import type { FabricError, FabricPath } from '../fabric/route';
import { KernelSubmitter } from '../target/kernel-submitter';
import { allocBuffer, RamAllocator, type ScenarioBuffer } from './buffers';
import { MODELLED_NOTE, modelCpuNs, resolveCostModel, type CostModel } from './cost-model';
import { explainDifferences } from './differences';
import { defaultStepId, type LoadedScenario } from './loader';
import type {
  Integrity,
  RunMetrics,
  ScenarioRunResult,
  StepResult,
  StepStage,
  StrategyRunResult,
  TransferPath,
} from './result';
import type {
  AllocSpec,
  DmaSpec,
  FillSpec,
  LeafStepSpec,
  NvmeSpec,
  RangeSpec,
  StepSpec,
  VerifySpec,
} from './schema';

export { MODELLED_NOTE };

export interface RunScenarioOptions {
  registry: StrategyRegistry;
  /** Strategy ids; default the scenario's list, else every registered strategy. */
  strategies?: readonly string[];
  /** Called with each strategy's result as it finishes (for --ndjson). */
  onResult?: (r: StrategyRunResult) => void;
}

/** The strategies a run uses, checked against the registry (unknown ids are invalid input). */
export function selectScenarioStrategies(
  s: LoadedScenario,
  registry: StrategyRegistry,
  ids?: readonly string[],
): StrategyDescriptor[] {
  const want = ids ?? s.strategies;
  if (!want || want.includes('all')) return [...registry.list()];
  return want.map((id) => {
    const d = registry.get(id);
    if (!d) {
      const known = registry
        .list()
        .map((x) => x.id)
        .join(', ');
      throw new InputError(`unknown strategy "${id}" (registered: ${known})`, {
        file: s.file ?? '<scenario>',
      });
    }
    return d;
  });
}

/** Runs the scenario under each strategy, each in a machine of its own. */
export function runScenario(s: LoadedScenario, opts: RunScenarioOptions): ScenarioRunResult {
  const results: StrategyRunResult[] = [];
  for (const d of selectScenarioStrategies(s, opts.registry, opts.strategies)) {
    const r = runScenarioStrategy(s, d, opts.registry);
    results.push(r);
    opts.onResult?.(r);
  }
  return {
    schemaVersion: 1,
    scenario: s.name,
    modelled: MODELLED_NOTE,
    results,
    notes: explainDifferences(results),
  };
}

// ---------------------------------------------------------------------------------------------
// One machine

/** One simulated machine running one design: the kernel's container and the hardware models. */
export class ScenarioMachine {
  readonly topology: PciTopology;
  readonly container: Container;
  readonly log: KernelLog;
  readonly p2p: P2pdmaDevices;
  readonly devices: DmaDevices;
  readonly ctrls: NvmeCtrls;
  readonly fabric: Fabric;
  readonly nsData = new NvmeNamespaceData();
  readonly submitter: KernelSubmitter;
  readonly mm: MmStruct;
  readonly ram: RamAllocator;
  readonly cost: CostModel;
  readonly structPages: boolean;
  /** What devices read from memory (a NIC sending), by device. */
  readonly deviceData = new Map<PciDev, ExtentStore>();
  readonly notes: string[] = [];

  constructor(
    readonly scenario: LoadedScenario,
    readonly strategy: StrategyDescriptor,
    registry: StrategyRegistry,
  ) {
    const spec = scenario.spec;
    let topology = scenario.buildTopology();
    const iommuSpec = topology.platform.iommu;
    if (
      (strategy.platformDmaOps === 'direct' || strategy.untranslated === true) &&
      iommuSpec?.enabled &&
      iommuSpec.mode !== 'passthrough'
    ) {
      // dma-direct is what devices get when nothing translates: the run puts the IOMMU in
      // passthrough (iommu.passthrough=1) rather than fault every DMA.
      topology = scenario.buildTopology({ iommu: { ...iommuSpec, mode: 'passthrough' } });
      this.notes.push(
        `${strategy.id} maps without translation, so this machine boots with iommu.passthrough=1 (identity domains) instead of the scenario's ${iommuSpec.mode} IOMMU.`,
      );
    }
    this.topology = topology;
    this.cost = resolveCostModel(spec.cost);
    this.container = createKernelContainer({
      topology,
      strategy,
      modules: registry.modulesFor(strategy, topology),
    });
    const c = this.container;
    this.log = c.get(KernelLog);
    this.p2p = c.get(P2pdmaDevices);
    this.devices = c.get(DmaDevices);
    this.ctrls = c.get(NvmeCtrls);
    this.submitter = c.get<KernelSubmitter>(KernelSubmitter);
    const mem = c.get<P2pMemory>(P2pMemory);
    this.structPages = mem.structPages;
    this.mm = new MmStruct(c.get(PageRefs), { log: this.log, memmap: c.get(Memmap) });
    this.ram = new RamAllocator(topology.memoryMap);
    this.fabric = new Fabric(topology, c.get(Iommu), {
      // NCCL charges the 1.2x on Intel CPUs only (anchors §2)
      peerThroughRootComplexFactor:
        topology.cpu.vendor === 'Intel' ? this.cost.peerThroughRootComplexFactor : 1,
    });
    // swiotlb copies its bounces through the same memory the fabric delivers into
    c.get(Swiotlb).attachMemory(this.fabric.memory);
    // Boot: the nvme driver probes every controller (nvme_map_cmb() registers CMBs), other
    // drivers register and publish the P2P memory the topology gives them.
    const nvme: NvmeCtrlOptions = {
      release: spec.nvme?.release,
      sgls: spec.nvme?.sgls ? NVME_CTRL_SGLS_BYTE_ALIGNED : undefined,
      sglThreshold: spec.nvme?.sglThreshold,
    };
    for (const d of topology.endpoints) {
      if (d.props.class === 'nvme') this.ctrls.get(d, stripUndefined(nvme));
    }
    for (const d of topology.devices) {
      const pm = d.props.p2pmem;
      if (!pm || d.props.class === 'nvme') continue;
      const ret = mem.addResource(this.p2p, d, pm.bar, pm.size, pm.offset, this.log);
      if (ret === 0 && pm.publish) pciP2pmemPublish(this.p2p, d, true);
      if (ret !== 0)
        this.notes.push(`${d.label}: pci_p2pdma_add_resource() failed with ${errnoName(ret)}.`);
    }
  }

  get ops(): DmaMapOps {
    return this.container.get<DmaMapOps>(DmaMapOps);
  }

  dmaDevice(dev: PciDev): DmaDevice {
    return this.devices.get(dev);
  }

  ctrl(dev: PciDev): NvmeCtrl {
    return this.ctrls.get(dev);
  }

  deviceStore(dev: PciDev): ExtentStore {
    let s = this.deviceData.get(dev);
    if (!s) {
      s = new ExtentStore(`${dev.label} received`, Number.MAX_SAFE_INTEGER);
      this.deviceData.set(dev, s);
    }
    return s;
  }
}

function stripUndefined<T extends object>(o: T): T {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as T;
}

// ---------------------------------------------------------------------------------------------
// Steps

/** A step failure in the kernel's terms. */
interface Failure {
  stage: StepStage;
  code: string;
  message: string;
  /** The hardware dropped data without telling the initiator: later steps still run. */
  silent?: boolean;
}

/** What the run counted beyond the fabric and the DMA ops. */
class Tally {
  ios = 0;
  /** Lookups and BUS_ADDR addresses submitters made outside the DMA API (dma-vec). */
  p2pLookups = 0;
  busAddrSegments = 0;
  dmaSegments = 0;
  nvmeDescriptors = 0;
  metadataBytes = 0;
  structPagesTouched = 0;
  verifies = 0;
  mismatches = 0;
}

interface LeafStep {
  id: string;
  spec: LeafStepSpec;
  /** Flattened index. */
  index: number;
  /** Resources the step reads or writes: buf:<id>, ns:<dev>:<nsid>, dev:<dev>. */
  resources: Set<string>;
  /** Flattened indexes of the steps it depends on. */
  deps: number[];
}

type StepUnit = { leaf: LeafStep } | { id: string; repeat: number; leaves: LeafStep[] };

/** A device reference as one name (a name and a BDF of the same device must match). */
type DevRef = (ref: string) => string;

function rangeResource(r: RangeSpec, dev: DevRef): string | undefined {
  if ('buffer' in r) return `buf:${r.buffer}`;
  if ('namespace' in r) return `ns:${dev(r.namespace)}:${r.nsid ?? 1}`;
  if ('device' in r) return `dev:${dev(r.device)}`;
  return undefined;
}

function resourcesOf(s: LeafStepSpec, id: string, dev: DevRef): Set<string> {
  const out = new Set<string>();
  if ('alloc' in s) {
    out.add(`buf:${id}`);
    for (const p of s.alloc.parts ?? []) out.add(`buf:${p}`);
  } else if ('fill' in s) {
    out.add(
      s.fill.buffer !== undefined
        ? `buf:${s.fill.buffer}`
        : `ns:${dev(s.fill.namespace!)}:${s.fill.nsid ?? 1}`,
    );
  } else if ('dma' in s) {
    out.add(`buf:${s.dma.buffer}`);
    if (s.dma.op === 'read') out.add(`dev:${dev(s.dma.device)}`);
  } else if ('nvme' in s) {
    out.add(`buf:${s.nvme.buffer}`);
    out.add(`ns:${dev(s.nvme.device)}:${s.nvme.nsid ?? 1}`);
  } else if ('verify' in s) {
    for (const r of [s.verify.a, s.verify.b]) {
      const x = rangeResource(r, dev);
      if (x) out.add(x);
    }
  }
  return out;
}

/** The scenario's steps as units (a leaf, or a repeat of leaves) with their dependencies. */
export function planSteps(
  steps: readonly StepSpec[],
  dev: DevRef = (ref) => ref,
): { units: StepUnit[]; leaves: LeafStep[] } {
  const leaves: LeafStep[] = [];
  const byId = new Map<string, number[]>();
  const add = (spec: LeafStepSpec, id: string, needs: readonly string[]): LeafStep => {
    const resources = resourcesOf(spec, id, dev);
    const deps = new Set<number>();
    for (const prev of leaves) {
      for (const r of resources) if (prev.resources.has(r)) deps.add(prev.index);
    }
    for (const n of needs) for (const i of byId.get(n) ?? []) deps.add(i);
    const leaf = { id, spec, index: leaves.length, resources, deps: [...deps] };
    leaves.push(leaf);
    byId.set(id, [leaf.index]);
    return leaf;
  };
  const units: StepUnit[] = steps.map((s, i) => {
    const id = defaultStepId(s, i);
    if ('repeat' in s) {
      const inner = s.steps.map((x, j) =>
        add(x, defaultStepId(x, j, id), [...(s.needs ?? []), ...(x.needs ?? [])]),
      );
      byId.set(
        id,
        inner.map((l) => l.index),
      );
      return { id, repeat: s.repeat, leaves: inner };
    }
    return { leaf: add(s as LeafStepSpec, id, s.needs ?? []) };
  });
  return { units, leaves };
}

const KiB = 1024;
const DEFAULT_IO_SIZE = 128 * KiB;
const DEFAULT_DATA: DataSource = { pattern: 'random', seed: 1 };

function fmtBytes(n: number): string {
  for (const [u, v] of [
    ['TiB', 2 ** 40],
    ['GiB', 2 ** 30],
    ['MiB', 2 ** 20],
    ['KiB', 2 ** 10],
  ] as const) {
    if (n >= v && n % (v / 1024) === 0) return `${+(n / v).toFixed(2)} ${u}`;
  }
  return `${n} bytes`;
}

/** Runs one scenario under one strategy. */
export function runScenarioStrategy(
  s: LoadedScenario,
  d: StrategyDescriptor,
  registry: StrategyRegistry,
): StrategyRunResult {
  const m = new ScenarioMachine(s, d, registry);
  return new ScenarioRun(m).run();
}

/** The execution of a scenario's steps on one machine. */
export class ScenarioRun {
  private readonly buffers = new Map<string, ScenarioBuffer>();
  private readonly tally = new Tally();
  /** Leaves whose failure blocks their dependents. */
  private readonly blocking = new Set<number>();
  private readonly notes: string[];
  /** Paths taken, by step id, then by fabric path. */
  private readonly transfers = new Map<string, Map<FabricPath, TransferPath>>();

  constructor(readonly m: ScenarioMachine) {
    this.notes = [...m.notes];
  }

  run(): StrategyRunResult {
    const { units, leaves } = planSteps(this.m.scenario.spec.steps, this.devRef);
    this.leaves = leaves;
    const out: StepResult[] = [];
    for (const u of units) {
      if ('leaf' in u) {
        out.push(this.runLeaf(u.leaf, 0));
        continue;
      }
      // A repeat: the leaves in order, `repeat` times; a blocking failure ends the loop.
      const inner: (StepResult | undefined)[] = u.leaves.map(() => undefined);
      let done = 0;
      for (let it = 0; it < u.repeat; it++) {
        let stop = false;
        u.leaves.forEach((leaf, j) => {
          if (stop) return;
          const prev = inner[j];
          if (prev && !prev.ok) return; // a silent failure keeps its first message
          const r = this.runLeaf(leaf, it);
          inner[j] = r;
          if (this.blocking.has(leaf.index)) stop = true;
        });
        if (stop) break;
        done++;
      }
      const failed = inner.find((r) => r && !r.ok && !r.skipped);
      const skipped = inner.every((r) => r?.skipped);
      out.push({
        id: u.id,
        ok: done === u.repeat && inner.every((r) => r?.ok),
        skipped,
        stage: failed?.stage ?? (skipped ? 'dependency' : null),
        error: failed?.error ?? (skipped ? inner[0]!.error : null),
        detail: `${done} of ${u.repeat} iterations completed`,
      });
      for (const [j, r] of inner.entries()) {
        out.push(r ?? this.skippedResult(u.leaves[j]!, u.id));
      }
    }
    return {
      strategy: this.m.strategy.id,
      ok: out.every((r) => r.ok),
      steps: out,
      metrics: this.metrics(out),
      notes: this.finalNotes(),
      ...(this.transfers.size ? { transfers: this.transferPaths() } : {}),
    };
  }

  /** The paths taken, by step; a path that only refused DMAs names no target memory. */
  private transferPaths(): TransferPath[] {
    const out: TransferPath[] = [];
    for (const byPath of this.transfers.values()) {
      for (const t of byPath.values()) {
        if (t.writeBytes + t.readBytes === 0 && t.targetBdf === undefined) {
          out.push({ ...t, target: '(refused)' });
        } else out.push(t);
      }
    }
    return out;
  }

  /** Adds what the fabric carried since the last call to the step's paths. */
  private collectTraffic(stepId: string): void {
    this.trafficStep = stepId;
    this.m.fabric.takeTraffic(this.addTraffic);
  }

  private trafficStep = '';
  /** One visitor for every step (no closure per step of a million-I/O stream). */
  private readonly addTraffic: TrafficVisitor = (path, writeBytes, readBytes, refused) => {
    const stepId = this.trafficStep;
    let byPath = this.transfers.get(stepId);
    if (!byPath) {
      byPath = new Map();
      this.transfers.set(stepId, byPath);
    }
    let tp = byPath.get(path);
    if (!tp) {
      tp = newTransferPath(stepId, path);
      byPath.set(path, tp);
    }
    tp.writeBytes += writeBytes;
    tp.readBytes += readBytes;
    tp.refused += refused;
  };

  private skippedResult(leaf: LeafStep, because: string): StepResult {
    return {
      id: leaf.id,
      ok: false,
      skipped: true,
      stage: 'dependency',
      error: {
        code: 'SKIPPED',
        message: `not run: step "${because}", which it depends on, failed`,
      },
    };
  }

  private runLeaf(leaf: LeafStep, iteration: number): StepResult {
    for (const dep of leaf.deps) {
      if (this.blocking.has(dep)) {
        this.blocking.add(leaf.index);
        const because = this.leafId(dep);
        const r = this.skippedResult(leaf, because);
        return r;
      }
    }
    let f: Failure | undefined;
    let detail: string | undefined;
    const s = leaf.spec;
    if ('alloc' in s) ({ f, detail } = this.alloc(leaf.id, s.alloc));
    else if ('fill' in s) f = this.fill(s.fill);
    else if ('dma' in s) ({ f, detail } = this.dma(s.dma, iteration));
    else if ('nvme' in s) ({ f, detail } = this.nvme(s.nvme, iteration));
    else ({ f, detail } = this.verify(s.verify));
    if (f && !f.silent) this.blocking.add(leaf.index);
    this.collectTraffic(leaf.id);
    const r: StepResult = f
      ? {
          id: leaf.id,
          ok: false,
          skipped: false,
          stage: f.stage,
          error: { code: f.code, message: f.message },
          ...(detail ? { detail } : {}),
        }
      : {
          id: leaf.id,
          ok: true,
          skipped: false,
          stage: null,
          error: null,
          ...(detail ? { detail } : {}),
        };
    return r;
  }

  private leaves: readonly LeafStep[] = [];
  private readonly devRef: DevRef = (ref) => this.m.topology.find(ref)?.bdf ?? ref;
  private leafId(i: number): string {
    return this.leaves[i]?.id ?? `#${i}`;
  }

  // -- alloc ------------------------------------------------------------------------------------

  private alloc(id: string, spec: AllocSpec): { f?: Failure; detail?: string } {
    const m = this.m;
    const r = allocBuffer(
      {
        buffers: this.buffers,
        topology: m.topology,
        p2p: m.p2p,
        memmap: m.container.get(Memmap),
        ram: m.ram,
        mm: m.mm,
        log: m.log,
        structPages: m.structPages,
        p2pdmaSupported: (d) => dmaPciP2pdmaSupported(m.devices.get(d)),
      },
      id,
      spec,
    );
    if (!r.ok) return { f: { stage: 'alloc', code: errnoName(r.errno), message: r.message } };
    this.buffers.set(id, r.buffer);
    this.notes.push(...r.notes);
    const where =
      spec.kind === 'concat'
        ? `${spec.parts!.join(' + ')}`
        : r.buffer.provider
          ? `P2P memory of ${r.buffer.provider.label}`
          : 'RAM';
    return {
      detail: `${fmtBytes(r.buffer.size)} of ${where}${r.buffer.opts.fellBack ? ' (fall-back)' : ''}`,
    };
  }

  private buffer(id: string): ScenarioBuffer {
    const b = this.buffers.get(id);
    if (!b) throw new Error(`buffer ${id} is not allocated`); // checked by the loader
    return b;
  }

  private span(b: ScenarioBuffer, offset?: number, length?: number): { off: number; len: number } {
    const off = offset ?? 0;
    const len = length ?? b.size - off;
    if (off + len > b.size || len <= 0) {
      throw new InputError(
        `range [${off}, +${len}) does not fit buffer "${b.id}" of ${b.size} bytes`,
        { file: this.m.scenario.file ?? '<scenario>' },
      );
    }
    return { off, len };
  }

  // -- fill -------------------------------------------------------------------------------------

  private fill(spec: FillSpec): Failure | undefined {
    const src = { pattern: spec.pattern, seed: spec.seed };
    if (spec.namespace !== undefined) {
      const ctrl = this.m.ctrl(this.m.topology.get(spec.namespace));
      this.m.nsData.store(ctrl, spec.nsid ?? 1).fill(spec.offset ?? 0, spec.length!, src, 0);
      return undefined;
    }
    const b = this.buffer(spec.buffer!);
    const { off, len } = this.span(b, spec.offset, spec.length);
    for (const r of b.runsOf(off, len)) {
      this.m.fabric.memory.fill(r.phys, r.len, src, r.offset - off);
    }
    return undefined;
  }

  // -- dma --------------------------------------------------------------------------------------

  private dma(spec: DmaSpec, iteration: number): { f?: Failure; detail?: string } {
    const m = this.m;
    const b = this.buffer(spec.buffer);
    const { off, len } = this.span(b, spec.offset, spec.length);
    const pdev = m.topology.get(spec.device);
    const dev = m.dmaDevice(pdev);
    const write = spec.op === 'write';
    const dir = write ? DmaDataDirection.DMA_FROM_DEVICE : DmaDataDirection.DMA_TO_DEVICE;
    const stream = iteration * len;
    let segments: { dmaAddress: number; length: number }[];
    let unmap = () => {};
    this.tally.ios++;
    if (spec.mapping === 'bus-address') {
      // The buggy driver: pci_p2pmem_virt_to_bus() (or the physical address of RAM) programmed
      // into the device, no DMA API involved.
      const addr =
        b.provider && b.p2pVirt !== undefined
          ? pciP2pmemVirtToBus(m.p2p, b.provider, b.p2pVirt + off)
          : b.physAt(off);
      segments = [{ dmaAddress: addr, length: len }];
    } else {
      const r = m.submitter.mapForDevice(dev, b, off, len, dir);
      if (typeof r === 'number') {
        return { f: { stage: 'map', code: errnoName(r), message: mapFailureText(r, pdev, b) } };
      }
      if (!('segments' in r)) {
        return {
          f: {
            stage: 'map',
            code: r.errno !== undefined ? errnoName(r.errno) : blkStatusName(r.status),
            message: r.message,
          },
        };
      }
      segments = r.segments;
      unmap = r.unmap;
      this.tally.p2pLookups += r.p2pLookups ?? 0;
      this.tally.busAddrSegments += r.busAddrSegments ?? 0;
      this.tally.metadataBytes += r.metadataBytes;
      this.tally.structPagesTouched += r.structPagesTouched;
    }
    this.tally.dmaSegments += segments.length;
    let wire: ExtentStore | undefined;
    if (write) {
      wire = new ExtentStore(`${pdev.label} wire`, stream + len);
      wire.fill(stream, len, spec.data ?? DEFAULT_DATA, stream);
    }
    const sink = write ? undefined : m.deviceStore(pdev);
    let done = 0;
    let failure: Failure | undefined;
    for (const seg of segments) {
      const t: DmaTransferResult = write
        ? m.fabric.dmaWrite(pdev, seg.dmaAddress, seg.length, wire!, stream + done)
        : m.fabric.dmaRead(pdev, seg.dmaAddress, seg.length, sink!, stream + done);
      done += seg.length;
      if (!t.ok && t.error && !failure) failure = fabricFailure(t.error);
    }
    unmap();
    const how =
      spec.mapping === 'bus-address'
        ? 'bus address programmed by the driver'
        : `${segments.length} DMA segment${segments.length === 1 ? '' : 's'}`;
    return {
      f: failure,
      detail: `${fmtBytes(len)} ${write ? 'written' : 'read'} by ${pdev.label}, ${how}`,
    };
  }

  // -- nvme -------------------------------------------------------------------------------------

  private nvme(spec: NvmeSpec, iteration: number): { f?: Failure; detail?: string } {
    const m = this.m;
    const b = this.buffer(spec.buffer);
    const { off, len } = this.span(b, spec.offset, spec.length);
    const pdev = m.topology.get(spec.device);
    const ctrl = m.ctrl(pdev);
    const nsid = spec.nsid ?? 1;
    const q = ctrl.queues.get(nsid);
    if (!q) {
      return {
        f: {
          stage: 'nvme-status',
          code: 'NVME_SC_INVALID_NS',
          message: `${ctrl.name} has no namespace ${nsid}`,
        },
      };
    }
    const ioSize = spec.ioSize ?? DEFAULT_IO_SIZE;
    const write = spec.op === 'write';
    const at = (spec.at ?? 0) + iteration * len;
    const mode = spec.mode ?? 'kernel';
    if (mode === 'odirect' && !b.user) {
      throw new InputError(
        `O_DIRECT needs a user buffer (user-ram or user-p2pmem), and "${b.id}" is ${b.kind}`,
        { file: m.scenario.file ?? '<scenario>' },
      );
    }
    let ios = 0;
    for (let done = 0; done < len; done += ioSize) {
      const n = Math.min(ioSize, len - done);
      const pos = at + done;
      const f =
        mode === 'kernel'
          ? this.nvmeKernelIo(q, ctrl, write, pos, b, off + done, n)
          : this.nvmeDirectIo(q, ctrl, write, pos, b, off + done, n);
      ios++;
      if (f) return { f, detail: `failed at I/O ${ios} (byte ${done} of ${len})` };
    }
    const how = mode === 'kernel' ? 'in-kernel' : 'O_DIRECT';
    return {
      detail: `${ios} ${how} ${write ? 'write' : 'read'}${ios === 1 ? '' : 's'} of ${fmtBytes(Math.min(ioSize, len))} on ${ctrl.name}n${nsid}`,
    };
  }

  private nvmeKernelIo(
    q: RequestQueue,
    ctrl: NvmeCtrl,
    write: boolean,
    pos: number,
    b: ScenarioBuffer,
    off: number,
    len: number,
  ): Failure | undefined {
    const m = this.m;
    const dev = m.dmaDevice(ctrl.pci);
    const io = m.submitter.buildRequests(
      q,
      dev,
      write ? REQ_OP_WRITE : REQ_OP_READ,
      pos / 512,
      b,
      off,
      len,
    );
    this.tally.metadataBytes += io.vecBytes;
    this.tally.structPagesTouched += io.structPagesTouched;
    this.tally.p2pLookups += io.p2pLookups ?? 0;
    this.tally.busAddrSegments += io.busAddrSegments ?? 0;
    try {
      if (io.failure) {
        const x = io.failure;
        return {
          stage: x.stage === 'map' ? 'map' : x.stage === 'split' ? 'split' : 'bio',
          code: x.errno !== undefined ? errnoName(x.errno) : blkStatusName(x.status),
          message: x.message,
        };
      }
      return this.submitRequests(ctrl, io.requests);
    } finally {
      io.release();
    }
  }

  private nvmeDirectIo(
    q: RequestQueue,
    ctrl: NvmeCtrl,
    write: boolean,
    pos: number,
    b: ScenarioBuffer,
    off: number,
    len: number,
  ): Failure | undefined {
    const m = this.m;
    const user = b.user!;
    // read(2) fills the buffer (ITER_DEST), write(2) takes from it (ITER_SOURCE)
    const iter = IovIter.ubuf(user.mm, write ? WRITE : READ, user.addr + off, len);
    const r = blkdevDirectIo(q, iter, pos);
    const refs = m.container.get(PageRefs);
    const release = (bios: Bio[]) => bios.forEach((bio) => bioReleasePages(bio, refs));
    if (r.ret < 0) {
      release(r.bios);
      return {
        stage: 'pin',
        code: errnoName(r.ret),
        message: directIoFailureText(r.ret, q, b),
      };
    }
    for (const bio of r.bios) {
      this.tally.metadataBytes += bio.vcnt * 16;
      this.tally.structPagesTouched += bio.vcnt;
    }
    const rqs: Request[] = [];
    for (const bio of r.bios) {
      let piece: Bio | undefined = bio;
      while (piece) {
        const sp = bioSplitToLimits(piece);
        if (!sp.bio) {
          release(r.bios);
          return {
            stage: 'split',
            code: blkStatusName(sp.status),
            message: `bio_split_to_limits() failed with ${blkStatusName(sp.status)}`,
          };
        }
        rqs.push(blkRqFromBio(q, sp.bio, sp.nrSegs));
        piece = sp.remainder;
      }
    }
    const f = this.submitRequests(ctrl, rqs);
    release(r.bios);
    if (!f && r.ret < len) {
      return {
        stage: 'pin',
        code: 'short',
        message: `the O_DIRECT ${write ? 'write' : 'read'} returned ${r.ret} of ${len} bytes (a short transfer)`,
      };
    }
    return f;
  }

  private submitRequests(ctrl: NvmeCtrl, rqs: readonly Request[]): Failure | undefined {
    const m = this.m;
    for (const rq of rqs) {
      const r = nvmeQueueRq(ctrl, rq, m.fabric, m.nsData);
      this.tally.ios++;
      this.tally.dmaSegments += r.segments;
      this.tally.nvmeDescriptors += r.nvmeDescriptors;
      this.tally.metadataBytes += r.descriptorBlockBytes;
      const f = queueRqFailure(r, ctrl);
      if (f) return f;
    }
    return undefined;
  }

  // -- verify -----------------------------------------------------------------------------------

  private verify(spec: VerifySpec): { f?: Failure; detail?: string } {
    const a = this.resolveRange(spec.a);
    const b = this.resolveRange(spec.b);
    const len = Math.min(a.len ?? Number.POSITIVE_INFINITY, b.len ?? Number.POSITIVE_INFINITY);
    if (a.len !== undefined && b.len !== undefined && a.len !== b.len) {
      throw new InputError(
        `verify compares ${a.name} (${a.len} bytes) with ${b.name} (${b.len} bytes): give equal lengths`,
        { file: this.m.scenario.file ?? '<scenario>' },
      );
    }
    this.tally.verifies++;
    // Walk both sides' contiguous pieces together.
    const pa = a.pieces(len);
    const pb = b.pieces(len);
    let ia = 0;
    let ib = 0;
    let oa = 0;
    let ob = 0;
    let pos = 0;
    while (pos < len) {
      const x = pa[ia]!;
      const y = pb[ib]!;
      const n = Math.min(x.len - oa, y.len - ob);
      const r = rangesEqual(x.store, x.off + oa, y.store, y.off + ob, n);
      if (!r.equal) {
        this.tally.mismatches++;
        const at = pos + (r.firstMismatch ?? 0);
        return {
          f: {
            stage: 'verify',
            code: 'mismatch',
            message: `${a.name} and ${b.name} differ from byte ${at} on: data was lost or misplaced`,
          },
        };
      }
      pos += n;
      oa += n;
      ob += n;
      if (oa === x.len) {
        ia++;
        oa = 0;
      }
      if (ob === y.len) {
        ib++;
        ob = 0;
      }
    }
    return { detail: `${fmtBytes(len)} identical` };
  }

  private resolveRange(r: RangeSpec): {
    name: string;
    len?: number;
    pieces(len: number): { store: ExtentStore; off: number; len: number }[];
  } {
    const m = this.m;
    const off = r.offset ?? 0;
    if ('buffer' in r) {
      const b = this.buffer(r.buffer);
      const s = this.span(b, r.offset, r.length);
      return {
        name: `buffer "${b.id}"`,
        len: s.len,
        pieces: (len) =>
          b.runsOf(s.off, len).map((x) => ({ store: m.fabric.memory, off: x.phys, len: x.len })),
      };
    }
    if ('namespace' in r) {
      const ctrl = m.ctrl(m.topology.get(r.namespace));
      const nsid = r.nsid ?? 1;
      const store = m.nsData.store(ctrl, nsid);
      return {
        name: `${ctrl.name}n${nsid}`,
        len: r.length,
        pieces: (len) => [{ store, off, len }],
      };
    }
    if ('device' in r) {
      const pdev = m.topology.get(r.device);
      const store = m.deviceStore(pdev);
      return {
        name: `what ${pdev.label} read`,
        len: r.length,
        pieces: (len) => [{ store, off, len }],
      };
    }
    const src = r.data;
    return {
      name: `the ${src.pattern} data (seed ${src.seed})`,
      len: r.length,
      pieces: (len) => {
        const store = new ExtentStore('expected', off + len);
        store.fill(off, len, src, off);
        return [{ store, off, len }];
      },
    };
  }

  // -- metrics ----------------------------------------------------------------------------------

  private metrics(steps: readonly StepResult[]): RunMetrics {
    const m = this.m;
    const fs = m.fabric.stats;
    const iommu = m.container.get(Iommu);
    const ops = m.ops.counters?.() ?? {
      segmentsMapped: 0,
      iovaAllocs: 0,
      iovaBytesPeak: 0,
      fqQueued: 0,
      busAddrSegments: 0,
      p2pLookups: 0,
    };
    const swiotlb = m.container.get(Swiotlb);
    const t = this.tally;
    const cpu = modelCpuNs(
      {
        ios: t.ios,
        segmentsMapped: Math.max(0, ops.segmentsMapped),
        busAddrSegments: ops.busAddrSegments + t.busAddrSegments,
        p2pLookups: ops.p2pLookups + t.p2pLookups,
        structPagesTouched: t.structPagesTouched,
        iovaAllocs: ops.iovaAllocs,
        iommuMapCalls: iommu.counters.iommuMap,
        iotlbSyncs: iommu.counters.iotlbSync,
        fqQueued: ops.fqQueued,
        iotlbFlushAlls: iommu.counters.flushIotlbAll,
        bounceBytes: swiotlb.stats.bytesBounced,
      },
      m.cost,
    );
    let integrity: Integrity = 'not-checked';
    const verifyRan = steps.some((s) => !s.skipped && (s.ok || s.stage === 'verify'));
    if (t.mismatches > 0) integrity = 'mismatch';
    else if (t.verifies > 0 && verifyRan) integrity = 'verified';
    return {
      bytesTransferred: fs.payloadBytes,
      p2pBytes: fs.p2pBytes,
      hostBridgeBytes: fs.hostBridgeBytes,
      iommuTranslatedBytes: fs.translatedBytes,
      bounceBytes: swiotlb.stats.bytesBounced,
      dmaSegments: t.dmaSegments,
      nvmeDescriptors: t.nvmeDescriptors,
      iovaBytesPeak: ops.iovaBytesPeak,
      iotlbMisses: iommu.enabled ? iommu.iotlbStats().misses : 0,
      iommuFaults: iommu.faults.length,
      structPageBytes: pciP2pdmaStructPageBytes(m.p2p),
      mappingMetadataBytes: t.metadataBytes,
      cpuNs: Math.round(cpu.mapping),
      transferNs: Math.round(fs.transferNs),
      effectiveGBps: fs.transferNs > 0 ? round3(fs.payloadBytes / fs.transferNs) : 0,
      integrity,
    };
  }

  private finalNotes(): string[] {
    const m = this.m;
    const notes = [...this.notes];
    const seen = new Set<string>();
    for (const e of m.log.messages()) {
      if (e.level === 'info') continue;
      const line = `kernel: ${e.dev ? `${e.dev}: ` : ''}${e.msg}`;
      if (seen.has(line)) continue;
      seen.add(line);
      if (seen.size > 8) break;
      notes.push(line);
    }
    return notes;
  }
}

/** A path of a step's DMAs, with nothing counted yet. */
function newTransferPath(step: string, p: FabricPath): TransferPath {
  return {
    step,
    initiator: p.initiator.name ?? p.initiator.bdf,
    target: p.target ? (p.target.name ?? p.target.bdf) : p.viaRootComplex ? 'RAM' : '(refused)',
    initiatorBdf: p.initiator.bdf,
    ...(p.target ? { targetBdf: p.target.bdf } : {}),
    writeBytes: 0,
    readBytes: 0,
    refused: 0,
    viaRootComplex: p.viaRootComplex,
    crossHostBridge: p.crossHostBridge,
    links: p.hops.map((h) => ({ bdf: h.dev.bdf, dir: h.dir })),
  };
}

function round3(x: number): number {
  return Math.round(x * 1000) / 1000;
}

function fabricFailure(e: FabricError): Failure {
  return { stage: e.stage, code: e.code, message: e.message, silent: e.silent };
}

function mapFailureText(ret: number, dev: PciDev, b: ScenarioBuffer): string {
  const what = b.provider ? `P2P memory of ${b.provider.label}` : 'the buffer';
  if (errnoName(ret) === '-EREMOTEIO') {
    return `dma_map_sgtable() refused ${what} for ${dev.label}: the kernel does not allow P2P DMA between them (-EREMOTEIO)`;
  }
  return `mapping ${what} for ${dev.label} failed with ${errnoName(ret)}`;
}

function directIoFailureText(ret: number, q: RequestQueue, b: ScenarioBuffer): string {
  const name = errnoName(ret);
  if (name === '-EREMOTEIO') {
    return `pinning the user pages of "${b.id}" failed with -EREMOTEIO: they are P2P memory and ${q.name} does not advertise PCI_P2PDMA, so the block layer did not pass FOLL_PCI_P2PDMA`;
  }
  if (name === '-EINVAL') {
    return `O_DIRECT refused the buffer with -EINVAL: its address or length is not aligned to the logical block size`;
  }
  return `O_DIRECT failed with ${name}`;
}

function queueRqFailure(r: NvmeQueueRqResult, ctrl: NvmeCtrl): Failure | undefined {
  if (!r.executed) {
    if (r.blkStatus === BLK_STS_OK) return undefined;
    const errno = blkStatusToErrno(r.blkStatus);
    return {
      stage: 'map',
      code: blkStatusName(r.blkStatus),
      message: prepFailureText(r.blkStatus, ctrl, errno),
    };
  }
  const e = r.exec!;
  // A dropped posted write: the controller completes successfully and never knows.
  const silent = e.errors.find((x) => x.silent);
  if (r.blkStatus !== BLK_STS_OK) {
    const visible = e.errors.find((x) => !x.silent);
    return {
      stage: visible ? (visible.stage as StepStage) : 'nvme-status',
      code: visible?.code ?? e.statusName,
      message: `${ctrl.name} completed the command with ${e.statusName} (${blkStatusName(r.blkStatus)})${visible ? `: ${visible.message}` : e.detail ? `: ${e.detail}` : ''}`,
    };
  }
  if (silent) {
    return {
      stage: silent.stage as StepStage,
      code: silent.code,
      message: `${silent.message}; ${ctrl.name} was not told and completed the command successfully, so the data is silently lost`,
      silent: true,
    };
  }
  return undefined;
}

function prepFailureText(sts: BlkStatus, ctrl: NvmeCtrl, errno: number): string {
  const name = blkStatusName(sts);
  if (name === 'BLK_STS_TARGET') {
    return `${ctrl.name}: mapping the request failed with -EREMOTEIO (the device cannot reach that P2P memory), which nvme_map_data() reports as ${name}`;
  }
  return `${ctrl.name}: nvme_prep_rq() failed with ${name} (${errnoName(errno)})`;
}
