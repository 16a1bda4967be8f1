import { readFileSync } from 'fs';
import { join } from 'path';
import { parse } from 'yaml';
import {
  importLspci,
  InputError,
  topologyFromObject,
  topologySpecToYaml,
  type DeviceSpecInput,
  type ImportResult,
  type PciTopology,
} from '@dmasim/core';

const FIX = join(__dirname, 'fixtures', 'real-machines');

function load(rel: string): { r: ImportResult; topo: PciTopology } {
  const file = join(FIX, rel);
  const r = importLspci(readFileSync(file, 'utf8'), file);
  return { r, topo: topologyFromObject(r.spec) };
}

function findSpec(r: ImportResult, bdf: string): DeviceSpecInput {
  let hit: DeviceSpecInput | undefined;
  const walk = (ds: DeviceSpecInput[]): void => {
    for (const d of ds) {
      if (d.bdf === bdf) hit = d;
      if (d.children) walk(d.children);
    }
  };
  for (const hb of r.spec.hostBridges) walk(hb.devices);
  if (!hit) throw new Error(`${bdf} not in spec`);
  return hit;
}

/** The chain from a device up to its root port, as "bdf kind" strings. */
function chain(topo: PciTopology, bdf: string): string[] {
  const out: string[] = [];
  for (let d = topo.find(bdf) ?? null; d; d = d.upstream) out.push(`${d.bdf} ${d.kind}`);
  return out;
}

describe('importLspci: lspci -tv tree + selected -vvv blocks (asus-esc8000a-e12)', () => {
  const { r, topo } = load('asus-esc8000a-e12/lspci.txt');

  it('makes one host bridge per [DDDD:BB] root bus, NUMA node from -vvv', () => {
    expect(r.spec.hostBridges.map((h) => h.name)).toEqual([
      'pci0000:00',
      'pci0000:20',
      'pci0000:40',
      'pci0000:60',
      'pci0000:80',
      'pci0000:a0',
      'pci0000:c0',
      'pci0000:e0',
    ]);
    expect(topo.hostBridges).toHaveLength(8);
    expect(r.spec.hostBridges.find((h) => h.name === 'pci0000:c0')!.numaNode).toBe(1);
    expect(r.spec.hostBridges.find((h) => h.name === 'pci0000:00')!.numaNode).toBe(0);
  });

  it('rebuilds the nested NVMe carrier switches (RP -> USP -> DSP -> USP -> DSP -> endpoint)', () => {
    expect(chain(topo, '0000:65:00.0')).toEqual([
      '0000:65:00.0 endpoint',
      '0000:64:10.0 switch-downstream',
      '0000:63:00.0 switch-upstream',
      '0000:62:00.0 switch-downstream',
      '0000:61:00.0 switch-upstream',
      '0000:60:01.1 root-port',
    ]);
    // empty bridges "-[72]--" and "-[73]--" are downstream ports without children
    expect(topo.get('0000:70:15.0').kind).toBe('switch-downstream');
    expect(topo.get('0000:70:15.0').children).toHaveLength(0);
    expect(topo.get('0000:62:1c.0').kind).toBe('switch-downstream');
    // RP -> PCIe-to-PCI bridge -> VGA (ASPEED BMC)
    expect(chain(topo, '0000:75:00.0')).toEqual([
      '0000:75:00.0 endpoint',
      '0000:74:00.0 pci-bridge',
      '0000:60:05.2 root-port',
    ]);
  });

  it('reads class, BARs, link, MPS/MRRS and ACS from -vvv blocks', () => {
    const gpu = findSpec(r, '0000:01:00.0');
    expect(gpu).toMatchObject({
      kind: 'endpoint',
      class: 'gpu',
      name: 'gpu0',
      mps: 256,
      mrrs: 512,
      link: { gen: 1, width: 16 },
    });
    expect(gpu.bars).toEqual([
      { bar: 0, size: 16 * 2 ** 20, address: 0xf8000000 },
      { bar: 1, size: 64 * 2 ** 30, prefetchable: true, address: 0x3f000000000 },
      { bar: 3, size: 32 * 2 ** 20, prefetchable: true, address: 0x40000000000 },
    ]);
    const nic = findSpec(r, '0000:81:00.0');
    expect(nic).toMatchObject({ class: 'nic', mps: 512, link: { gen: 5, width: 16 } });
    expect(nic.acs).toEqual({ cap: [], ctrl: [] }); // README: ACS control bits all clear
    // the HighPoint RAID card says "NVMe" in its name but its class is RAID bus controller
    expect(findSpec(r, '0000:71:00.0').class).toBeUndefined();
    // without a -vvv block the class comes from the model name
    expect(findSpec(r, '0000:65:00.0').class).toBe('nvme');
    expect(findSpec(r, '0000:01:00.1').class).toBeUndefined(); // HD audio function
  });

  it('recognises AMD root complexes and guesses the CPU, with a note', () => {
    expect(r.spec.platform.cpu).toEqual({ vendor: 'AMD', family: 0x19 });
    expect(findSpec(r, '0000:00:00.0')).toMatchObject({
      kind: 'host-bridge',
      vendor: 0x1022,
      device: 0x14a4,
    });
    expect(r.notes.some((n) => /CPU guessed as AMD family 0x19/.test(n) && /--cpu/.test(n))).toBe(
      true,
    );
    expect(r.notes.some((n) => /inferred from the tree shape/.test(n))).toBe(true);
  });

  it('keeps multi-function devices as siblings on one slot', () => {
    const rp = topo.get('0000:80:01.1');
    expect(rp.children.map((c) => c.bdf)).toEqual(['0000:81:00.0', '0000:81:00.1']);
    expect(topo.get('0000:81:00.1').multifunction).toBe(true);
  });
});

describe('importLspci: puget-wrx90 (lspci -tv + -vvv)', () => {
  const { r, topo } = load('puget-wrx90/lspci.txt');

  it('has 4 host bridges and the carrier-board switch chain', () => {
    expect(topo.hostBridges).toHaveLength(4);
    expect(chain(topo, '0000:05:00.0')).toEqual([
      '0000:05:00.0 endpoint',
      '0000:04:10.0 switch-downstream',
      '0000:03:00.0 switch-upstream',
      '0000:02:00.0 switch-downstream',
      '0000:01:00.0 switch-upstream',
      '0000:00:03.1 root-port',
    ]);
    expect(topo.get('0000:23:00.0').kind).toBe('switch-downstream'); // "-[28-57]--", empty
    expect(findSpec(r, '0000:c1:00.0')).toMatchObject({ class: 'gpu', name: 'gpu0' });
    expect(findSpec(r, '0000:c2:00.0')).toMatchObject({ class: 'gpu', name: 'gpu1' });
    expect(findSpec(r, '0000:21:00.0').acs).toEqual({ cap: [], ctrl: [] });
  });
});

describe('importLspci: lspci -vvv only (asus-esc8000a-e13p)', () => {
  const { r, topo } = load('asus-esc8000a-e13p/lspci-vvv.txt');

  it("rebuilds the tree from the bridges' Bus: lines; other buses are root buses", () => {
    expect(topo.hostBridges.map((h) => h.bus.toString(16))).toEqual([
      '0',
      '10',
      '20',
      '30',
      '40',
      '50',
      '60',
      '70',
      '80',
      '90',
      'a0',
      'b0',
      'c0',
      'd0',
      'e0',
      'f0',
    ]);
    expect(chain(topo, '0000:06:00.0')).toEqual([
      '0000:06:00.0 endpoint',
      '0000:02:03.0 switch-downstream',
      '0000:01:00.0 switch-upstream',
      '0000:00:01.1 root-port',
    ]);
    expect(chain(topo, '0000:52:00.0')).toEqual([
      '0000:52:00.0 endpoint',
      '0000:51:00.0 pci-bridge',
      '0000:50:03.3 root-port',
    ]);
    expect(r.notes.some((n) => /No `lspci -t` tree/.test(n))).toBe(true);
  });

  it('takes kinds from the Express capability and ACS from ACSCap/ACSCtl', () => {
    expect(findSpec(r, '0000:00:01.0').kind).toBe('host-bridge'); // "Host bridge" class
    expect(findSpec(r, '0000:00:00.2').kind).toBe('endpoint'); // IOMMU
    const rp = findSpec(r, '0000:00:01.1');
    expect(rp.acs).toEqual({ cap: ['SV', 'TB', 'RR', 'CR', 'UF', 'DT'], ctrl: ['SV', 'UF'] });
    expect(rp.link).toEqual({ gen: 5, width: 16 });
    expect(rp.windows).toEqual([
      { base: 0xb8800000, size: 3 * 2 ** 20 },
      { base: 0x70000000000, size: 722542 * 2 ** 20, prefetchable: true },
    ]);
    expect(findSpec(r, '0000:01:00.0')).toMatchObject({
      kind: 'switch-upstream',
      mps: 256,
      mrrs: 128,
    });
    expect(findSpec(r, '0000:73:00.0').class).toBe('nvme');
    expect(findSpec(r, '0000:06:00.0').class).toBe('gpu');
  });

  it('guesses Turin (family 0x1a) from device 153a and honours --cpu', () => {
    expect(r.spec.platform.cpu).toEqual({ vendor: 'AMD', family: 0x1a });
    const file = join(FIX, 'asus-esc8000a-e13p/lspci-vvv.txt');
    const r2 = importLspci(readFileSync(file, 'utf8'), file, {
      cpu: { vendor: 'AMD', family: 0x19 },
    });
    expect(r2.spec.platform.cpu).toEqual({ vendor: 'AMD', family: 0x19 });
    expect(r2.notes.some((n) => /CPU guessed/.test(n))).toBe(false);
  });

  it('exports YAML that loads back to the same topology', () => {
    const text = topologySpecToYaml(r.spec, ['imported', '', 'notes here'], r.descriptions);
    expect(text.startsWith('# imported')).toBe(true);
    expect(text).toMatch(/vendor: 0x1022/);
    expect(text).toMatch(/size: 722542MiB/);
    expect(text).toMatch(/bdf: "0000:00:01.1" # Advanced Micro Devices/);
    const back = topologyFromObject(parse(text));
    expect(back.devices.map((d) => `${d.bdf} ${d.kind}`)).toEqual(
      topo.devices.map((d) => `${d.bdf} ${d.kind}`),
    );
    expect(back.get('0000:00:01.1').acs).toEqual(topo.get('0000:00:01.1').acs);
  });
});

describe('importLspci: -tvnn and other shapes', () => {
  const treeNn = [
    '-[0000:00]-+-00.0  Intel Corporation Sky Lake-E DMI3 Registers [8086:2020]',
    '           +-01.0-[01-03]----00.0-[02-03]--+-08.0-[03]----00.0  Samsung Electronics Co Ltd NVMe SSD Controller PM9A1/PM9A3/980PRO [144d:a80a]',
    '           |                               \\-10.0-[04]--',
    '           \\-02.0-[05]--+-00.0  Mellanox Technologies MT28908 Family [ConnectX-6] [15b3:101b]',
    '                        \\-00.1  Mellanox Technologies MT28908 Family [ConnectX-6] [15b3:101b]',
    '',
  ].join('\n');

  it('reads ids from -nn, a single root bus, and guesses Intel family 6', () => {
    const r = importLspci(treeNn, 'nn.txt');
    expect(r.spec.platform.cpu).toEqual({ vendor: 'Intel', family: 6 });
    expect(findSpec(r, '0000:00:00.0')).toMatchObject({
      kind: 'host-bridge',
      vendor: 0x8086,
      device: 0x2020,
    });
    expect(findSpec(r, '0000:03:00.0')).toMatchObject({
      kind: 'endpoint',
      class: 'nvme',
      name: 'nvme0',
      vendor: 0x144d,
      device: 0xa80a,
    });
    expect(findSpec(r, '0000:02:10.0').kind).toBe('switch-downstream');
    expect(findSpec(r, '0000:05:00.1')).toMatchObject({ class: 'nic', name: 'nic1' });
    expect(r.notes.some((n) => /No ACS data/.test(n))).toBe(true);
    expect(() => topologyFromObject(r.spec)).not.toThrow();
  });

  it('places -vvv blocks of functions missing from the tree by bus number', () => {
    const text = `${treeNn}\n06:00.0 Ethernet controller [0200]: Intel Corporation Ethernet Controller E810-C [8086:1593] (rev 02)\n\tNUMA node: 0\n\n`;
    // bus 06 is not below any bridge: it becomes a root bus of its own
    const r = importLspci(text, 'x.txt');
    expect(r.spec.hostBridges.map((h) => h.bus)).toEqual([0, 6]);
    expect(findSpec(r, '0000:06:00.0')).toMatchObject({
      class: 'nic',
      vendor: 0x8086,
      device: 0x1593,
    });
  });

  it('reports malformed input with file, line and column', () => {
    const bad = treeNn.replace('\\-02.0-[05]', '\\-0Z.0-[05]');
    let e: unknown;
    try {
      importLspci(bad, 'bad.txt');
    } catch (x) {
      e = x;
    }
    expect(e).toBeInstanceOf(InputError);
    expect((e as InputError).location).toEqual({ file: 'bad.txt', line: 4, column: 14 });

    const misaligned = treeNn.replace(
      '           |                               \\-10.0',
      '                \\-10.0',
    );
    expect(() => importLspci(misaligned, 'm.txt')).toThrow(/does not continue any entry/);
    try {
      importLspci('00:00.0 Host bridge: Intel\nthis is not lspci\n', 'v.txt');
    } catch (x) {
      expect((x as InputError).format()).toMatch(/^v\.txt:2:1: malformed line/);
    }
    expect(() => importLspci('00:00.0 Host bridge: Intel\nthis is not lspci\n', 'v.txt')).toThrow(
      InputError,
    );
    expect(() => importLspci('\n\n', 'empty.txt')).toThrow(/no PCI functions/);
  });
});
