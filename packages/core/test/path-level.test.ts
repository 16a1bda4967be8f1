/** nvidia-smi path levels (reference/anchors.md §2). */
import { pathLevel, type PathLevel, type PciTopology } from '@dmasim/core';
import { nestedSwitches, switchFabric, twoHostBridges, ZEN } from './helpers/fabrics';

const level = (t: PciTopology, a: string, b: string): PathLevel => pathLevel(t.get(a), t.get(b));

describe('anchors §2 path levels', () => {
  const topo = switchFabric();
  it('PIX through one switch, or one bridge, and for a device with itself', () => {
    expect(level(topo, 'nvme0', 'nvme1')).toBe('PIX');
    expect(level(topo, 'nic0', 'nic1')).toBe('PIX');
    expect(level(topo, 'nvme0', 'nvme0')).toBe('PIX');
  });
  it('PXB through several switches without the host bridge', () => {
    // ep0 -> second-level switch -> top switch -> second-level switch -> ep1: three switches
    expect(level(nestedSwitches(), 'ep0', 'ep1')).toBe('PXB');
  });
  it('PHB through one host bridge', () => {
    expect(level(topo, 'nvme0', 'gpu0')).toBe('PHB');
  });
  it('NODE between host bridges of one NUMA node, SYS across NUMA nodes', () => {
    expect(
      level(
        twoHostBridges(
          ZEN,
          [
            [0x1022, 0x14a4],
            [0x1022, 0x14a4],
          ],
          [0, 0],
        ),
        'ep0',
        'ep1',
      ),
    ).toBe('NODE');
    expect(
      level(
        twoHostBridges(
          ZEN,
          [
            [0x1022, 0x14a4],
            [0x1022, 0x14a4],
          ],
          [0, 1],
        ),
        'ep0',
        'ep1',
      ),
    ).toBe('SYS');
  });
});
