/**
 * calcMapTypeAndDist() computes the ACS count with prefix sums and the common ancestor by depth;
 * this checks it against a literal transcription of the kernel's nested walk (§1.2) on random
 * fabrics, so the optimisation cannot drift from the algorithm.
 */
import fc from 'fast-check';
import {
  calcMapTypeAndDist,
  cpuSupportsP2pdma,
  hostBridgeWhitelist,
  P2pdmaDevices,
  pciBridgeHasAcsRedir,
  PciP2pdmaMapType,
  topologyFromObject,
  type PciDev,
  type PciTopology,
} from '@dmasim/core';
import { randomFabric } from './helpers/random-fabric';

/** calc_map_type_and_dist() as the C reads (reference §1.2 pseudocode), without the cache. */
function kernelCalc(
  topo: PciTopology,
  provider: PciDev,
  client: PciDev,
): { mapType: PciP2pdmaMapType; distance: number } {
  let a: PciDev | null = provider;
  let bb: PciDev | null;
  let distA = 0;
  let distB = 0;
  let acsCnt = 0;
  let found = false;
  outer: while (a) {
    distB = 0;
    if (pciBridgeHasAcsRedir(a)) acsCnt++;
    bb = client;
    while (bb) {
      if (a === bb) {
        found = true;
        break outer;
      }
      bb = bb.upstream;
      distB++;
    }
    a = a.upstream;
    distA++;
  }
  let acsRedirects = false;
  if (found) {
    bb = client;
    while (bb) {
      if (a === bb) break;
      if (pciBridgeHasAcsRedir(bb)) acsCnt++;
      bb = bb.upstream;
    }
    if (acsCnt === 0) return { mapType: PciP2pdmaMapType.BUS_ADDR, distance: distA + distB };
    acsRedirects = true;
  }
  const distance = distA + distB;
  if (
    !cpuSupportsP2pdma(topo.cpu) &&
    !hostBridgeWhitelist(provider, client, acsRedirects, undefined)
  ) {
    return { mapType: PciP2pdmaMapType.NOT_SUPPORTED, distance };
  }
  return { mapType: PciP2pdmaMapType.THRU_HOST_BRIDGE, distance };
}

describe('§1.2 calc_map_type_and_dist agrees with the kernel loop on random fabrics', () => {
  it('for every ordered pair of functions', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 0x7fffffff }), (seed) => {
        const topo = topologyFromObject(randomFabric(seed));
        const p2p = new P2pdmaDevices(topo);
        for (const p of topo.devices) {
          for (const c of topo.devices) {
            const fast = calcMapTypeAndDist(p2p, p, c);
            const slow = kernelCalc(topo, p, c);
            if (fast.mapType !== slow.mapType || fast.distance !== slow.distance) {
              throw new Error(
                `seed ${seed}: ${p.bdf} -> ${c.bdf}: got ${fast.mapType}/${fast.distance}, kernel ${slow.mapType}/${slow.distance}`,
              );
            }
          }
        }
      }),
      { numRuns: 150 },
    );
  });
});
