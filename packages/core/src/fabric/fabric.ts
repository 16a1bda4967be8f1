/**
 * The PCIe fabric of one simulated machine (hardware, issue 6): every DMA a device performs is
 * routed as memory requests through the topology (route.ts), translated at the root complex by
 * the initiator's IOMMU domain, and delivered: bytes really move between the device's buffer and
 * `memory`, the CPU physical address space where RAM and BARs keep their data. Each link counts
 * the TLPs and wire bytes that crossed it (link-model.ts's pcie-model formulas, anchors §1).
 *
 * Address spaces. A device emits a DMA address. Switches route it as a PCI bus address (§1.1
 * BUS_ADDR: cpu + busOffset, §4.6). A request that reaches the root complex is an IOVA when the
 * initiator is in an IOMMU paging domain, and a CPU physical address otherwise (no IOMMU or an
 * identity domain: RAM has bus == phys, and dma-direct gives THRU_HOST_BRIDGE peers the BAR's CPU
 * address). A bus address that reaches the root complex (ACS redirect) is not turned back into a
 * CPU address: under an IOMMU it faults, which is what a mapper that hands a bus address to a
 * redirected device gets.
 *
 * At the root complex: RAM, or a BAR under the same or another host bridge (peer traffic, which
 * the root complex forwards per `platform.rootComplexP2p`), or nothing (Unsupported Request). A
 * refused request moves no data: a posted write is dropped without the initiator being told
 * (`silent`), a read completes with an error. A request that any of its pieces cannot complete is
 * refused whole, as Iommu.dmaAccess() refuses a DMA at its first faulting page.
 *
 * Cost. TLPs and wire bytes per link and direction come from tlpTraffic() with the path's MPS
 * (the lowest any function on the path states, default 256) and the initiator's MRRS (default
 * 512); every link of a path carries the same TLPs. A DMA's wire time is its payload over the
 * slowest link's effectiveBandwidth() for that operation and size, times
 * `peerThroughRootComplexFactor` for peer traffic through a root complex; the memory controller is
 * not a bottleneck. A link's gen and width are the lowest its two ends state (default gen 3 x16
 * when neither does). A DMA that crosses no link (to the device's own BAR, or from a root-complex
 * integrated endpoint) is charged at the rate of the initiator's own `link` (or the default) and
 * counted on no link. A refused write is charged and counted on the links it crossed (the device
 * sent it); a refused read counts its requests and is not charged time.
 */
import { DmaDataDirection } from '../dma/direction';
import { iommuFaultLogLine, type IommuFault, type IommuFaultInfo } from '../iommu/fault';
import type { DmaAccessSegment, Iommu } from '../iommu/iommu';
import { IOMMU_DOMAIN_IDENTITY } from '../iommu/domain';
import { IOMMU_READ, IOMMU_WRITE } from '../iommu/prot';
import type { PciDev } from '../pci/device';
import type { PciTopology } from '../pci/topology';
import { hexAddr } from '../pci/units';
import { ExtentStore } from './extent-store';
import { effectiveBandwidth, tlpTraffic } from './link-model';
import { FabricStats, type LinkCounters } from './link-stats';
import {
  DEFAULT_FABRIC_LINK,
  FabricPath,
  UpstreamDecoder,
  type FabricError,
  type FabricErrorCode,
  type FabricHop,
  type FabricOp,
  type FabricRoute,
  type FabricTarget,
  type PathDefaults,
} from './route';

export interface FabricOptions {
  /**
   * Multiplies the wire time of peer traffic through a root complex; default 1. NCCL charges
   * 1.2x when GPU P2P crosses an Intel CPU (anchors §2).
   */
  peerThroughRootComplexFactor?: number;
  /** The pcie-model's DLLP overhead factor (link-model.ts), for every link. */
  dllpFactor?: number;
  /** The link of a device and port that state none; default gen 3 x16. */
  defaultLink?: { gen: number; width: number };
}

export interface DmaTransferResult {
  ok: boolean;
  /** Payload bytes delivered (0 when refused). */
  bytes: number;
  route: FabricRoute;
  /** Modelled wire time. */
  transferNs: number;
  error?: FabricError;
}

type TlpTraffic = ReturnType<typeof tlpTraffic>;

/** Per path, per operation and size: the TLPs on each link and the bottleneck rate. */
interface PathCost {
  readonly traffic: TlpTraffic;
  /** Gb/s: bits per ns. */
  readonly gbps: number;
}

/** A FabricPath with the stats counters of its hops and its cost cache. */
interface PathState {
  readonly path: FabricPath;
  readonly counters: readonly LinkCounters[];
  readonly costs: Map<number, PathCost>;
  /** Since the last takeTraffic(): payload bytes by direction, and refused DMAs. */
  readonly tally: { write: number; read: number; refused: number };
}

/**
 * Receives, from takeTraffic(), one path and what it carried since the last call: payload bytes
 * the device wrote and read along it, and DMAs refused on it.
 */
export type TrafficVisitor = (
  path: FabricPath,
  writeBytes: number,
  readBytes: number,
  refused: number,
) => void;

/** Sizes cached per path before the cache is emptied (scenarios use a handful). */
const COST_CACHE_LIMIT = 256;

/** One physical piece of a resolved DMA and the path its bytes take. */
interface Piece {
  readonly target: FabricTarget;
  readonly state: PathState;
}

interface Resolved {
  readonly route: FabricRoute;
  readonly pieces: readonly Piece[];
  /** A refused request: the path it took up to the refusal. */
  readonly failed?: PathState;
}

const NO_HOPS: readonly FabricHop[] = Object.freeze([]);
const NO_PORTS: readonly PciDev[] = Object.freeze([]);
const NO_TARGETS: readonly FabricTarget[] = Object.freeze([]);

type Translation =
  | { ok: true; translated: boolean; segments: readonly DmaAccessSegment[] }
  | { ok: false; fault: IommuFault };

export class Fabric {
  /** CPU physical address space: RAM and BARs hold data here, keyed by CPU physical address. */
  readonly memory: ExtentStore;
  readonly stats = new FabricStats();
  /** Whether the root complexes forward peer writes and reads (platform.rootComplexP2p). */
  readonly rootComplexP2p: { readonly write: boolean; readonly read: boolean };
  private readonly defaults: PathDefaults;
  private readonly peerFactor: number;
  private acsGeneration: number;
  private decoders: (UpstreamDecoder | undefined)[] = [];
  /** Per initiator index: paths by key (see pathKey). */
  private paths: (Map<number, PathState> | undefined)[] = [];
  /** Paths that carried something since the last takeTraffic(). */
  private readonly touched = new Set<PathState>();

  constructor(
    readonly topology: PciTopology,
    readonly iommu: Iommu,
    opts: FabricOptions = {},
  ) {
    const map = topology.memoryMap;
    let top = 0;
    for (const r of map.ram) top = Math.max(top, r.end);
    for (const b of map.bars) top = Math.max(top, b.end);
    this.memory = new ExtentStore('physical memory', top);
    const p2p = topology.platform.rootComplexP2p;
    this.rootComplexP2p = Object.freeze({ write: p2p?.write ?? true, read: p2p?.read ?? true });
    const factor = opts.peerThroughRootComplexFactor ?? 1;
    if (!(factor > 0)) throw new RangeError(`peerThroughRootComplexFactor ${factor} must be > 0`);
    this.peerFactor = factor;
    this.defaults = {
      defaultLink: opts.defaultLink ?? DEFAULT_FABRIC_LINK,
      ...(opts.dllpFactor !== undefined ? { dllpFactor: opts.dllpFactor } : {}),
    };
    this.acsGeneration = topology.acsGeneration;
  }

  /**
   * The route a request of `size` bytes at DMA address `addr` from `initiator` takes, without
   * moving data or counting anything. IOMMU translation reads the domain's page table directly
   * (no IOTLB lookup, no fault recorded or logged), so a stale IOTLB entry that a lazy unmap left
   * behind, which a real DMA would still use, is not seen here.
   */
  route(initiator: PciDev, addr: number, size: number, op: FabricOp): FabricRoute {
    return this.resolve(initiator, addr, size, op, true).route;
  }

  /**
   * The device writes `len` bytes at DMA address `addr`, taking them from `src` at `srcOff` (a NIC
   * receive, an NVMe read command's data phase).
   */
  dmaWrite(
    initiator: PciDev,
    addr: number,
    len: number,
    src: ExtentStore,
    srcOff: number,
  ): DmaTransferResult {
    const r = this.resolve(initiator, addr, len, 'write', false);
    let off = 0;
    for (const p of r.pieces) {
      this.memory.copyFrom(src, srcOff + off, p.target.phys, p.target.size);
      off += p.target.size;
    }
    return this.account(r, 'write', len);
  }

  /** The device reads `len` bytes at DMA address `addr` into `dst` at `dstOff`. */
  dmaRead(
    initiator: PciDev,
    addr: number,
    len: number,
    dst: ExtentStore,
    dstOff: number,
  ): DmaTransferResult {
    const r = this.resolve(initiator, addr, len, 'read', false);
    let off = 0;
    for (const p of r.pieces) {
      dst.copyFrom(this.memory, p.target.phys, dstOff + off, p.target.size);
      off += p.target.size;
    }
    return this.account(r, 'read', len);
  }

  /** Counts a resolved DMA's traffic and payload; returns its result. */
  private account(r: Resolved, op: FabricOp, len: number): DmaTransferResult {
    const s = this.stats;
    s.dmas++;
    let ns = 0;
    const route = r.route;
    if (!route.ok) {
      const err = route.error!;
      if (err.stage === 'iommu-fault') s.faults++;
      else if (err.code === 'UR') s.urs++;
      else s.rcP2pDrops++;
      if (r.failed) {
        r.failed.tally.refused++;
        this.touched.add(r.failed);
        const c = this.cost(r.failed, op, len);
        this.countLinks(r.failed, c.traffic, false); // a refused read gets no data back
        if (op === 'write') ns = (len * 8) / c.gbps;
      }
      s.transferNs += ns;
      return { ok: false, bytes: 0, route, transferNs: ns, error: err };
    }
    for (const p of r.pieces) {
      const size = p.target.size;
      const c = this.cost(p.state, op, size);
      this.countLinks(p.state, c.traffic, op === 'read');
      const peerRc = p.target.kind === 'bar' && p.state.path.viaRootComplex;
      ns += ((size * 8) / c.gbps) * (peerRc ? this.peerFactor : 1);
      if (p.target.kind === 'bar') s.p2pBytes += size;
      if (p.state.path.viaRootComplex) s.hostBridgeBytes += size;
      p.state.tally[op] += size;
      this.touched.add(p.state);
    }
    s.payloadBytes += len;
    if (route.translated) s.translatedBytes += len;
    s.transferNs += ns;
    return { ok: true, bytes: len, route, transferNs: ns };
  }

  /**
   * Hands `visit` the paths that carried payload or refused a DMA since the last call, in
   * first-use order, and zeroes their tallies: a scenario runner takes them after each step to
   * draw where data went. Allocates nothing, as it runs once per step of a million-I/O stream.
   */
  takeTraffic(visit: TrafficVisitor): void {
    if (this.touched.size === 0) return;
    for (const st of this.touched) {
      const t = st.tally;
      visit(st.path, t.write, t.read, t.refused);
      t.write = 0;
      t.read = 0;
      t.refused = 0;
    }
    this.touched.clear();
  }

  /**
   * Adds the TLPs of one piece to the links of its path: the requests in the direction of each
   * hop and, with `completions`, a read's completions the other way.
   */
  private countLinks(st: PathState, t: TlpTraffic, completions: boolean): void {
    const hops = st.path.hops;
    for (let i = 0; i < hops.length; i++) {
      const c = st.counters[i];
      const req = hops[i].dir === 'up' ? c.up : c.down;
      req.bytes += t.requestBytes;
      req.tlps += t.requestTlps;
      if (completions) {
        const cpl = hops[i].dir === 'up' ? c.down : c.up;
        cpl.bytes += t.completionBytes;
        cpl.tlps += t.completionTlps;
      }
    }
  }

  private cost(st: PathState, op: FabricOp, size: number): PathCost {
    const key = op === 'write' ? size : -size;
    let c = st.costs.get(key);
    if (c) return c;
    const path = st.path;
    const traffic = tlpTraffic(path.params, op, size);
    let gbps = Infinity;
    for (const p of path.hopParams) gbps = Math.min(gbps, effectiveBandwidth(p, op, size));
    if (gbps === Infinity) gbps = effectiveBandwidth(path.params, op, size);
    c = { traffic, gbps };
    if (st.costs.size >= COST_CACHE_LIMIT) st.costs.clear();
    st.costs.set(key, c);
    return c;
  }

  /** Caches built from the ACS settings are dropped when setAcsCtrl() changes one. */
  private checkAcs(): void {
    if (this.acsGeneration === this.topology.acsGeneration) return;
    this.acsGeneration = this.topology.acsGeneration;
    this.decoders = [];
  }

  private decoder(dev: PciDev): UpstreamDecoder {
    let d = this.decoders[dev.index];
    if (!d) {
      d = new UpstreamDecoder(dev);
      this.decoders[dev.index] = d;
    }
    return d;
  }

  /**
   * The cached path from `initiator`: to `target`'s BAR (turning at `turnAt`, or through the root
   * complex when null), to RAM through the root complex (no target), loopback, or up to a refusal
   * at bridge `turnAt` (no target).
   */
  private pathTo(
    initiator: PciDev,
    viaRc: boolean,
    turnAt: PciDev | null,
    target: PciDev | undefined,
    loopback = false,
  ): PathState {
    let m = this.paths[initiator.index];
    if (!m) {
      m = new Map();
      this.paths[initiator.index] = m;
    }
    // keys: loopback -1, RAM via the root complex -2, refusal below bridge b -(3 + b.index),
    // peer to t: 2 * t.index (+1 through the root complex)
    const key = loopback
      ? -1
      : target
        ? 2 * target.index + (viaRc ? 1 : 0)
        : viaRc
          ? -2
          : -3 - turnAt!.index;
    let st = m.get(key);
    if (!st) {
      const path = new FabricPath(initiator, viaRc, turnAt, target, this.defaults, loopback);
      st = {
        path,
        counters: path.hops.map((h) => this.stats.link(h.dev)),
        costs: new Map(),
        tally: { write: 0, read: 0, refused: 0 },
      };
      m.set(key, st);
    }
    return st;
  }

  private resolve(
    initiator: PciDev,
    addr: number,
    size: number,
    op: FabricOp,
    dry: boolean,
  ): Resolved {
    if (!Number.isSafeInteger(addr) || addr < 0 || !Number.isSafeInteger(size) || size <= 0) {
      throw new RangeError(`fabric: bad DMA range ${addr} + ${size}`);
    }
    if (op !== 'write' && op !== 'read') throw new RangeError(`fabric: unknown operation ${op}`);
    this.checkAcs();
    const last = addr + size - 1;
    const d = this.decoder(initiator).lookup(addr);
    if (d && d.kind !== 'redirect') {
      const turnAt = d.turnAt;
      if (d.kind === 'hole' || last >= d.end) {
        const what =
          d.kind === 'hole'
            ? `inside the memory window of ${d.dev.label}, but no function below it decodes it`
            : `runs past the end of the range ${d.dev.label} decodes (${hexAddr(d.end)})`;
        return this.refused(
          initiator,
          op,
          turnAt ? this.pathTo(initiator, false, turnAt, undefined) : undefined,
          'UR',
          `${this.dmaText(initiator, op, size, addr)}: the bus address is ${what}`,
        );
      }
      const hb = initiator.hostBridge;
      const phys = addr - hb.busOffset;
      const b = this.topology.memoryMap.barAt(phys);
      if (!b || b.dev.hostBridge !== hb || !isBelow(b.dev, d.dev) || phys + size > b.end) {
        return this.refused(
          initiator,
          op,
          this.pathTo(initiator, false, turnAt ?? initiator, undefined),
          'UR',
          `${this.dmaText(initiator, op, size, addr)}: ${d.dev.label} claims the bus address, but no BAR below it holds the whole range`,
        );
      }
      const st =
        d.kind === 'loopback'
          ? this.pathTo(initiator, false, null, initiator, true)
          : this.pathTo(initiator, false, turnAt, b.dev);
      const target: FabricTarget = { kind: 'bar', dev: b.dev, bar: b.bar.bar, phys, size };
      return {
        route: {
          ok: true,
          hops: st.path.hops,
          ports: st.path.ports,
          viaRootComplex: false,
          crossHostBridge: false,
          translated: false,
          targets: [target],
        },
        pieces: [{ target, state: st }],
      };
    }
    const redirectedBy = d?.redirectedBy;
    if (!d) {
      const above = this.decoder(initiator).firstAbove(addr, last);
      if (above) {
        return this.refused(
          initiator,
          op,
          this.pathTo(initiator, false, above.turnAt ?? initiator, undefined),
          'UR',
          `${this.dmaText(initiator, op, size, addr)}: the range runs into bus address ${hexAddr(above.start)}, which ${above.dev.label} decodes`,
        );
      }
    }
    return this.atRootComplex(initiator, addr, size, op, dry, redirectedBy);
  }

  /** The request has reached the initiator's root complex. */
  private atRootComplex(
    initiator: PciDev,
    addr: number,
    size: number,
    op: FabricOp,
    dry: boolean,
    redirectedBy: PciDev | undefined,
  ): Resolved {
    const up = this.pathTo(initiator, true, null, undefined);
    const why = redirectedBy
      ? ` (sent to the root complex by ACS Request Redirect on ${redirectedBy.label})`
      : '';
    const tr = dry
      ? this.peekTranslate(initiator, addr, size, op)
      : this.translate(initiator, addr, size, op);
    if (!tr.ok) {
      const f = tr.fault;
      const reason =
        f.reason === 'blocked'
          ? 'the device is in a blocked IOMMU domain'
          : f.reason === 'permission'
            ? `the IOMMU mapping of ${hexAddr(f.address)} does not permit a ${op === 'write' ? 'write' : 'read'}`
            : `the IOMMU has no mapping for ${hexAddr(f.address)}${f.beyondAperture ? ' (beyond the domain aperture)' : ''}`;
      return this.refused(
        initiator,
        op,
        up,
        'IO_PAGE_FAULT',
        `${this.dmaText(initiator, op, size, addr)}${why}: ${reason}; IOMMU fault, no data moved`,
        redirectedBy,
        f,
      );
    }
    const map = this.topology.memoryMap;
    const pieces: Piece[] = [];
    const targets: FabricTarget[] = [];
    let cross = false;
    for (const seg of tr.segments) {
      const end = seg.paddr + seg.size;
      for (let at = seg.paddr; at < end;) {
        const ram = map.ramAt(at);
        if (ram) {
          const stop = Math.min(end, ram.end);
          const prev = targets[targets.length - 1];
          if (prev && prev.kind === 'ram' && prev.phys + prev.size === at) {
            const merged: FabricTarget = {
              kind: 'ram',
              phys: prev.phys,
              size: prev.size + stop - at,
            };
            targets[targets.length - 1] = merged;
            pieces[pieces.length - 1] = { target: merged, state: pieces[pieces.length - 1].state };
          } else {
            const t: FabricTarget = { kind: 'ram', phys: at, size: stop - at };
            targets.push(t);
            pieces.push({ target: t, state: up });
          }
          at = stop;
          continue;
        }
        const b = map.barAt(at);
        if (!b) {
          const where = tr.translated
            ? `IOVA ${hexAddr(seg.iova + (at - seg.paddr))} translates to ${hexAddr(at)}, where there is neither RAM nor a BAR`
            : `${hexAddr(at)}, taken as a CPU physical address (no IOMMU translation), is neither RAM nor a BAR`;
          return this.refused(
            initiator,
            op,
            up,
            'UR',
            `${this.dmaText(initiator, op, size, addr)}${why}: ${where}: Unsupported Request at the root complex`,
            redirectedBy,
          );
        }
        if (!this.rootComplexP2p[op]) {
          return this.refused(
            initiator,
            op,
            up,
            op === 'write' ? 'RC_P2P_WRITE_DROPPED' : 'RC_P2P_READ_DROPPED',
            `${this.dmaText(initiator, op, size, addr)}${why}: the target is BAR ${b.bar.bar} of ${b.dev.label}, and the root complex does not forward peer-to-peer ${op === 'write' ? 'writes (dropped)' : 'reads (completed with an error)'} (platform.rootComplexP2p.${op} is false)`,
            redirectedBy,
          );
        }
        const stop = Math.min(end, b.end);
        const t: FabricTarget = {
          kind: 'bar',
          dev: b.dev,
          bar: b.bar.bar,
          phys: at,
          size: stop - at,
        };
        const st = this.pathTo(initiator, true, null, b.dev);
        if (st.path.crossHostBridge) cross = true;
        targets.push(t);
        pieces.push({ target: t, state: st });
        at = stop;
      }
    }
    // The request's route: up to the root complex, then down to each BAR it reaches (every
    // path through the root complex starts with the same links up).
    let hops = up.path.hops;
    let ports = up.path.ports;
    const only = pieces.length > 0 && pieces.every((p) => p.state === pieces[0].state);
    if (only) {
      hops = pieces[0].state.path.hops;
      ports = pieces[0].state.path.ports;
    } else {
      const seen = new Set<PathState>([up]);
      for (const p of pieces) {
        if (seen.has(p.state)) continue;
        seen.add(p.state);
        hops = hops.concat(p.state.path.hops.slice(up.path.hops.length));
        ports = ports.concat(p.state.path.ports.slice(up.path.ports.length));
      }
    }
    return {
      route: {
        ok: true,
        hops,
        ports,
        viaRootComplex: true,
        crossHostBridge: cross,
        ...(redirectedBy ? { redirectedBy } : {}),
        translated: tr.translated,
        targets,
      },
      pieces,
    };
  }

  private refused(
    initiator: PciDev,
    op: FabricOp,
    failed: PathState | undefined,
    code: FabricErrorCode,
    message: string,
    redirectedBy?: PciDev,
    fault?: IommuFault,
  ): Resolved {
    const silent = op === 'write';
    const error: FabricError = {
      stage: code === 'IO_PAGE_FAULT' ? 'iommu-fault' : 'route',
      code,
      message: silent
        ? `${message}; the write is posted, so ${initiator.label} is not told`
        : `${message}; ${initiator.label} receives an error completion`,
      ...(fault ? { fault } : {}),
      silent,
    };
    return {
      route: {
        ok: false,
        hops: failed ? failed.path.hops : NO_HOPS,
        ports: failed ? failed.path.ports : NO_PORTS,
        viaRootComplex: failed?.path.viaRootComplex ?? false,
        crossHostBridge: false,
        ...(redirectedBy ? { redirectedBy } : {}),
        translated: false,
        targets: NO_TARGETS,
        error,
      },
      pieces: [],
      ...(failed ? { failed } : {}),
    };
  }

  private dmaText(dev: PciDev, op: FabricOp, size: number, addr: number): string {
    return `${dev.label}: DMA ${op} of ${size} bytes at ${hexAddr(addr)}`;
  }

  /** The DMA through the IOMMU (records and logs a fault, fills the IOTLB). */
  private translate(dev: PciDev, addr: number, size: number, op: FabricOp): Translation {
    const r = this.iommu.dmaAccess(
      dev,
      addr,
      size,
      op === 'write' ? DmaDataDirection.DMA_FROM_DEVICE : DmaDataDirection.DMA_TO_DEVICE,
    );
    return r.ok ? { ok: true, translated: r.translated, segments: r.segments } : r;
  }

  /**
   * What Iommu.dmaAccess() would answer, read from the page table without touching the IOTLB,
   * the fault record or the log.
   */
  private peekTranslate(dev: PciDev, addr: number, size: number, op: FabricOp): Translation {
    const domain = this.iommu.iommuGetDomainForDev(dev);
    if (!domain || domain.type === IOMMU_DOMAIN_IDENTITY) {
      return { ok: true, translated: false, segments: [{ iova: addr, paddr: addr, size }] };
    }
    const direction =
      op === 'write' ? DmaDataDirection.DMA_FROM_DEVICE : DmaDataDirection.DMA_TO_DEVICE;
    const fault = (
      address: number,
      reason: IommuFaultInfo['reason'],
      beyondAperture = false,
    ): Translation => {
      const info: IommuFaultInfo = {
        device: dev.bdf,
        address,
        direction,
        reason,
        domainId: domain.id,
        beyondAperture,
      };
      const line = iommuFaultLogLine(this.topology.cpu, dev, info);
      return { ok: false, fault: line ? { ...info, message: line.msg } : info };
    };
    const pt = domain.pageTable;
    if (!pt) return fault(addr, 'blocked');
    const need = op === 'write' ? IOMMU_WRITE : IOMMU_READ;
    const segments: DmaAccessSegment[] = [];
    const end = addr + size;
    for (let at = addr; at < end;) {
      if (at > domain.geometry.apertureEnd) return fault(at, 'unmapped', true);
      const pte = pt.leafAt(at);
      if (!pte) return fault(at, 'unmapped');
      if ((pte.prot & need) !== need) return fault(at, 'permission');
      const stop = Math.min(end, pte.iova + pte.size);
      const paddr = pte.paddr + (at - pte.iova);
      const prev = segments[segments.length - 1];
      if (prev && prev.paddr + prev.size === paddr) {
        segments[segments.length - 1] = { ...prev, size: prev.size + stop - at };
      } else segments.push({ iova: at, paddr, size: stop - at });
      at = stop;
    }
    return { ok: true, translated: true, segments };
  }
}

/** `dev` is `top` or below it. */
function isBelow(dev: PciDev, top: PciDev): boolean {
  for (let d: PciDev | null = dev; d; d = d.upstream) if (d === top) return true;
  return false;
}
