/**
 * The topology decision of drivers/pci/p2pdma.c: calc_map_type_and_dist(), the per-provider
 * map-type cache, pci_p2pdma_distance_many() and pci_p2pmem_find_many(), as in v6.x-7.0.
 */
import { ACS_REDIR_MASK } from '../pci/acs';
import type { PciDev } from '../pci/device';
import type { PciTopology } from '../pci/topology';
import {
  cpuSupportsP2pdma,
  hostBridgeWhitelist,
  pciP2pdmaWhitelist,
  type WarnSink,
} from './allowlist';
import { PciP2pdmaMapType } from './map-type';
import type { P2pdmaDevices } from './state';

/**
 * pci_bridge_has_acs_redir(): the function has an ACS capability whose control register enables
 * Request Redirect, Completion Redirect or Egress Control. Despite the name it is asked of every
 * function on the path, the provider endpoint included.
 */
export function pciBridgeHasAcsRedir(dev: PciDev): boolean {
  const acs = dev.acs;
  return acs !== undefined && (acs.ctrl & ACS_REDIR_MASK) !== 0;
}

/**
 * Per-topology precomputation that lets calc_map_type_and_dist() run in O(depth) without changing
 * its result: acsUp[i] counts the functions with ACS redirect from function i up to its root bus,
 * inclusive. The kernel walks the chains instead; the walk and this count agree by construction
 * (a property test checks it against a literal transcription of the kernel loop).
 */
class ChainIndex {
  readonly acsUp: Int32Array;
  readonly generation: number;
  constructor(topo: PciTopology) {
    this.generation = topo.acsGeneration;
    this.acsUp = new Int32Array(topo.devices.length);
    for (const d of topo.devices) {
      // parents come before children in topo.devices
      this.acsUp[d.index] =
        (d.upstream ? this.acsUp[d.upstream.index] : 0) + (pciBridgeHasAcsRedir(d) ? 1 : 0);
    }
  }
}

const CHAIN_INDEX = Symbol('p2pdma chain index');
type Indexed = PciTopology & { [CHAIN_INDEX]?: ChainIndex };

/** The topology's index, rebuilt after a runtime ACS change; kept on the topology for the hot path. */
function chainIndex(topo: PciTopology): ChainIndex {
  const t = topo as Indexed;
  let ci = t[CHAIN_INDEX];
  if (!ci || ci.generation !== topo.acsGeneration) {
    ci = new ChainIndex(topo);
    t[CHAIN_INDEX] = ci;
  }
  return ci;
}

const NO_PORTS: readonly PciDev[] = Object.freeze([]);

/**
 * The lowest function that is the provider or one of its upstream bridges and also the client or
 * one of the client's: the `a == bb` the kernel's nested walk stops at. Null when the two chains
 * meet nowhere (different root ports or host bridges).
 */
export function commonUpstream(a: PciDev, b: PciDev): PciDev | null {
  let x: PciDev | null = a;
  let y: PciDev | null = b;
  while (x && y && x.depth > y.depth) x = x.upstream;
  while (x && y && y.depth > x.depth) y = y.upstream;
  while (x && y && x !== y) {
    x = x.upstream;
    y = y.upstream;
  }
  return x && x === y ? x : null;
}

export interface MapTypeAndDist {
  mapType:
    PciP2pdmaMapType.BUS_ADDR | PciP2pdmaMapType.THRU_HOST_BRIDGE | PciP2pdmaMapType.NOT_SUPPORTED;
  /** *dist as the kernel computes it (see calcMapTypeAndDist). */
  distance: number;
  /** The common upstream function, or null when the path goes through the host bridge(s). */
  common: PciDev | null;
  /**
   * Functions with ACS redirect on the path (the pci=disable_acs_redir= list the kernel prints),
   * listed when `verbose`; empty otherwise and when there is no common upstream bridge.
   */
  acsPorts: readonly PciDev[];
}

/**
 * calc_map_type_and_dist(provider, client, &dist, verbose), v6.x-7.0.
 *
 * Walks up from the provider; at each function `a` (provider first) it notes ACS redirect, then
 * looks for `a` on the client's upstream chain. Found: dist = hops provider->a + hops client->a,
 * the client side below `a` is checked for ACS redirect, and with none on either side the result is
 * BUS_ADDR. Not found: dist = length of the provider chain + length of the client chain (no
 * penalty, unlike v5.1's 0x1000). Then, unless the CPU is AMD family >= 0x17, both host bridges
 * must be on the allowlist (one with REQ_SAME_HOST_BRIDGE needs the same host bridge), else
 * NOT_SUPPORTED; otherwise THRU_HOST_BRIDGE. The result is stored in the provider's map-type cache
 * when the provider has p2pdma state.
 *
 * `log` receives the kernel's warnings: with `verbose`, the ACS redirect pair and the "cannot be
 * used" message on the client; the "Host bridge not in P2PDMA whitelist" message on the host
 * bridge's function whenever ACS redirect was found (the kernel passes acs_redirects as `warn`,
 * independent of verbose).
 */
export function calcMapTypeAndDist(
  p2p: P2pdmaDevices,
  provider: PciDev,
  client: PciDev,
  verbose = false,
  log?: WarnSink,
): MapTypeAndDist {
  const topo = p2p.topology;
  const ci = chainIndex(topo);
  const common = commonUpstream(provider, client);
  let mapType: MapTypeAndDist['mapType'] = PciP2pdmaMapType.THRU_HOST_BRIDGE;
  let distance: number;
  let acsRedirects = false;
  let acsPorts: readonly PciDev[] = NO_PORTS;

  if (common) {
    distance = provider.depth - common.depth + (client.depth - common.depth);
    // provider side counts `common` itself (checked before the a == bb test); client side stops below it
    const commonAbove = common.upstream ? ci.acsUp[common.upstream.index] : 0;
    const acsCnt =
      ci.acsUp[provider.index] - commonAbove + (ci.acsUp[client.index] - ci.acsUp[common.index]);
    if (acsCnt === 0) {
      mapType = PciP2pdmaMapType.BUS_ADDR;
    } else {
      if (verbose) acsPorts = acsPathList(provider, client, common);
      if (verbose && log) {
        log.warn(client, `ACS redirect is set between the client and provider (${provider.bdf})`);
        log.warn(
          client,
          `to disable ACS redirect for this path, add the kernel parameter: pci=disable_acs_redir=${acsListText(acsPorts)}`,
        );
      }
      acsRedirects = true;
    }
  } else {
    distance = provider.depth + 1 + (client.depth + 1);
  }

  if (mapType !== PciP2pdmaMapType.BUS_ADDR) {
    if (
      !cpuSupportsP2pdma(topo.cpu) &&
      !hostBridgeWhitelist(provider, client, acsRedirects, log, p2p.allowlist)
    ) {
      if (verbose && log) {
        log.warn(
          client,
          `cannot be used for peer-to-peer DMA as the client and provider (${provider.bdf}) do not share an upstream bridge or whitelisted host bridge`,
        );
      }
      mapType = PciP2pdmaMapType.NOT_SUPPORTED;
    }
  }

  p2p.get(provider)?.mapTypes.store(client, mapType);
  return { mapType, distance, common, acsPorts };
}

/** The functions the kernel prints into acs_list, in its order: provider side upward (common included), then client side upward. */
function acsPathList(provider: PciDev, client: PciDev, common: PciDev): PciDev[] {
  const list: PciDev[] = [];
  for (let a: PciDev | null = provider; a; a = a.upstream) {
    if (pciBridgeHasAcsRedir(a)) list.push(a);
    if (a === common) break;
  }
  for (let b: PciDev | null = client; b && b !== common; b = b.upstream) {
    if (pciBridgeHasAcsRedir(b)) list.push(b);
  }
  return list;
}

/**
 * The text of the 128-byte seq_buf acs_list with its final ';' dropped, as the kernel prints it.
 * When the names do not fit, vsnprintf keeps the first 127 characters and seq_buf marks the
 * buffer overflowed (len = size + 1), so the kernel's "drop final semicolon" store lands one byte
 * past the buffer and all 127 characters are printed.
 */
export function acsListText(ports: readonly PciDev[]): string {
  const full = ports.map((p) => `${p.bdf};`).join('');
  return full.length < 128 ? full.slice(0, -1) : full.slice(0, 127);
}

/**
 * pci_p2pdma_map_type(provider, client) (v6.16+ takes the provider's pgmap/provider; same logic):
 * a provider without p2pdma state -> NOT_SUPPORTED; a cached type; or compute it verbosely on a miss.
 */
export function pciP2pdmaMapType(
  p2p: P2pdmaDevices,
  provider: PciDev,
  client: PciDev,
  log?: WarnSink,
): PciP2pdmaMapType {
  const state = p2p.get(provider);
  if (!state) return PciP2pdmaMapType.NOT_SUPPORTED;
  const cached = state.mapTypes.get(client);
  if (cached !== PciP2pdmaMapType.UNKNOWN) return cached;
  return calcMapTypeAndDist(p2p, provider, client, true, log).mapType;
}

/**
 * A DMA client as pci_p2pdma_distance_many() receives it: a PCI function, or another device (an
 * RDMA port, a block device) whose nearest PCI ancestor find_parent_pci_dev() uses.
 */
export type P2pdmaClient = PciDev | { readonly name: string; readonly parent: P2pdmaClient | null };

function isPciDev(c: P2pdmaClient): c is PciDev {
  return 'bdf' in c;
}

/** find_parent_pci_dev(): the device itself if it is PCI, else the nearest PCI ancestor. */
export function findParentPciDev(c: P2pdmaClient | null): PciDev | null {
  for (let d = c; d; d = isPciDev(d) ? null : d.parent) {
    if (isPciDev(d)) return d;
  }
  return null;
}

/**
 * pci_p2pdma_distance_many(provider, clients, n, verbose): the sum of the clients' distances, or
 * -1 when there are no clients, a client has no PCI ancestor, or any client is NOT_SUPPORTED
 * (THRU_HOST_BRIDGE counts as compatible). Without verbose the loop stops at the first failure;
 * with it, it goes on so that every client's warning is printed.
 */
export function pciP2pdmaDistanceMany(
  p2p: P2pdmaDevices,
  provider: PciDev,
  clients: readonly P2pdmaClient[],
  verbose = false,
  log?: WarnSink,
): number {
  if (clients.length === 0) return -1;
  let notSupported = false;
  let total = 0;
  for (const c of clients) {
    const pciClient = findParentPciDev(c);
    if (!pciClient) {
      if (verbose)
        log?.warn(
          (c as { name: string }).name,
          'cannot be used for peer-to-peer DMA as it is not a PCI device',
        );
      return -1;
    }
    const r = calcMapTypeAndDist(p2p, provider, pciClient, verbose, log);
    if (r.mapType === PciP2pdmaMapType.NOT_SUPPORTED) notSupported = true;
    if (notSupported && !verbose) break;
    total += r.distance;
  }
  return notSupported ? -1 : total;
}

/** pci_p2pdma_distance(provider, client, verbose): distance_many with one client. */
export function pciP2pdmaDistance(
  p2p: P2pdmaDevices,
  provider: PciDev,
  client: P2pdmaClient,
  verbose = false,
  log?: WarnSink,
): number {
  return pciP2pdmaDistanceMany(p2p, provider, [client], verbose, log);
}

/** get_random_u32_below(n): a uniform integer in [0, n). Injectable so tests are deterministic. */
export type RandomU32Below = (n: number) => number;
export const defaultRandomU32Below: RandomU32Below = (n) => Math.floor(Math.random() * n);

/** PAGE_SIZE / sizeof(struct pci_dev *): how many equally close providers find_many remembers. */
export const P2PMEM_FIND_MAX_DEVS = 4096 / 8;

/**
 * pci_p2pmem_find_many(clients, n): among devices with published p2pmem (for_each_pci_dev order),
 * those at the minimum non-negative distance_many (computed without verbose); at most 512 ties are
 * kept, later ones ignored; one is picked uniformly at random. Undefined when none qualifies.
 */
export function pciP2pmemFindMany(
  p2p: P2pdmaDevices,
  clients: readonly P2pdmaClient[],
  random: RandomU32Below = defaultRandomU32Below,
): PciDev | undefined {
  let closest = Number.MAX_SAFE_INTEGER;
  const closestDevs: PciDev[] = [];
  for (const pdev of p2p.devices()) {
    if (!p2p.hasP2pmem(pdev)) continue;
    const d = pciP2pdmaDistanceMany(p2p, pdev, clients, false);
    if (d < 0 || d > closest) continue;
    if (d === closest && closestDevs.length >= P2PMEM_FIND_MAX_DEVS) continue;
    if (d < closest) {
      closestDevs.length = 0;
      closest = d;
    }
    closestDevs.push(pdev);
  }
  if (closestDevs.length === 0) return undefined;
  return closestDevs[random(closestDevs.length)];
}

/** pci_p2pmem_find(client): find_many with one client. */
export function pciP2pmemFind(
  p2p: P2pdmaDevices,
  client: P2pdmaClient,
  random?: RandomU32Below,
): PciDev | undefined {
  return pciP2pmemFindMany(p2p, [client], random);
}

export { pciP2pdmaWhitelist };
