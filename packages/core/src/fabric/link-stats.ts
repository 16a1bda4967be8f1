/**
 * What the fabric counts (hardware, issue 6): payload bytes by where they went, DMAs refused and
 * why, and per PCIe link and direction the TLPs and wire bytes (TLP overhead and payload, as
 * link-model.ts's tlpTraffic() counts them) that crossed it.
 */
import type { PciDev } from '../pci/device';

/** One direction of one link. */
export interface LinkDirCounters {
  /** Wire bytes: TLP framing, data-link and header bytes plus payload. */
  bytes: number;
  tlps: number;
}

/**
 * One PCIe link, named by the function whose upstream link it is (for a multi-function device,
 * its lowest function). `up` is towards the root complex.
 */
export interface LinkCounters {
  readonly up: LinkDirCounters;
  readonly down: LinkDirCounters;
}

/** A plain copy of the counters, for reports. */
export interface FabricStatsSnapshot {
  payloadBytes: number;
  p2pBytes: number;
  hostBridgeBytes: number;
  translatedBytes: number;
  transferNs: number;
  dmas: number;
  faults: number;
  urs: number;
  rcP2pDrops: number;
  /** Links that carried traffic, in topology order. */
  links: { dev: string; up: LinkDirCounters; down: LinkDirCounters }[];
}

export class FabricStats {
  /** Payload bytes delivered (to RAM or a BAR, either direction of the data). */
  payloadBytes = 0;
  /** Of those, bytes whose memory side is a BAR (peer-to-peer, the device's own BAR included). */
  p2pBytes = 0;
  /** Of those, bytes that went through a root complex (RAM traffic and peer traffic routed up). */
  hostBridgeBytes = 0;
  /** Of those, bytes an IOMMU paging domain translated. */
  translatedBytes = 0;
  /** Modelled wire time of every DMA, refused ones included (they crossed links too). */
  transferNs = 0;
  /** DMAs attempted. */
  dmas = 0;
  /** DMAs the IOMMU refused. */
  faults = 0;
  /** DMAs that met an Unsupported Request (no function decodes the address). */
  urs = 0;
  /** DMAs a root complex dropped because it does not forward peer traffic of their kind. */
  rcP2pDrops = 0;
  private readonly perLink = new Map<PciDev, LinkCounters>();

  /** Per-link counters, by the function whose upstream link it is. */
  get links(): ReadonlyMap<PciDev, LinkCounters> {
    return this.perLink;
  }

  /**
   * The counters of `dev`'s upstream link, created on first use. The object stays the same across
   * reset(), so callers may keep it.
   */
  link(dev: PciDev): LinkCounters {
    let c = this.perLink.get(dev);
    if (!c) {
      c = { up: { bytes: 0, tlps: 0 }, down: { bytes: 0, tlps: 0 } };
      this.perLink.set(dev, c);
    }
    return c;
  }

  /** Zeroes every counter. */
  reset(): void {
    this.payloadBytes = 0;
    this.p2pBytes = 0;
    this.hostBridgeBytes = 0;
    this.translatedBytes = 0;
    this.transferNs = 0;
    this.dmas = 0;
    this.faults = 0;
    this.urs = 0;
    this.rcP2pDrops = 0;
    for (const c of this.perLink.values()) {
      c.up.bytes = c.up.tlps = 0;
      c.down.bytes = c.down.tlps = 0;
    }
  }

  snapshot(): FabricStatsSnapshot {
    const links = [...this.perLink]
      .filter(([, c]) => c.up.tlps + c.down.tlps > 0)
      .sort(([a], [b]) => a.index - b.index)
      .map(([dev, c]) => ({ dev: dev.bdf, up: { ...c.up }, down: { ...c.down } }));
    return {
      payloadBytes: this.payloadBytes,
      p2pBytes: this.p2pBytes,
      hostBridgeBytes: this.hostBridgeBytes,
      translatedBytes: this.translatedBytes,
      transferNs: this.transferNs,
      dmas: this.dmas,
      faults: this.faults,
      urs: this.urs,
      rcP2pDrops: this.rcP2pDrops,
      links,
    };
  }
}
