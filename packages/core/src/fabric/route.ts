/**
 * How a PCIe memory request finds its way through the topology (hardware, issue 6): the route
 * types the fabric reports, the upstream decoding each initiator's requests meet on their way to
 * the root complex, and the cached paths (links, ports, link parameters) between an initiator and
 * a target.
 *
 * Routing rules (PCIe Base spec address routing and ACS, reference §1.2 for the kernel's reading):
 * - Below a host bridge a request is routed on its PCI bus address. Bridge windows are held in
 *   CPU addresses (PciWindow), so a window's bus range is base + the host bridge's busOffset.
 * - A function's request for its own BAR is served inside the function (no link is crossed): an
 *   NVMe controller reading data from its own CMB does this. The PCIe spec never sends a TLP back
 *   out of the port it came in on, so there is no other way for it.
 * - Going up, at every bus the request meets, a sibling whose BAR or window holds the address
 *   claims it (peer-to-peer: it turns down there), unless ACS P2P Request Redirect (RR) is on in
 *   the ingress port: a switch downstream port for DSP-to-DSP traffic, or the initiating function
 *   itself for traffic between the functions of one multi-function device. Redirected, it goes to
 *   the root complex and is not turned down again on the way (a port does not route a request
 *   back out of the port it arrived on).
 * - An address inside a bridge's window that no function below it decodes: Unsupported Request.
 * - ACS Completion Redirect and Egress Control, which the kernel also treats as "redirect"
 *   (pci_bridge_has_acs_redir()), are not modelled: completions follow their request back, and
 *   the egress control vector is not in the topology format. Where the kernel sees CR or EC but
 *   no RR on the ingress port it hands out a THRU_HOST_BRIDGE address, which reaches the root
 *   complex anyway (an IOVA or a CPU address that no switch window holds), so the two agree.
 * - At the root complex every request goes through the initiator's IOMMU domain, whatever the
 *   ACS of its root port: VT-d and AMD-Vi remap every request a root port forwards, so a root
 *   port's ACS changes the IOMMU groups, not the route. Traffic between root ports of one host
 *   bridge and between host bridges is peer traffic of the root complex (platform.rootComplexP2p).
 */
import { PCI_ACS_RR } from '../pci/acs';
import type { PciDev } from '../pci/device';
import type { IommuFault } from '../iommu/fault';
import { DEFAULT_LINK_PARAMS, type LinkParams } from './link-model';

/** A memory write by the device (MWr TLPs) or a memory read (MRd requests, CplD completions). */
export type FabricOp = 'write' | 'read';

/**
 * One PCIe link crossed by the request: `dev`'s upstream link (for a multi-function device, that
 * of its lowest function), towards the root complex ('up') or away from it ('down'). A read's
 * completions cross the same links the other way.
 */
export interface FabricHop {
  readonly dev: PciDev;
  readonly dir: 'up' | 'down';
}

/** Where the bytes of a DMA live, by CPU physical address (after any IOMMU translation). */
export type FabricTarget =
  | { readonly kind: 'ram'; readonly phys: number; readonly size: number }
  | {
      readonly kind: 'bar';
      readonly dev: PciDev;
      readonly bar: number;
      readonly phys: number;
      readonly size: number;
    };

export type FabricErrorCode =
  'IO_PAGE_FAULT' | 'UR' | 'RC_P2P_WRITE_DROPPED' | 'RC_P2P_READ_DROPPED';

export interface FabricError {
  readonly stage: 'route' | 'iommu-fault';
  readonly code: FabricErrorCode;
  /** A sentence a user understands, naming devices by label. */
  readonly message: string;
  readonly fault?: IommuFault;
  /**
   * The initiator is not told: a posted write that was dropped (it believes the write done). A
   * refused read completes with an error status, which the initiator sees.
   */
  readonly silent: boolean;
}

export interface FabricRoute {
  readonly ok: boolean;
  /** Links the request crossed, in order (for a refused request, those before the refusal). */
  readonly hops: readonly FabricHop[];
  /**
   * Bridge functions (ports) the request passed through, in order; a request through the root
   * complex lists the initiator's ports up to its root port, then the target's from its root
   * port down.
   */
  readonly ports: readonly PciDev[];
  readonly viaRootComplex: boolean;
  /** The target BAR is under another host bridge than the initiator. */
  readonly crossHostBridge: boolean;
  /** The function whose ACS Request Redirect sent a peer request up to the root complex. */
  readonly redirectedBy?: PciDev;
  /** An IOMMU paging domain translated the address. */
  readonly translated: boolean;
  /** The physical pieces, in DMA address order; empty when refused. */
  readonly targets: readonly FabricTarget[];
  readonly error?: FabricError;
}

/** The default link of a device and port that state none: gen 3 x16. */
export const DEFAULT_FABRIC_LINK = Object.freeze({ gen: 3, width: 16 });
/** Max Payload Size when no function on the path states one (the pcie-model default, anchors §1). */
export const DEFAULT_MPS = DEFAULT_LINK_PARAMS.mps;
/** Max Read Request Size when the initiator states none (the pcie-model default, anchors §1). */
export const DEFAULT_MRRS = DEFAULT_LINK_PARAMS.mrrs;

/** What happens to a request whose bus address falls in a decoded range on the way up. */
export type UpstreamDecisionKind = 'loopback' | 'peer' | 'redirect' | 'hole';

export interface UpstreamDecision {
  /** Bus address range [start, end). */
  readonly start: number;
  readonly end: number;
  readonly kind: UpstreamDecisionKind;
  /**
   * loopback: the initiator; peer and redirect: the sibling that decodes the range; hole: the
   * bridge whose window holds the range without a function below it decoding it.
   */
  readonly dev: PciDev;
  /** The function whose ACS redirected the request (redirect only). */
  readonly redirectedBy: PciDev | undefined;
  /** The bridge on whose secondary bus the decision is made (null: the initiator itself). */
  readonly turnAt: PciDev | null;
}

function hasRequestRedirect(dev: PciDev): boolean {
  const acs = dev.acs;
  return acs !== undefined && (acs.ctrl & PCI_ACS_RR) !== 0;
}

/** The ranges of PCI bus addresses `dev` decodes: its BARs, and for a bridge its windows. */
function busRanges(dev: PciDev): [number, number][] {
  const off = dev.hostBridge.busOffset;
  const out: [number, number][] = dev.bars.map((b) => [b.busAddress, b.busAddress + b.size]);
  for (const w of dev.windows) out.push([w.base + off, w.base + off + w.size]);
  return out;
}

/**
 * The decoding a request from one initiator meets on its way up, flattened into disjoint bus
 * address ranges (a lower bus takes precedence over the ones above it). An address in no range
 * reaches the root complex.
 */
export class UpstreamDecoder {
  private readonly starts: Float64Array;
  private readonly decisions: UpstreamDecision[];

  constructor(readonly initiator: PciDev) {
    const covered: [number, number][] = [];
    const out: UpstreamDecision[] = [];
    const add = (start: number, end: number, d: Omit<UpstreamDecision, 'start' | 'end'>): void => {
      // only the parts no lower bus has decided
      let pieces: [number, number][] = [[start, end]];
      for (const [cs, ce] of covered) {
        const next: [number, number][] = [];
        for (const [s, e] of pieces) {
          if (ce <= s || cs >= e) {
            next.push([s, e]);
            continue;
          }
          if (s < cs) next.push([s, cs]);
          if (ce < e) next.push([ce, e]);
        }
        pieces = next;
      }
      for (const [s, e] of pieces) {
        covered.push([s, e]);
        out.push({ start: s, end: e, ...d });
      }
    };
    const me = initiator;
    for (const b of me.bars) {
      add(b.busAddress, b.busAddress + b.size, {
        kind: 'loopback',
        dev: me,
        redirectedBy: undefined,
        turnAt: null,
      });
    }
    for (let cur = me; cur.upstream; cur = cur.upstream) {
      const parent = cur.upstream;
      for (const s of parent.children) {
        if (s === cur) continue;
        const sameDevice = s.slot === cur.slot;
        const redirect = (sameDevice || parent.pcieType === 'upstream') && hasRequestRedirect(cur);
        for (const [rs, re] of busRanges(s)) {
          add(rs, re, {
            kind: redirect ? 'redirect' : 'peer',
            dev: s,
            redirectedBy: redirect ? cur : undefined,
            turnAt: parent,
          });
        }
      }
      // the bridge's own BARs (a switch's management BAR), then the rest of its windows: a hole
      for (const b of parent.bars) {
        add(b.busAddress, b.busAddress + b.size, {
          kind: 'peer',
          dev: parent,
          redirectedBy: undefined,
          turnAt: parent,
        });
      }
      const off = parent.hostBridge.busOffset;
      for (const w of parent.windows) {
        add(w.base + off, w.base + off + w.size, {
          kind: 'hole',
          dev: parent,
          redirectedBy: undefined,
          turnAt: parent,
        });
      }
    }
    out.sort((a, b) => a.start - b.start);
    this.decisions = out;
    this.starts = Float64Array.from(out, (d) => d.start);
  }

  /** Index of the last decision starting at or below `addr`, or -1. */
  private floor(addr: number): number {
    const s = this.starts;
    let lo = 0;
    let hi = s.length - 1;
    let ans = -1;
    while (lo <= hi) {
      const mid = (lo + hi) >>> 1;
      if (s[mid] <= addr) {
        ans = mid;
        lo = mid + 1;
      } else hi = mid - 1;
    }
    return ans;
  }

  /** The decision for bus address `addr`; undefined: the request goes to the root complex. */
  lookup(addr: number): UpstreamDecision | undefined {
    const i = this.floor(addr);
    if (i < 0) return undefined;
    const d = this.decisions[i];
    return addr < d.end ? d : undefined;
  }

  /** The first decision that starts in (addr, last], if any: where a request to the root complex would stop. */
  firstAbove(addr: number, last: number): UpstreamDecision | undefined {
    const i = this.floor(addr) + 1;
    const d = this.decisions[i];
    return d && d.start <= last ? d : undefined;
  }

  /** Every decision, by address (for explanations and tests). */
  get ranges(): readonly UpstreamDecision[] {
    return this.decisions;
  }
}

/**
 * The function whose upstream link carries `dev`'s traffic: none for a switch downstream port
 * (inside the switch), a function on a root bus (inside the root complex) or conventional PCI
 * (a shared bus, not a PCIe link); for a multi-function device, its lowest function.
 */
export function linkOwner(dev: PciDev): PciDev | undefined {
  const port = dev.upstream;
  if (!port || dev.pcieType === 'downstream' || dev.pcieType === 'pci') return undefined;
  for (const f of port.children) if (f.slot === dev.slot) return f;
  return dev;
}

/**
 * The link `owner`'s functions train with their port: the lowest gen and width either end
 * states; what neither states comes from `fallback`.
 */
export function negotiatedLink(
  owner: PciDev,
  fallback: { gen: number; width: number },
): { gen: number; width: number } {
  let gen = Infinity;
  let width = Infinity;
  const ends = owner.upstream ? [owner.upstream] : [];
  for (const f of owner.upstream?.children ?? [owner]) if (f.slot === owner.slot) ends.push(f);
  for (const e of ends) {
    const l = e.props.link;
    if (!l) continue;
    gen = Math.min(gen, l.gen);
    width = Math.min(width, l.width);
  }
  width = width === Infinity ? fallback.width : width;
  // pcie-model has no DLLP intervals for x12 links: they are charged as x8.
  if (width === 12) width = 8;
  return { gen: gen === Infinity ? fallback.gen : gen, width };
}

/** `dev` and its upstream bridges below `stop` (all of them up to the root bus when null). */
function chainBelow(dev: PciDev, stop: PciDev | null): PciDev[] {
  const out: PciDev[] = [];
  for (let d: PciDev | null = dev; d && d !== stop; d = d.upstream) out.push(d);
  return out;
}

function linkHops(chain: readonly PciDev[], dir: 'up' | 'down'): FabricHop[] {
  const out: FabricHop[] = [];
  for (const d of chain) {
    const owner = linkOwner(d);
    if (owner && out[out.length - 1]?.dev !== owner) out.push({ dev: owner, dir });
  }
  if (dir === 'down') out.reverse();
  return out;
}

/** Link settings every path of one fabric shares. */
export interface PathDefaults {
  defaultLink: { gen: number; width: number };
  dllpFactor?: number;
}

/**
 * A route's shape between an initiator and a target, cached by the fabric: the links and ports
 * it crosses and the link parameters of each link.
 */
export class FabricPath {
  readonly hops: readonly FabricHop[];
  readonly ports: readonly PciDev[];
  /** Link parameters of each hop: its negotiated gen and width, the path's MPS and MRRS. */
  readonly hopParams: readonly LinkParams[];
  /**
   * The path's MPS and MRRS with the initiator's own link (or the default link): what a path that
   * crosses no link (loopback, a root-complex integrated endpoint) is charged at.
   */
  readonly params: LinkParams;
  readonly crossHostBridge: boolean;

  /**
   * @param turnAt for a peer path, the bridge on whose secondary bus the request turns down;
   *   null for a path through the root complex.
   * @param target the function whose BAR is the target; undefined for RAM, or for the part of a
   *   refused request's path up to the refusal.
   */
  constructor(
    readonly initiator: PciDev,
    readonly viaRootComplex: boolean,
    readonly turnAt: PciDev | null,
    readonly target: PciDev | undefined,
    defaults: PathDefaults,
    loopback = false,
  ) {
    const up = loopback ? [initiator] : chainBelow(initiator, turnAt);
    const down = loopback ? [initiator] : target ? chainBelow(target, turnAt) : [];
    const upHops = loopback ? [] : linkHops(up, 'up');
    const downHops = loopback ? [] : linkHops(down, 'down');
    if (!viaRootComplex && upHops.length && downHops.length) {
      // Two functions of one device under one port: the request stays inside the device.
      if (upHops[upHops.length - 1].dev === downHops[0].dev) {
        upHops.pop();
        downHops.shift();
      }
    }
    this.hops = [...upHops, ...downHops];
    this.ports = loopback
      ? []
      : [
          ...up.slice(1).filter((d) => d.isBridge),
          ...down
            .slice(1)
            .filter((d) => d.isBridge)
            .reverse(),
        ];
    let mps = Infinity;
    for (const d of [...up, ...down])
      if (d.props.mps !== undefined) mps = Math.min(mps, d.props.mps);
    const base: Omit<LinkParams, 'gen' | 'width'> = {
      ...DEFAULT_LINK_PARAMS,
      mps: mps === Infinity ? DEFAULT_MPS : mps,
      mrrs: initiator.props.mrrs ?? DEFAULT_MRRS,
      ...(defaults.dllpFactor !== undefined ? { dllpFactor: defaults.dllpFactor } : {}),
    };
    const own = initiator.props.link ?? defaults.defaultLink;
    this.params = { ...base, gen: own.gen, width: own.width === 12 ? 8 : own.width };
    this.hopParams = this.hops.map((h) => ({
      ...base,
      ...negotiatedLink(h.dev, defaults.defaultLink),
    }));
    this.crossHostBridge =
      viaRootComplex && target !== undefined && target.hostBridge !== initiator.hostBridge;
  }
}
