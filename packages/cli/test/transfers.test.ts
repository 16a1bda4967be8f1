/**
 * Each design's result says where the data went: per step, the path its DMAs took through the
 * fabric (the links crossed, named by the function whose upstream link each is), the payload it
 * carried, and the DMAs it refused. Reports draw these on the topology tree.
 *
 * The bundled topologies (examples/topologies/switch-2nvme-nic.yaml and switch-acs-redirect.yaml):
 * root port 00:01.x -> switch upstream port 01:00.0 -> downstream ports 02:00.0, 02:01.0, 02:02.0
 * -> nvme0 03:00.0, nvme1 04:00.0 (with the CMB), mlx5_0 05:00.0. The downstream ports' own links
 * are inside the switch, so a path below the switch crosses two links: the initiator's, up, and
 * the target's, down (PCIe address routing, §1.2).
 */
import { join } from 'node:path';
import { loadScenarioFile, runScenario, type StrategyRunResult } from '@dmasim/core';
import { builtInRegistry } from '../src/strategies';
import { REPO } from './helpers';

const MiB = 2 ** 20;
const KiB = 1024;
const NVME0 = '0000:03:00.0';
const NVME1 = '0000:04:00.0';
const MLX5 = '0000:05:00.0';
const SWITCH_UP = '0000:01:00.0';

function runExample(name: string): Record<string, StrategyRunResult> {
  const r = runScenario(loadScenarioFile(join(REPO, 'examples', 'scenarios', `${name}.yaml`)), {
    registry: builtInRegistry(),
  });
  return Object.fromEntries(r.results.map((x) => [x.strategy, x]));
}

describe('transfers: the paths each step took (§1.2 routing, §3.1 map types)', () => {
  it('copy-offload: NIC -> CMB and CMB -> nvme0 turn at the switch under every design', () => {
    // BUS_ADDR below one switch: the NIC's 1 MiB receive goes up its own link and down nvme1's;
    // nvme0's write command reads the same 1 MiB from the CMB by the mirror path. No other step
    // moves data (the alloc and the verify do not DMA), so two paths per design.
    for (const [id, r] of Object.entries(runExample('copy-offload'))) {
      expect([id, r.transfers]).toEqual([
        id,
        [
          expect.objectContaining({
            step: 'receive',
            initiator: 'mlx5_0',
            target: 'nvme1',
            initiatorBdf: MLX5,
            targetBdf: NVME1,
            writeBytes: 1 * MiB,
            readBytes: 0,
            refused: 0,
            viaRootComplex: false,
            links: [
              { bdf: MLX5, dir: 'up' },
              { bdf: NVME1, dir: 'down' },
            ],
          }),
          expect.objectContaining({
            step: 'flush',
            initiator: 'nvme0',
            target: 'nvme1',
            writeBytes: 0,
            readBytes: 1 * MiB,
            viaRootComplex: false,
            links: [
              { bdf: NVME0, dir: 'up' },
              { bdf: NVME1, dir: 'down' },
            ],
          }),
        ],
      ]);
    }
  });

  it('ACS-allowlisted: THRU_HOST_BRIDGE traffic goes up through the switch to the root complex and back', () => {
    // With ACS redirect on the downstream ports, the peer request goes to the root complex: up the
    // NIC's link and the switch's upstream link, down the same upstream link and nvme1's link.
    const r = runExample('copy-offload-acs-allowlisted');
    for (const id of ['dma-iommu', 'dma-vec']) {
      const receive = r[id]!.transfers!.find((t) => t.step === 'receive')!;
      expect(receive).toMatchObject({
        target: 'nvme1',
        viaRootComplex: true,
        writeBytes: 1 * MiB,
        links: [
          { bdf: MLX5, dir: 'up' },
          { bdf: SWITCH_UP, dir: 'up' },
          { bdf: SWITCH_UP, dir: 'down' },
          { bdf: NVME1, dir: 'down' },
        ],
      });
    }
  });

  it('buggy-mapper: the refused write is a path that ends at the root complex, with nothing delivered', () => {
    // 256 KiB written to a bus address that ACS sends up; the IOMMU faults it (one DMA refused),
    // so the path stops at the root complex and names no memory. dma-direct in passthrough
    // delivers the 256 KiB to the CMB through the root complex instead.
    const r = runExample('buggy-mapper');
    for (const id of ['dma-iommu', 'dma-vec']) {
      expect(r[id]!.transfers).toEqual([
        expect.objectContaining({
          step: 'receive',
          target: '(refused)',
          writeBytes: 0,
          refused: 1,
          viaRootComplex: true,
          links: [
            { bdf: MLX5, dir: 'up' },
            { bdf: SWITCH_UP, dir: 'up' },
          ],
        }),
      ]);
    }
    expect(r['dma-direct']!.transfers).toEqual([
      expect.objectContaining({ target: 'nvme1', writeBytes: 256 * KiB, refused: 0 }),
    ]);
  });
});
