import {
  cpSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'fs';
import { tmpdir } from 'os';
import { join, relative } from 'path';
import {
  importSysfs,
  InputError,
  topologyFromObject,
  type DeviceSpecInput,
  type ImportResult,
} from '@dmasim/core';

interface FakeFn {
  bdf: string;
  path: string[]; // components below /sys/devices, ending with bdf
  cls: number;
  vendor?: number;
  device?: number;
  /** PCI_EXP_TYPE_* (bits 7:4 of the PCIe capability flags); undefined: no PCIe capability */
  portType?: number;
  secondary?: number;
  acs?: { cap: number; ctrl: number };
  link?: { gen: number; width: number };
  resource?: string[];
  numa?: number;
  dmaBits?: number;
  configLen?: number;
}

function config(f: FakeFn): Buffer {
  const c = Buffer.alloc(f.configLen ?? 4096);
  c.writeUInt16LE(f.vendor ?? 0x1234, 0);
  c.writeUInt16LE(f.device ?? 0x5678, 2);
  c[0x0b] = f.cls >> 16;
  c[0x0a] = (f.cls >> 8) & 0xff;
  c[0x0e] = f.secondary !== undefined ? 1 : 0;
  if (f.secondary !== undefined) c[0x19] = f.secondary;
  if (f.portType !== undefined && c.length >= 0x60) {
    c.writeUInt16LE(0x10, 0x06); // status: capability list
    c[0x34] = 0x40;
    c[0x40] = 0x10; // PCI_CAP_ID_EXP
    c[0x41] = 0x00;
    c.writeUInt16LE(0x2 | (f.portType << 4), 0x42);
    c.writeUInt16LE((1 << 5) | (2 << 12), 0x48); // DevCtl: MPS 256, MRRS 512
    const l = f.link ?? { gen: 4, width: 16 };
    c.writeUInt16LE(l.gen | (l.width << 4), 0x52); // LnkSta
  }
  if (c.length >= 0x1000) {
    // an AER capability first, then ACS
    c.writeUInt32LE(0x0001 | (1 << 16) | (0x140 << 20), 0x100);
    if (f.acs) {
      c.writeUInt32LE(0x000d | (1 << 16), 0x140);
      c.writeUInt16LE(f.acs.cap, 0x144);
      c.writeUInt16LE(f.acs.ctrl, 0x146);
    }
  }
  return c;
}

const hex = (n: number, w = 4): string => `0x${n.toString(16).padStart(w, '0')}`;
const res = (start: number, size: number, flags: number): string =>
  `${hex(start, 16)} ${hex(size ? start + size - 1 : 0, 16)} ${hex(flags, 16)}`;
const ZERO = res(0, 0, 0);
const MEM64_PREF = 0x0014220c;
const MEM32 = 0x00040200;

/** Writes /sys/devices/... directories and /sys/bus/pci/devices symlinks. */
function makeSysfs(root: string, fns: FakeFn[]): { bus: string; devices: string } {
  const devices = join(root, 'sys', 'devices');
  const bus = join(root, 'sys', 'bus', 'pci', 'devices');
  mkdirSync(bus, { recursive: true });
  for (const f of fns) {
    const dir = join(devices, ...f.path);
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, 'class'), `${hex(f.cls, 6)}\n`);
    writeFileSync(join(dir, 'vendor'), `${hex(f.vendor ?? 0x1234)}\n`);
    writeFileSync(join(dir, 'device'), `${hex(f.device ?? 0x5678)}\n`);
    writeFileSync(join(dir, 'numa_node'), `${f.numa ?? -1}\n`);
    writeFileSync(join(dir, 'dma_mask_bits'), `${f.dmaBits ?? 64}\n`);
    const lines = f.resource ?? [];
    const total = f.secondary !== undefined ? 17 : 13;
    writeFileSync(
      join(dir, 'resource'),
      [...lines, ...Array(total - lines.length).fill(ZERO)].join('\n') + '\n',
    );
    writeFileSync(join(dir, 'config'), config(f));
    symlinkSync(relative(bus, dir), join(bus, f.bdf));
  }
  return { bus, devices };
}

const ROOT = 'pci0000:00';
const FNS: FakeFn[] = [
  {
    bdf: '0000:00:00.0',
    path: [ROOT, '0000:00:00.0'],
    cls: 0x060000,
    vendor: 0x1022,
    device: 0x14a4,
    configLen: 256,
  },
  {
    bdf: '0000:00:01.1',
    path: [ROOT, '0000:00:01.1'],
    cls: 0x060400,
    portType: 4,
    secondary: 1,
    numa: 1,
    acs: { cap: 0x5f, ctrl: 0x1d }, // SV TB RR CR UF DT / SV RR CR UF
    resource: [
      ZERO,
      ZERO,
      ZERO,
      ZERO,
      ZERO,
      ZERO,
      ZERO,
      res(0x1000, 0x1000, 0x100),
      res(0xf0000000, 0x200000, 0x200),
      res(0x100_0000_0000, 0x4_0000_0000, 0x102200),
    ],
  },
  {
    bdf: '0000:01:00.0',
    path: [ROOT, '0000:00:01.1', '0000:01:00.0'],
    cls: 0x060400,
    portType: 5,
    secondary: 2,
    numa: 1,
  },
  {
    bdf: '0000:02:00.0',
    path: [ROOT, '0000:00:01.1', '0000:01:00.0', '0000:02:00.0'],
    cls: 0x060400,
    portType: 6,
    secondary: 3,
    acs: { cap: 0x1f, ctrl: 0x00 },
  },
  {
    bdf: '0000:02:01.0',
    path: [ROOT, '0000:00:01.1', '0000:01:00.0', '0000:02:01.0'],
    cls: 0x060400,
    portType: 6,
    secondary: 4,
    acs: { cap: 0x1f, ctrl: 0x1d },
  },
  {
    bdf: '0000:03:00.0',
    path: [ROOT, '0000:00:01.1', '0000:01:00.0', '0000:02:00.0', '0000:03:00.0'],
    cls: 0x010802,
    vendor: 0x144d,
    device: 0xa80a,
    portType: 0,
    link: { gen: 4, width: 4 },
    numa: 1,
    resource: [res(0xf0000000, 0x4000, MEM32)],
  },
  {
    bdf: '0000:04:00.0',
    path: [ROOT, '0000:00:01.1', '0000:01:00.0', '0000:02:01.0', '0000:04:00.0'],
    cls: 0x030200,
    vendor: 0x10de,
    portType: 0,
    resource: [
      res(0xf0100000, 0x100000, MEM32),
      res(0x100_0000_0000, 0x4_0000_0000, MEM64_PREF),
      ZERO,
      res(0x1000, 0x80, 0x40101),
    ],
  },
];

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

describe('importSysfs: synthetic sysfs trees', () => {
  let tmp: string;
  let paths: { bus: string; devices: string };
  beforeAll(() => {
    tmp = mkdtempSync(join(tmpdir(), 'dmasim-sysfs-'));
    paths = makeSysfs(tmp, FNS);
  });
  afterAll(() => rmSync(tmp, { recursive: true, force: true }));

  function checkTree(r: ImportResult): void {
    const topo = topologyFromObject(r.spec);
    expect(topo.hostBridges.map((h) => h.name)).toEqual(['pci0000:00']);
    expect(r.spec.hostBridges[0].numaNode).toBe(1);
    const kinds = topo.devices.map((d) => `${d.bdf} ${d.kind} ${d.upstream?.bdf ?? '-'}`).sort();
    expect(kinds).toEqual([
      '0000:00:00.0 host-bridge -',
      '0000:00:01.1 root-port -',
      '0000:01:00.0 switch-upstream 0000:00:01.1',
      '0000:02:00.0 switch-downstream 0000:01:00.0',
      '0000:02:01.0 switch-downstream 0000:01:00.0',
      '0000:03:00.0 endpoint 0000:02:00.0',
      '0000:04:00.0 endpoint 0000:02:01.0',
    ]);
    expect(findSpec(r, '0000:00:01.1').acs).toEqual({
      cap: ['SV', 'TB', 'RR', 'CR', 'UF', 'DT'],
      ctrl: ['SV', 'RR', 'CR', 'UF'],
    });
    expect(findSpec(r, '0000:02:00.0').acs).toEqual({
      cap: ['SV', 'TB', 'RR', 'CR', 'UF'],
      ctrl: [],
    });
    expect(findSpec(r, '0000:01:00.0').acs).toBeUndefined();
    expect(findSpec(r, '0000:03:00.0')).toMatchObject({
      name: 'nvme0',
      class: 'nvme',
      vendor: 0x144d,
      device: 0xa80a,
      link: { gen: 4, width: 4 },
      mps: 256,
      mrrs: 512,
      dmaMaskBits: 64,
      bars: [{ bar: 0, size: 0x4000, address: 0xf0000000 }],
    });
    // I/O BARs are skipped; the 64-bit prefetchable BAR keeps its address
    expect(findSpec(r, '0000:04:00.0')).toMatchObject({
      name: 'gpu0',
      bars: [
        { bar: 0, size: 0x100000, address: 0xf0100000 },
        { bar: 1, size: 0x4_0000_0000, prefetchable: true, address: 0x100_0000_0000 },
      ],
    });
    // bridge windows (resource lines 7+): memory ones only
    expect(findSpec(r, '0000:00:01.1').windows).toEqual([
      { base: 0xf0000000, size: 0x200000 },
      { base: 0x100_0000_0000, size: 0x4_0000_0000, prefetchable: true },
    ]);
    expect(r.spec.platform.cpu).toEqual({ vendor: 'AMD', family: 0x19 });
  }

  it('follows the symlinks of /sys/bus/pci/devices', () => {
    const r = importSysfs(paths.bus);
    checkTree(r);
    expect(r.notes.some((n) => /CPU guessed as AMD family 0x19/.test(n))).toBe(true);
  });

  it('reads a cp -r copy of /sys/devices that keeps the nesting', () => {
    const copy = join(tmp, 'copy');
    cpSync(paths.devices, copy, { recursive: true });
    checkTree(importSysfs(copy));
    checkTree(importSysfs(join(copy, ROOT)));
  });

  it('reads a dereferenced flat copy, placing functions by secondary bus', () => {
    const flat = join(tmp, 'flat');
    mkdirSync(flat);
    for (const f of FNS) {
      cpSync(join(paths.devices, ...f.path), join(flat, f.bdf), {
        recursive: true,
        dereference: true,
      });
      // a flat copy of one device holds its children too (as in real sysfs); drop them here
      for (const e of readdirSync(join(flat, f.bdf)))
        if (/^0000:/.test(e)) rmSync(join(flat, f.bdf, e), { recursive: true });
    }
    const r = importSysfs(flat, { cpu: { vendor: 'Intel', family: 6 } });
    checkTreeShape(r);
    expect(r.spec.platform.cpu).toEqual({ vendor: 'Intel', family: 6 });
    expect(r.notes.some((n) => /placed by bus number/.test(n))).toBe(true);
  });

  function checkTreeShape(r: ImportResult): void {
    const topo = topologyFromObject(r.spec);
    expect(topo.get('0000:03:00.0').upstream?.bdf).toBe('0000:02:00.0');
    expect(topo.get('0000:02:01.0').kind).toBe('switch-downstream');
  }

  it('throws InputError for an empty directory and malformed files', () => {
    const empty = join(tmp, 'empty');
    mkdirSync(empty);
    expect(() => importSysfs(empty)).toThrow(InputError);
    const bad = join(tmp, 'bad', '0000:00:00.0');
    mkdirSync(bad, { recursive: true });
    writeFileSync(join(bad, 'class'), 'sixty\n');
    expect(() => importSysfs(join(tmp, 'bad'))).toThrow(/expected a hex number/);
  });
});

describe('importSysfs: the live /sys of this machine', () => {
  const live = '/sys/bus/pci/devices';
  const entries = existsSync(live) ? readdirSync(live).filter((e) => /^[0-9a-f]{4}:/.test(e)) : [];
  const maybe = entries.length > 0 ? it : it.skip;

  maybe('lists every function once with its BDF, and the spec builds', () => {
    const r = importSysfs(live);
    const seen: string[] = [];
    const walk = (ds: DeviceSpecInput[]): void => {
      for (const d of ds) {
        seen.push(d.bdf);
        if (d.children) walk(d.children);
      }
    };
    for (const hb of r.spec.hostBridges) walk(hb.devices);
    expect(seen.slice().sort()).toEqual(entries.slice().sort());
    expect(() => topologyFromObject(r.spec)).not.toThrow();
    expect(['AMD', 'Intel', 'ARM', 'other']).toContain(r.spec.platform.cpu.vendor);
  });
});
