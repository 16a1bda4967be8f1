/**
 * What `dmasim topo` reports for a topology: IOMMU groups, and for every ordered pair of
 * endpoints (and each endpoint with itself) the map type and distance calc_map_type_and_dist()
 * computes, the nvidia-smi path level, the ports with ACS redirect, and the kernel's reasons.
 */
import type { PciDev } from '../pci/device';
import type { PathLevel } from '../pci/path-level';
import type { PciTopology } from '../pci/topology';

export type PairMapType = 'BUS_ADDR' | 'THRU_HOST_BRIDGE' | 'NOT_SUPPORTED';

export interface PairAnalysis {
  provider: PciDev;
  client: PciDev;
  mapType: PairMapType;
  distance: number;
  pathLevel: PathLevel;
  /** Ports on the path whose ACS control has RR, CR or EC set (the pci=disable_acs_redir= list). */
  acsPorts: PciDev[];
  /** Why the pair is not BUS_ADDR: the kernel's messages verbatim, then dmasim's explanation. */
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
