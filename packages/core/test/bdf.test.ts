import { formatBdf, mapTypesIdx, parseBdf, pciDevfn } from '@dmasim/core';

describe('PCI addresses (pci_name, PCI_DEVFN, map_types_idx of reference §1.3)', () => {
  it('parses BB:DD.F with domain 0 and DDDD:BB:DD.F', () => {
    expect(parseBdf('03:00.0')).toEqual({ domain: 0, bus: 3, devfn: 0 });
    // devfn = slot << 3 | fn = 0x1c << 3 | 2 = 0xe2
    expect(parseBdf('0001:a0:1c.2')).toEqual({ domain: 1, bus: 0xa0, devfn: 0xe2 });
  });

  it('rejects malformed addresses (slot above 0x1f, function above 7, junk)', () => {
    expect(parseBdf('00:20.0')).toBeUndefined();
    expect(parseBdf('00:01.8')).toBeUndefined();
    expect(parseBdf('nvme0')).toBeUndefined();
    expect(parseBdf('000:1:2')).toBeUndefined();
  });

  it('formats as pci_name() does', () => {
    expect(formatBdf({ domain: 0, bus: 3, devfn: pciDevfn(0, 1) })).toBe('0000:03:00.1');
  });

  it('indexes the map-type cache by (domain << 16) | (bus << 8 | devfn)', () => {
    // domain 1, bus 0x02, devfn 0x08 -> 0x10000 | 0x0208 = 0x10208
    expect(mapTypesIdx({ domain: 1, bus: 2, devfn: 8 })).toBe(0x10208);
  });
});
