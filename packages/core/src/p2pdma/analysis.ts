/**
 * What `dmasim topo` reports for a topology: IOMMU groups, and for every ordered pair of
 * endpoints (and each endpoint with itself) the map type and distance calc_map_type_and_dist()
 * computes, the nvidia-smi path level, the ports with ACS redirect, and the kernel's reasons.
 */
import type { PciDev } from '../pci/device';
import { computeIommuGroups } from '../pci/iommu-group';
import { pathLevel, type PathLevel } from '../pci/path-level';
import type { PciTopology } from '../pci/topology';
import { hex4 } from '../pci/bdf';
import { allowlistEntryFor, cpuSupportsP2pdma, type WarnSink } from './allowlist';
import { calcMapTypeAndDist } from './distance';
import { mapTypeName, PciP2pdmaMapType } from './map-type';
import { P2pdmaDevices } from './state';

export type PairMapType = 'BUS_ADDR' | 'THRU_HOST_BRIDGE' | 'NOT_SUPPORTED';

export interface PairAnalysis {
  provider: PciDev;
  client: PciDev;
  mapType: PairMapType;
  distance: number;
  pathLevel: PathLevel;
  /** Ports on the path whose ACS control has RR, CR or EC set (the pci=disable_acs_redir= list). */
  acsPorts: PciDev[];
  /**
   * Why the pair is not BUS_ADDR: the kernel's warnings verbatim ("<bdf>: <message>", as pci_warn
   * names the device), then dmasim's explanation, prefixed "dmasim:", where the kernel is silent.
   */
  reasons: string[];
}

export interface TopoAnalysis {
  topology: PciTopology;
  /** Group number of every function, indexed by PciDev.index. */
  iommuGroupOf: number[];
  iommuGroups: PciDev[][];
  endpoints: PciDev[];
  pairs: PairAnalysis[];
}

/** The `dmasim topo --json` document (schemaVersion 1). */
export interface TopoJson {
  schemaVersion: 1;
  devices: { bdf: string; name: string | null; kind: string; iommuGroup: number }[];
  iommuGroups: string[][];
  pairs: {
    provider: string;
    client: string;
    mapType: PairMapType;
    distance: number;
    pathLevel: PathLevel;
    acsPorts: string[];
    reasons: string[];
  }[];
}

class CollectingLog implements WarnSink {
  readonly lines: string[] = [];
  warn(dev: PciDev | string, msg: string): void {
    this.lines.push(`${typeof dev === 'string' ? dev : dev.bdf}: ${msg}`);
  }
}

/** dmasim's own account of a host-bridge decision the kernel takes silently. */
function explainHostBridgePath(
  p2p: P2pdmaDevices,
  provider: PciDev,
  client: PciDev,
  mapType: PciP2pdmaMapType,
): string {
  const cpu = p2p.topology.cpu;
  const cpuText = `${cpu.vendor} family 0x${cpu.family.toString(16)}`;
  const where =
    provider.hostBridge === client.hostBridge
      ? `through host bridge ${provider.hostBridge.name}`
      : `across host bridges ${provider.hostBridge.name} and ${client.hostBridge.name}`;
  if (mapType === PciP2pdmaMapType.THRU_HOST_BRIDGE) {
    if (cpuSupportsP2pdma(cpu)) {
      return `dmasim: no common upstream bridge, so the TLPs go ${where}; allowed because the CPU is ${cpuText} (cpu_supports_p2pdma: AMD family >= 0x17)`;
    }
    const ids = [
      ...new Set(
        [provider.hostBridge, client.hostBridge].map(
          (hb) => `${hex4(hb.allowlistDevice?.vendor)}:${hex4(hb.allowlistDevice?.device)}`,
        ),
      ),
    ];
    const subject =
      ids.length > 1 ? `host bridges ${ids.join(' and ')} are` : `host bridge ${ids[0]} is`;
    return `dmasim: no common upstream bridge, so the TLPs go ${where}; allowed because ${subject} on the P2PDMA allowlist`;
  }
  const hbs = [...new Set([provider.hostBridge, client.hostBridge])];
  const why = hbs.map((hb) => {
    const d = hb.allowlistDevice;
    if (!d) {
      return `host bridge ${hb.name} has no function 00.0 or root port first on its root bus for the allowlist to inspect`;
    }
    const entry = allowlistEntryFor(d, p2p.allowlist);
    if (entry && hbs.length > 1) {
      return `host bridge ${hb.name} (${hex4(d.vendor)}:${hex4(d.device)}) is allowlisted only for P2P within one host bridge (REQ_SAME_HOST_BRIDGE)`;
    }
    return entry
      ? `host bridge ${hb.name} (${hex4(d.vendor)}:${hex4(d.device)}) is allowlisted`
      : `host bridge ${hb.name} (${hex4(d.vendor)}:${hex4(d.device)}) is not on the P2PDMA allowlist`;
  });
  return `dmasim: the path goes ${where}; the CPU (${cpuText}) is not AMD family >= 0x17, and ${why.join('; ')}`;
}

/**
 * Runs the kernel's decisions over every pair of endpoints of a fresh simulated kernel (its own
 * map-type caches), with verbose warnings collected as the reasons.
 */
export function analyzeTopology(
  topo: PciTopology,
  p2p: P2pdmaDevices = new P2pdmaDevices(topo),
): TopoAnalysis {
  const { groupOf, groups } = computeIommuGroups(topo);
  const endpoints = topo.endpoints;
  const pairs: PairAnalysis[] = [];
  for (const provider of endpoints) {
    for (const client of endpoints) {
      const log = new CollectingLog();
      const r = calcMapTypeAndDist(p2p, provider, client, true, log);
      const reasons = log.lines;
      if (r.mapType !== PciP2pdmaMapType.BUS_ADDR && !r.common) {
        reasons.push(explainHostBridgePath(p2p, provider, client, r.mapType));
      }
      pairs.push({
        provider,
        client,
        mapType: mapTypeName(r.mapType) as PairMapType,
        distance: r.distance,
        pathLevel: pathLevel(provider, client),
        acsPorts: [...r.acsPorts],
        reasons,
      });
    }
  }
  return { topology: topo, iommuGroupOf: groupOf, iommuGroups: groups, endpoints, pairs };
}

/** The `--json` document. */
export function topoJson(a: TopoAnalysis): TopoJson {
  return {
    schemaVersion: 1,
    devices: a.topology.devices.map((d) => ({
      bdf: d.bdf,
      name: d.name ?? null,
      kind: d.kind,
      iommuGroup: a.iommuGroupOf[d.index],
    })),
    iommuGroups: a.iommuGroups.map((g) => g.map((d) => d.bdf)),
    pairs: a.pairs.map((p) => ({
      provider: p.provider.bdf,
      client: p.client.bdf,
      mapType: p.mapType,
      distance: p.distance,
      pathLevel: p.pathLevel,
      acsPorts: p.acsPorts.map((d) => d.bdf),
      reasons: p.reasons,
    })),
  };
}
