/**
 * Issue 6, the scenario runner's cross-design property: for random small topologies and random
 * scenarios, every design that completes a scenario leaves identical bytes at every destination
 * (each buffer's memory, every namespace, what every device read).
 *
 * Why it must hold: the designs differ in how they name memory for a device (reference §3.2
 * dma-direct: phys, or "phys + bus_offset" for BUS_ADDR; §4.2/§4.6 dma-iommu: an IOVA the IOMMU
 * translates back to the same phys; §5.6 dma_vec bios) and in which transfers they refuse (§1.2,
 * §2.5), never in where a completed transfer's bytes land. So two designs that both complete the
 * same steps must leave the same bytes everywhere.
 *
 * The destinations are read from each design's machine after its run (ScenarioMachine's stores),
 * not from the result JSON, which only says whether the scenario's own verify steps passed.
 */
import fc from 'fast-check';
import {
  generateBytes,
  rangesEqual,
  scenarioFromObject,
  ScenarioMachine,
  ScenarioRun,
  type DataSource,
  type ExtentStore,
  type ScenarioBuffer,
  type StrategyRunResult,
} from '@dmasim/core';
import { builtInRegistry } from '../src/strategies';

const SEED = Number(process.env.FC_SEED ?? 20261121);
/** ~40 ms a case (three machines) on the shared 2-core box: ~4 s for the property. */
const NUM_RUNS = 100;
const KiB = 1024;
const PAGE = 4 * KiB;

// ---------------------------------------------------------------------------------------------
// Topologies

type IommuCase = 'none' | 'strict' | 'lazy' | 'passthrough';

interface TopoCase {
  /**
   * amd: family 0x19, P2P through the host bridge allowed (§1.2, cpu_supports_p2pdma());
   * intel: host bridge 8086:1234, on no allowlist, so THRU_HOST_BRIDGE is NOT_SUPPORTED.
   */
  cpu: 'amd' | 'intel';
  iommu: IommuCase;
  /** The endpoints below one switch (BUS_ADDR between them, §1.2), or each on a root port. */
  switched: boolean;
  /** ACS RR/CR on the switch's downstream ports: BUS_ADDR becomes THRU_HOST_BRIDGE (§1.2). */
  acsRedirect: boolean;
  /** One entry per NVMe controller: whether it has a CMB with RDS and WDS (a provider, §6.4). */
  cmbs: boolean[];
  /** A GPU whose driver registers and publishes 16 MiB of its BAR (p2pmem, §2.2). */
  gpu: boolean;
  /** With a switch: the GPU below it too, or on a root port of its own. */
  gpuBelowSwitch: boolean;
}

const ACS_REDIRECT = { cap: ['SV', 'RR', 'CR', 'UF', 'EC', 'DT'], ctrl: ['SV', 'RR', 'CR', 'UF'] };

const topoArb: fc.Arbitrary<TopoCase> = fc.record({
  cpu: fc.constantFrom<TopoCase['cpu']>('amd', 'intel'),
  iommu: fc.constantFrom<IommuCase>('none', 'strict', 'lazy', 'passthrough'),
  switched: fc.boolean(),
  acsRedirect: fc.boolean(),
  // 2-3 controllers, one or two of them with a CMB
  cmbs: fc.constantFrom(
    [true, false],
    [false, true],
    [true, true],
    [true, false, false],
    [false, false, true],
    [false, true, true],
    [true, false, true],
  ),
  gpu: fc.boolean(),
  gpuBelowSwitch: fc.boolean(),
});

function nvmeName(i: number): string {
  return `nvme${i}`;
}

/** The NVMe controllers and the NIC of a case, as topology spec objects without BDFs. */
function endpoints(t: TopoCase): Record<string, unknown>[] {
  const eps: Record<string, unknown>[] = t.cmbs.map((cmb, i) => ({
    kind: 'endpoint',
    name: nvmeName(i),
    class: 'nvme',
    bars: [
      { bar: 0, size: '16KiB' },
      ...(cmb ? [{ bar: 2, size: '16MiB', prefetchable: true }] : []),
    ],
    ...(cmb ? { cmb: { bar: 2, size: '16MiB', rds: true, wds: true } } : {}),
  }));
  eps.push({
    kind: 'endpoint',
    name: 'nic0',
    class: 'nic',
    bars: [{ bar: 0, size: '32MiB', prefetchable: true }],
  });
  return eps;
}

const GPU = {
  kind: 'endpoint',
  name: 'gpu0',
  class: 'gpu',
  bars: [
    { bar: 0, size: '16MiB' },
    { bar: 1, size: '64MiB', prefetchable: true },
  ],
  p2pmem: { bar: 1, size: '16MiB' },
};

function hex2(n: number): string {
  return n.toString(16).padStart(2, '0');
}

/** The inline topology of a case: one host bridge, a switch or root ports, the endpoints. */
function topologySpec(t: TopoCase): Record<string, unknown> {
  const [vendor, device] = t.cpu === 'amd' ? [0x1022, 0x14a4] : [0x8086, 0x1234];
  const devices: Record<string, unknown>[] = [
    { bdf: '00:00.0', kind: 'host-bridge', vendor, device },
  ];
  // Every bridge gets a secondary bus of its own, numbered in the order they appear.
  let bus = 1;
  let port = 1;
  const rootPort = (child: Record<string, unknown>) => {
    const b = bus++;
    devices.push({
      bdf: `00:${hex2(port++)}.0`,
      kind: 'root-port',
      children: [{ ...child, bdf: `${hex2(b)}:00.0` }],
    });
  };
  const eps = endpoints(t);
  if (t.switched) {
    const below = t.gpu && t.gpuBelowSwitch ? [...eps, GPU] : eps;
    const up = bus++;
    const down = bus++;
    const dsps = below.map((ep, i) => ({
      bdf: `${hex2(down)}:${hex2(i)}.0`,
      kind: 'switch-downstream',
      ...(t.acsRedirect ? { acs: ACS_REDIRECT } : {}),
      children: [{ ...ep, bdf: `${hex2(bus++)}:00.0` }],
    }));
    devices.push({
      bdf: `00:${hex2(port++)}.0`,
      kind: 'root-port',
      children: [{ bdf: `${hex2(up)}:00.0`, kind: 'switch-upstream', children: dsps }],
    });
    if (t.gpu && !t.gpuBelowSwitch) rootPort(GPU);
  } else {
    for (const ep of t.gpu ? [...eps, GPU] : eps) rootPort(ep);
  }
  const cpu = t.cpu === 'amd' ? { vendor: 'AMD', family: 0x19 } : { vendor: 'Intel', family: 6 };
  return {
    platform: { cpu, ...(t.iommu === 'none' ? {} : { iommu: { enabled: true, mode: t.iommu } }) },
    hostBridges: [{ name: 'pci0000:00', bus: 0, devices }],
  };
}

// ---------------------------------------------------------------------------------------------
// Scenarios

const ALLOC_KINDS = [
  'ram',
  'ram-scattered',
  'p2pmem',
  'p2pmem-auto',
  'user-ram',
  'user-p2pmem',
  'concat',
] as const;

interface AllocCase {
  kind: (typeof ALLOC_KINDS)[number];
  /** Size in 4 KiB pages (4 KiB - 512 KiB). */
  pages: number;
  /** Index into the case's providers, modulo their number. */
  provider: number;
  /** Bit i set: DMA device i (the controllers, then nic0) is a client. */
  clients: number;
  /** p2pmem-auto: `fallback: none` instead of nvmet's fall-back to RAM. */
  fallbackNone: boolean;
}

const OPS = ['fill', 'fill-ns', 'dma-write', 'dma-read', 'nvme-write', 'nvme-read'] as const;
const PATTERNS = ['zero', 'random', 'counter', 'byte'] as const;

interface OpCase {
  op: (typeof OPS)[number];
  /** The buffer, modulo the number of allocs. */
  buffer: number;
  /** Page offset and length in the buffer, reduced to fit it. */
  offPages: number;
  lenPages: number;
  /** The controller, modulo their number. */
  nvme: number;
  /** Namespace offset (`at`, a fill's offset) in pages. */
  atPages: number;
  ioPages: number;
  pattern: (typeof PATTERNS)[number];
  seed: number;
  /** Follow a data move with the verify that must pass if the data arrived. */
  verify: boolean;
  /** An NVMe I/O on a user buffer: read()/write() with O_DIRECT, or an in-kernel submitter. */
  odirect: boolean;
}

interface ScenarioCase {
  topo: TopoCase;
  allocs: AllocCase[];
  ops: OpCase[];
  sgls: boolean;
  release: 'v5.x' | '2026';
}

const allocArb: fc.Arbitrary<AllocCase> = fc.record({
  kind: fc.constantFrom(...ALLOC_KINDS),
  pages: fc.integer({ min: 1, max: 128 }),
  provider: fc.nat({ max: 7 }),
  clients: fc.nat({ max: 15 }),
  fallbackNone: fc.boolean(),
});

const opArb: fc.Arbitrary<OpCase> = fc.record({
  op: fc.constantFrom(...OPS),
  buffer: fc.nat({ max: 7 }),
  offPages: fc.nat({ max: 127 }),
  lenPages: fc.nat({ max: 127 }),
  nvme: fc.nat({ max: 5 }),
  // 0 - 1 MiB into the namespace
  atPages: fc.nat({ max: 256 }),
  // ioSize 4 KiB - 256 KiB
  ioPages: fc.integer({ min: 1, max: 64 }),
  pattern: fc.constantFrom(...PATTERNS),
  seed: fc.nat({ max: 1000 }),
  verify: fc.boolean(),
  odirect: fc.boolean(),
});

const caseArb: fc.Arbitrary<ScenarioCase> = fc.record({
  topo: topoArb,
  allocs: fc.array(allocArb, { minLength: 1, maxLength: 3 }),
  ops: fc.array(opArb, { minLength: 1, maxLength: 6 }),
  sgls: fc.boolean(),
  release: fc.constantFrom<ScenarioCase['release']>('v5.x', '2026'),
});

/**
 * The scenario object of a case: the allocs, then the ops, each data move followed by its verify
 * when asked. Every value is made valid here (ranges inside their buffer, O_DIRECT only on user
 * buffers, concat only of earlier kernel buffers), so whatever the runner throws is its bug.
 */
function scenarioObject(c: ScenarioCase): Record<string, unknown> {
  const t = c.topo;
  const nvmes = t.cmbs.map((_, i) => nvmeName(i));
  const providers = [...nvmes.filter((_, i) => t.cmbs[i]), ...(t.gpu ? ['gpu0'] : [])];
  const dmaDevices = [...nvmes, 'nic0'];
  const steps: Record<string, unknown>[] = [];
  const sizes: number[] = [];
  const user = new Set<number>();
  c.allocs.forEach((a, i) => {
    const id = `b${i}`;
    let size = a.pages * PAGE;
    const clients = dmaDevices.filter((_, j) => a.clients & (1 << j));
    const kernelBufs = sizes.map((_, j) => j).filter((j) => !user.has(j));
    let alloc: Record<string, unknown>;
    switch (a.kind) {
      case 'ram':
        alloc = { kind: 'ram', size };
        break;
      case 'ram-scattered':
        alloc = { kind: 'ram', size, layout: 'scattered' };
        break;
      case 'p2pmem':
        alloc = { kind: 'p2pmem', provider: providers[a.provider % providers.length], size };
        if (clients.length) alloc.clients = clients;
        break;
      case 'p2pmem-auto':
        alloc = {
          kind: 'p2pmem',
          provider: 'auto',
          clients: clients.length ? clients : ['nic0'],
          size,
          ...(a.fallbackNone ? { fallback: 'none' } : {}),
        };
        break;
      case 'user-ram':
        alloc = { kind: 'user-ram', size };
        user.add(i);
        break;
      case 'user-p2pmem':
        alloc = { kind: 'user-p2pmem', provider: providers[a.provider % providers.length], size };
        user.add(i);
        break;
      case 'concat':
        if (kernelBufs.length === 0) {
          alloc = { kind: 'ram', size };
          break;
        }
        // The earlier kernel buffers picked by the provider bits, in order (at least one).
        {
          const parts = kernelBufs.filter((j, k) => a.provider & (1 << k));
          const use = parts.length ? parts : kernelBufs;
          size = use.reduce((n, j) => n + sizes[j]!, 0);
          alloc = { kind: 'concat', parts: use.map((j) => `b${j}`) };
        }
        break;
    }
    sizes.push(size);
    steps.push({ id, alloc });
  });
  c.ops.forEach((o, i) => {
    const bi = o.buffer % sizes.length;
    const buffer = `b${bi}`;
    const pages = sizes[bi]! / PAGE;
    const offPages = o.offPages % pages;
    const offset = offPages * PAGE;
    const length = (1 + (o.lenPages % (pages - offPages))) * PAGE;
    const device = nvmes[o.nvme % nvmes.length]!;
    const at = o.atPages * PAGE;
    const id = `s${i}`;
    const range = { buffer, offset, length };
    const verify = (a: unknown, b: unknown) => {
      if (o.verify) steps.push({ id: `${id}v`, verify: { a, b } });
    };
    switch (o.op) {
      case 'fill':
        steps.push({ id, fill: { ...range, pattern: o.pattern, seed: o.seed } });
        break;
      case 'fill-ns':
        steps.push({
          id,
          fill: { namespace: device, offset: at, length, pattern: o.pattern, seed: o.seed },
        });
        break;
      case 'dma-write': {
        // what arrives on the wire: stream bytes 0..length-1 land at buffer offset `offset`
        const data = { pattern: o.pattern, seed: o.seed };
        steps.push({ id, dma: { device: 'nic0', op: 'write', ...range, data } });
        verify(range, { data, length });
        break;
      }
      case 'dma-read':
        steps.push({ id, dma: { device: 'nic0', op: 'read', ...range } });
        verify({ device: 'nic0', length }, range);
        break;
      case 'nvme-write':
      case 'nvme-read':
        steps.push({
          id,
          nvme: {
            device,
            op: o.op === 'nvme-write' ? 'write' : 'read',
            ...range,
            at,
            ioSize: o.ioPages * PAGE,
            ...(user.has(bi) && o.odirect ? { mode: 'odirect' } : {}),
          },
        });
        verify({ namespace: device, offset: at, length }, range);
        break;
    }
  });
  return {
    name: 'property',
    topology: topologySpec(t),
    nvme: { sgls: c.sgls, release: c.release },
    steps,
  };
}

// ---------------------------------------------------------------------------------------------
// Reading a machine's destinations

interface Finished {
  result: StrategyRunResult;
  machine: ScenarioMachine;
  buffers: ReadonlyMap<string, ScenarioBuffer>;
}

/** What runScenario() does for each strategy, keeping the machines to read them afterwards. */
function runAll(obj: Record<string, unknown>): Finished[] {
  const registry = builtInRegistry();
  const s = scenarioFromObject(obj, 'property.yaml');
  return registry.list().map((d) => {
    const machine = new ScenarioMachine(s, d, registry);
    const run = new ScenarioRun(machine);
    const result = run.run();
    // The run keeps its buffers to itself; the test needs them to know where their bytes are.
    const buffers = run['buffers'] as ReadonlyMap<string, ScenarioBuffer>;
    return { result, machine, buffers };
  });
}

type Piece = { store: ExtentStore; off: number; len: number };

/** The first byte where two piece lists of equal total length differ; undefined if none. */
function firstDifference(pa: readonly Piece[], pb: readonly Piece[]): number | undefined {
  let ia = 0;
  let ib = 0;
  let oa = 0;
  let ob = 0;
  let pos = 0;
  while (ia < pa.length && ib < pb.length) {
    const x = pa[ia]!;
    const y = pb[ib]!;
    const n = Math.min(x.len - oa, y.len - ob);
    const r = rangesEqual(x.store, x.off + oa, y.store, y.off + ob, n);
    if (!r.equal) return pos + (r.firstMismatch ?? 0);
    pos += n;
    oa += n;
    ob += n;
    if (oa === x.len) [ia, oa] = [ia + 1, 0];
    if (ob === y.len) [ib, ob] = [ib + 1, 0];
  }
  return undefined;
}

/**
 * Every destination of a machine under a name that is the same in every design: each buffer's
 * bytes (its physical runs in the fabric's memory, in buffer order), every namespace whole, and
 * whatever each device read (a NIC sending).
 */
function destinations(f: Finished): Map<string, Piece[]> {
  const m = f.machine;
  const out = new Map<string, Piece[]>();
  for (const [id, b] of f.buffers) {
    const runs = b.runsOf(0, b.size);
    out.set(
      `buffer ${id}`,
      runs.map((r) => ({ store: m.fabric.memory, off: r.phys, len: r.len })),
    );
  }
  for (const pdev of m.topology.endpoints) {
    if (pdev.props.class !== 'nvme') continue;
    const store = m.nsData.store(m.ctrl(pdev), 1);
    out.set(`${pdev.name}n1`, [{ store, off: 0, len: store.size }]);
  }
  for (const [pdev, store] of m.deviceData) {
    out.set(`what ${pdev.name} read`, [{ store, off: 0, len: store.size }]);
  }
  return out;
}

/** How the destinations of two finished runs differ, one sentence each (none: identical). */
function compare(a: Finished, b: Finished): string[] {
  const [sa, sb] = [a.result.strategy, b.result.strategy];
  const da = destinations(a);
  const db = destinations(b);
  const problems: string[] = [];
  for (const name of new Set([...da.keys(), ...db.keys()])) {
    const pa = da.get(name);
    const pb = db.get(name);
    if (!pa || !pb) {
      problems.push(`${name} exists under ${pa ? sa : sb} only`);
      continue;
    }
    const la = pa.reduce((n, p) => n + p.len, 0);
    const lb = pb.reduce((n, p) => n + p.len, 0);
    if (la !== lb) {
      problems.push(`${name}: ${la} bytes under ${sa}, ${lb} under ${sb}`);
      continue;
    }
    const at = firstDifference(pa, pb);
    if (at !== undefined) problems.push(`${name} differs from byte ${at}: ${sa} vs ${sb}`);
  }
  return problems;
}

/** The physical runs of every buffer, for comparing where two designs put them. */
function bufferPlacement(f: Finished): Record<string, unknown> {
  return Object.fromEntries([...f.buffers].map(([id, b]) => [id, b.runs]));
}

// ---------------------------------------------------------------------------------------------

/** A small AMD machine: nvme0 (CMB) and nic0 on root ports, no IOMMU. */
const SMALL_TOPO: TopoCase = {
  cpu: 'amd',
  iommu: 'none',
  switched: false,
  acsRedirect: false,
  cmbs: [true, false],
  gpu: false,
  gpuBelowSwitch: false,
};

describe(`completed designs agree on every destination (issue 6; §1.2, §3.2, §4.6, §5.6; fc seed ${SEED})`, () => {
  it('the comparison sees a single changed byte in a buffer and in a namespace (the property can fail)', () => {
    // nic0 writes 8 KiB of random data (seed 5) into b0; nvme0 writes b0 to LBA 0. RAM on an AMD
    // machine without an IOMMU: every design completes (§3.2 1:1 mapping of RAM).
    const data: DataSource = { pattern: 'random', seed: 5 };
    const runs = runAll({
      name: 'sanity',
      topology: topologySpec(SMALL_TOPO),
      steps: [
        { id: 'b0', alloc: { kind: 'ram', size: 8 * KiB } },
        { dma: { device: 'nic0', op: 'write', buffer: 'b0', data } },
        { nvme: { device: 'nvme0', op: 'write', buffer: 'b0', at: 0 } },
      ],
    });
    expect(runs.map((r) => r.result.ok)).toEqual([true, true, true]);
    const [a, b] = runs as [Finished, Finished];
    expect(compare(a, b)).toEqual([]);
    // Byte 4097 of b0 (second page, offset 1) gets a value the random stream does not have there.
    const want = generateBytes(data, 4097, 1)[0]!;
    const phys = b.buffers.get('b0')!.runs[0]!.phys;
    b.machine.fabric.memory.write(phys + 4097, Uint8Array.of(want ^ 0xff));
    // Namespace byte 100 of nvme0 likewise.
    const ns = b.machine.nsData.store(b.machine.ctrl(b.machine.topology.get('nvme0')), 1);
    const nsByte = generateBytes(data, 100, 1)[0]!;
    ns.write(100, Uint8Array.of(nsByte ^ 0x01));
    expect(compare(a, b)).toEqual([
      `buffer b0 differs from byte 4097: ${a.result.strategy} vs ${b.result.strategy}`,
      `nvme0n1 differs from byte 100: ${a.result.strategy} vs ${b.result.strategy}`,
    ]);
  });

  it(`${NUM_RUNS} random topologies and scenarios`, () => {
    let compared = 0;
    let pairs = 0;
    let p2pCompared = 0;
    let disagreed = 0;
    fc.assert(
      fc.property(caseArb, (c) => {
        const obj = scenarioObject(c);
        const runs = runAll(obj); // an exception here fails the property: it is a runner bug
        const hasVerify = (obj.steps as object[]).some((s) => 'verify' in s);
        // A run that completed passed every verify step, so it reports its data as verified.
        for (const r of runs) {
          if (r.result.ok && hasVerify) expect(r.result.metrics.integrity).toBe('verified');
        }
        const done = runs.filter((r) => r.result.ok);
        if (done.length > 0 && done.length < runs.length) disagreed++;
        if (done.length < 2) return;
        compared++;
        if (done[0]!.result.metrics.p2pBytes > 0) p2pCompared++;
        for (const other of done.slice(1)) {
          pairs++;
          expect(compare(done[0]!, other)).toEqual([]);
          // The RAM allocator (first fit, never freed) and the p2pmem pools are deterministic,
          // and completed runs made the same allocations in the same order: same addresses.
          expect(bufferPlacement(other)).toEqual(bufferPlacement(done[0]!));
        }
      }),
      { seed: SEED, numRuns: NUM_RUNS },
    );
    console.log(
      `fc seed ${SEED}: ${compared} of ${NUM_RUNS} cases compared (${pairs} pairs of designs, ` +
        `${p2pCompared} cases moving P2P bytes); the designs disagreed on completing ${disagreed}`,
    );
    // Most cases must compare something, or the property says nothing: with the seed above
    // about four in five do (the rest fail in every design: P2P refused, no provider).
    expect(compared).toBeGreaterThanOrEqual(NUM_RUNS / 2);
    expect(p2pCompared).toBeGreaterThanOrEqual(NUM_RUNS / 10);
  });
});

describe('regressions found by the property', () => {
  // Found by the property: a dma step on a user buffer threw "rdma_rw_ctx_init: the buffer has
  // no struct pages" out of runScenario() in dma-direct and dma-iommu (and dma-vec called it a
  // RAM/P2P mix): buffers.ts gave user buffers no pages. Fixed there; user memory has struct
  // pages (RAM; P2P memory mmapped from p2pmem/allocate, which exists only with them, §2.4).
  it('§2.4/§2.5: a NIC reads user RAM and user P2P memory that a kernel driver was handed', () => {
    const runs = runAll({
      name: 'user-buffers',
      topology: topologySpec(SMALL_TOPO),
      steps: [
        { id: 'u', alloc: { kind: 'user-ram', size: 8 * KiB } },
        { id: 'fill-u', fill: { buffer: 'u', pattern: 'counter', seed: 3 } },
        { id: 'send-u', dma: { device: 'nic0', op: 'read', buffer: 'u' } },
        { id: 'check-u', verify: { a: { device: 'nic0', length: 8 * KiB }, b: { buffer: 'u' } } },
        { id: 'p', alloc: { kind: 'user-p2pmem', provider: 'nvme0', size: 4 * KiB } },
        { id: 'recv-p', dma: { device: 'nic0', op: 'write', buffer: 'p' } },
      ],
    });
    expect(runs.map((r) => r.result.strategy)).toEqual(['dma-direct', 'dma-iommu', 'dma-vec']);
    const steps = (r: Finished) => r.result.steps.map((s) => [s.id, s.ok ? 'ok' : s.stage]);
    // Page-backed designs: everything completes (nic0 and the CMB of nvme0 both sit on root
    // ports of an AMD family 0x19 host bridge: THRU_HOST_BRIDGE, allowed, §1.2).
    for (const r of runs.slice(0, 2)) {
      expect(steps(r)).toEqual([
        ['u', 'ok'],
        ['fill-u', 'ok'],
        ['send-u', 'ok'],
        ['check-u', 'ok'],
        ['p', 'ok'],
        ['recv-p', 'ok'],
      ]);
    }
    // dma-vec: P2P memory has no struct pages, so the allocate file cannot be mmapped (§2.5)
    // and the step that uses it is skipped; the user RAM part completes as in the others.
    expect(steps(runs[2]!)).toEqual([
      ['u', 'ok'],
      ['fill-u', 'ok'],
      ['send-u', 'ok'],
      ['check-u', 'ok'],
      ['p', 'alloc'],
      ['recv-p', 'dependency'],
    ]);
  });

  // Regression, found with a 32-bit DMA mask on nic0: AMD, IOMMU strict, nic0 dmaMaskBits 32;
  // b0 = 4 KiB of RAM above 4 GiB; nic0 writes b0. dma-direct (iommu.passthrough=1) bounces
  // through swiotlb, dma-iommu maps an IOVA; swiotlb_bounce() at unmap must copy the device's
  // data from the bounce slot back to b0, or b0 keeps its old bytes.
  test('§3.5 swiotlb: a 32-bit NIC writing RAM above 4 GiB leaves its data in the buffer', () => {
    // b0 is the first RAM allocation: first fit at 4 GiB (RamAllocator), above nic0's 32-bit
    // mask, so dma-direct's dma_capable() fails and swiotlb_map() hands nic0 a slot below 4 GiB;
    // the unmap (DMA_FROM_DEVICE) copies the slot back into b0. Expected: b0 holds the random
    // stream (seed 7) bytes 0..4095 and the verify passes, in every design (no IOMMU: all three
    // use dma-direct for RAM).
    const topo = topologySpec(SMALL_TOPO) as {
      hostBridges: { devices: Record<string, unknown>[] }[];
    };
    const nicPort = topo.hostBridges[0]!.devices.find((d) =>
      (d.children as { name?: string }[] | undefined)?.some((c) => c.name === 'nic0'),
    )!;
    (nicPort.children as Record<string, unknown>[])[0]!.dmaMaskBits = 32;
    const data: DataSource = { pattern: 'random', seed: 7 };
    const runs = runAll({
      name: 'swiotlb-bounce',
      topology: topo,
      steps: [
        { id: 'b0', alloc: { kind: 'ram', size: 4 * KiB } },
        { id: 'recv', dma: { device: 'nic0', op: 'write', buffer: 'b0', data } },
        { id: 'check', verify: { a: { buffer: 'b0' }, b: { data } } },
      ],
    });
    for (const r of runs) {
      expect(r.result.metrics.bounceBytes).toBeGreaterThan(0); // it did bounce
      const b0 = r.buffers.get('b0')!;
      expect(b0.runs[0]!.phys).toBe(2 ** 32);
      const got = r.machine.fabric.memory.read(b0.runs[0]!.phys, 4 * KiB);
      const want = generateBytes(data, 0, 4 * KiB);
      expect(got.findIndex((v, i) => v !== want[i])).toBe(-1); // -1: no byte differs
      expect(r.result.ok).toBe(true);
    }
  });
});
