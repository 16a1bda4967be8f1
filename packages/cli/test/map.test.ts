/**
 * `dmasim map`: one scatterlist mapped by each design (reference §3.2 for dma-direct's entries,
 * §4.2-§4.3 for dma-iommu's, §3.3 for the result codes), and one file:line:column message for
 * every kind of bad input.
 */
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { sglJsonSchema } from '../src/input/sgl-file';
import { REPO, run } from './helpers';

const SGL = join(REPO, 'examples', 'sgl');
const TOPOS = join(REPO, 'examples', 'topologies');

const dir = mkdtempSync(join(tmpdir(), 'dmasim-map-'));
function file(name: string, text: string): string {
  const p = join(dir, name);
  writeFileSync(p, text);
  return p;
}

interface MapJson {
  schemaVersion: number;
  results: {
    strategy: string;
    ret: number;
    error?: string;
    nents: number;
    iova?: { start: string; end: string; granules: number; granule: number };
    entries: { dmaAddress: string; dmaLength: number; busAddress: boolean }[];
    messages: string[];
  }[];
  notApplicable?: { strategy: string; notApplicable: string }[];
}

async function mapJson(args: string[]): Promise<MapJson> {
  const r = await run(['map', ...args, '--json']);
  expect(r.stderr).toBe('');
  expect(r.code).toBe(0);
  return JSON.parse(r.stdout) as MapJson;
}

describe('dmasim map with dma-direct (§3.2)', () => {
  it('maps RAM 1:1 and the CMB entry as a marked PCI bus address (BUS_ADDR below one switch)', async () => {
    const j = await mapJson([join(SGL, 'nic-reads-cmb.yaml'), '--strategy', 'dma-direct']);
    expect(j.schemaVersion).toBe(1);
    expect(j.results).toHaveLength(1);
    const r = j.results[0]!;
    expect(r.strategy).toBe('dma-direct');
    expect(r.ret).toBe(0);
    // dma-direct keeps one output entry per input entry. The CMB is BAR 2 of 04:00.0, the only
    // prefetchable BAR under host bridge 0, so the firmware-like assignment puts it at the start of
    // that bridge's 64-bit window, 1 TiB = 0x10000000000; busOffset 0, so bus = CPU address.
    expect(r.nents).toBe(3);
    expect(r.entries).toEqual([
      { dmaAddress: '0x100000000', dmaLength: 8192, busAddress: false },
      { dmaAddress: '0x10000000000', dmaLength: 4096, busAddress: true },
      { dmaAddress: '0x100003200', dmaLength: 1024, busAddress: false },
    ]);
    // The DMA-API debug checker saw a clean map, unmap and unbind.
    expect(r.messages.filter((m) => m.includes('DMA-API'))).toEqual([]);
  });

  it('maps a GPU BAR behind the other host bridge like RAM (THRU_HOST_BRIDGE, not marked)', async () => {
    const j = await mapJson([join(SGL, 'nic-to-gpu-bar.yaml'), '--strategy', 'dma-direct']);
    const r = j.results[0]!;
    expect(r.ret).toBe(0);
    expect(r.entries).toHaveLength(2);
    // gpu1's BAR1 (64 GiB) is the only prefetchable BAR under host bridge 1, whose default 64-bit
    // window starts at 2 TiB = 0x20000000000; p2pmem starts at BAR offset 0, entry offset 2 MiB.
    expect(r.entries[0]).toEqual({
      dmaAddress: '0x20000200000',
      dmaLength: 65536,
      busAddress: false,
    });
    expect(r.entries[1]).toEqual({ dmaAddress: '0x40000000', dmaLength: 4096, busAddress: false });
  });

  it('fails with -EREMOTEIO and the reason when the pair cannot do P2P', async () => {
    // On an Intel CPU whose host bridge is not allowlisted, a path through the root complex is
    // NOT_SUPPORTED (§1.2), so dma-direct returns -EREMOTEIO (§3.2) and the kernel log says why.
    const topo = readFileSync(join(TOPOS, 'amd-zen.yaml'), 'utf8').replace(
      'cpu: { vendor: AMD, family: 0x19 }',
      'cpu: { vendor: Intel, family: 6 }',
    );
    const t = file('intel-zen.yaml', topo);
    const s = file(
      'sgl.yaml',
      `topology: ${t}\ndevice: '02:00.0'\ndirection: from-device\nentries:\n  - { provider: '81:00.0', length: 4096 }\n`,
    );
    const j = await mapJson([s, '--strategy', 'dma-direct']);
    const r = j.results[0]!;
    expect(r.ret).toBe(-121);
    expect(r.error).toBe('EREMOTEIO');
    expect(r.nents).toBe(0);
    expect(r.entries).toEqual([]);
    expect(r.messages.join('\n')).toMatch(/cannot be used for peer-to-peer DMA/);
  });

  it('a 32-bit device: RAM above 4 GiB is bounced, the bus address is handed out unchecked (§3.2, §3.5)', async () => {
    const s = file(
      'mask32.yaml',
      `topology: ${join(TOPOS, 'switch-2nvme-nic.yaml')}\ndevice: '05:00.0'\ndirection: to-device\n` +
        `deviceParams: { dmaMaskBits: 32 }\nentries:\n  - { phys: '0x100000000', length: 8192 }\n` +
        `  - { provider: '04:00.0', length: 4096 }\n`,
    );
    const r = (await mapJson([s, '--strategy', 'dma-direct'])).results[0]!;
    expect(r.ret).toBe(0);
    // 64 GiB of RAM reaches above 4 GiB, so x86 sets up the 64 MiB swiotlb pool at the top of
    // low RAM: [3 GiB - 64 MiB, 3 GiB) = [0xbc000000, 0xc0000000). The first mapping takes the
    // first slots. The BUS_ADDR arm never checks dma_capable(), so the CMB's 1 TiB bus address is
    // handed to a device that cannot generate it; dmasim says so.
    expect(r.entries).toEqual([
      { dmaAddress: '0xbc000000', dmaLength: 8192, busAddress: false, bouncedFrom: '0x100000000' },
      { dmaAddress: '0x10000000000', dmaLength: 4096, busAddress: true, aboveDmaMask: true },
    ]);
  });

  it('prints a table per strategy', async () => {
    const r = await run(['map', join(SGL, 'nic-reads-cmb.yaml')]);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/Scatterlist for 0000:05:00\.0 \(to-device\)/);
    expect(r.stdout).toMatch(/dma-direct: /);
    expect(r.stdout).toMatch(/0x10000000000 +4096 +PCI bus address/);
    expect(r.stdout).toMatch(/dma-iommu: /);
    // dma-vec runs too (on the platform's ops), but its P2P memory has no struct pages (§5.6):
    // the CMB entry cannot be in a scatterlist, so the table says so instead of mapping it.
    expect(r.stdout).toMatch(/dma-vec: not applicable\n {2}P2P memory has no struct pages/);
  });

  it('dma-vec maps a RAM-only list with the platform ops: dma-direct without an IOMMU (§5.6)', async () => {
    const s = file(
      'ram-only.yaml',
      `topology: ${JSON.stringify(join(TOPOS, 'switch-2nvme-nic.yaml'))}
device: "0000:05:00.0"
direction: to-device
entries:
  - { phys: "0x100000000", length: 8192 }
`,
    );
    const doc = await mapJson([s, '--strategy', 'dma-vec']);
    // No IOMMU on this platform: RAM goes through dma-direct, 1:1 at its physical address.
    expect(doc.results).toEqual([
      expect.objectContaining({
        strategy: 'dma-vec',
        ret: 0,
        nents: 1,
        entries: [{ dmaAddress: '0x100000000', dmaLength: 8192, busAddress: false }],
      }),
    ]);
    expect(doc.notApplicable).toBeUndefined();
  });
});

describe('dmasim map with dma-iommu (§4.2, §4.3)', () => {
  it('`all` runs dma-direct and dma-iommu, the designs that bind DmaMapOps', async () => {
    const j = await mapJson([join(SGL, 'nic-reads-cmb.yaml')]);
    expect(j.results.map((r) => r.strategy)).toEqual(['dma-direct', 'dma-iommu']);
  });

  it('without an IOMMU in the topology dma-iommu maps like dma-direct (no IOVA range)', async () => {
    // switch-2nvme-nic has no `platform.iommu`: use_dma_iommu() is false for every device.
    const j = await mapJson([join(SGL, 'nic-reads-cmb.yaml'), '--strategy', 'dma-iommu']);
    const r = j.results[0]!;
    expect(r.ret).toBe(0);
    expect(r.iova).toBeUndefined();
    expect(r.entries).toEqual([
      { dmaAddress: '0x100000000', dmaLength: 8192, busAddress: false },
      { dmaAddress: '0x10000000000', dmaLength: 4096, busAddress: true },
      { dmaAddress: '0x100003200', dmaLength: 1024, busAddress: false },
    ]);
  });

  it('behind the IOMMU: one IOVA range, segments merged (nic-gather-iommu)', async () => {
    const j = await mapJson([join(SGL, 'nic-gather-iommu.yaml'), '--strategy', 'dma-iommu']);
    const r = j.results[0]!;
    expect(r.ret).toBe(0);
    // iova_len = 4 x 0x1000 (RAM) + 0x2000 (gpu1, THRU_HOST_BRIDGE) + ALIGN(0x200 + 0x400) =
    // 0x7000, 7 granules; rounded up to 8 pages for the allocation and aligned to them, below
    // 4 GiB first (mlx5_0 is PCI): pfn 0x100000 - 8 = 0xffff8. The range reported is the 7
    // granules the list uses: 0xffff8000-0xffffefff.
    expect(r.iova).toEqual({
      start: '0xffff8000',
      end: '0xffffefff',
      granules: 7,
      granule: 4096,
    });
    // Entries 0-4 start and end on granules: merged, 4 x 4096 + 8192 = 24576 <= 65536. The
    // trailer's offset 0x200 starts a new entry at 0xffff8000 + 0x6000 + 0x200.
    expect(r.nents).toBe(2);
    expect(r.entries).toEqual([
      { dmaAddress: '0xffff8000', dmaLength: 24576, busAddress: false },
      { dmaAddress: '0xffffe200', dmaLength: 1024, busAddress: false },
    ]);
    // Lazy mode, no 64-bit fallback, a clean DMA-API debug check: nothing logged.
    expect(r.messages).toEqual([]);
  });

  it('the max segment size stops merging: 64 KiB of gpu1 then 4 KiB of RAM stay 2 entries', async () => {
    const j = await mapJson([join(SGL, 'nic-to-gpu-bar.yaml'), '--strategy', 'dma-iommu']);
    const r = j.results[0]!;
    // iova_len 0x10000 + 0x1000 = 17 pages -> 32, pfn 0x100000 - 0x20 = 0xfffe0. The RAM entry
    // would make 65536 + 4096 > 65536 (PCI default max segment): a second entry at 0xffff0000.
    expect(r.iova).toEqual({ start: '0xfffe0000', end: '0xffff0fff', granules: 17, granule: 4096 });
    expect(r.entries).toEqual([
      { dmaAddress: '0xfffe0000', dmaLength: 65536, busAddress: false },
      { dmaAddress: '0xffff0000', dmaLength: 4096, busAddress: false },
    ]);
  });

  it('prints the IOVA range and the merged entries', async () => {
    const r = await run(['map', join(SGL, 'nic-gather-iommu.yaml')]);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('dma_map_sgtable: 0, 6 DMA entries\n');
    expect(r.stdout).toContain('dma_map_sgtable: 0, 2 DMA entries (merged from 6)');
    expect(r.stdout).toContain('IOVA range 0xffff8000-0xffffefff (7 granules of 4 KiB)');
    expect(r.stdout).toMatch(/^ {2}0 +0xffff8000 +24576 *$/m);
  });
});

describe('dmasim map: bad input is one message with file:line:column', () => {
  const topo = join(TOPOS, 'switch-2nvme-nic.yaml');
  async function error(text: string, name = 'bad.yaml'): Promise<string> {
    const r = await run(['map', file(name, text), '--topology', topo]);
    expect(r.code).toBe(1);
    expect(r.stdout).toBe('');
    expect(r.stderr.split('\n').filter(Boolean)).toHaveLength(1);
    return r.stderr.trim();
  }

  it('an unknown key, with the nearest valid one', async () => {
    const e = await error(`device: '05:00.0'\ndirection: to-device\nentires: []\n`);
    expect(e).toMatch(/bad\.yaml:3:1: unknown key "entires" .*did you mean "entries"/);
  });

  it('an entry with both phys and provider', async () => {
    const e = await error(
      `device: '05:00.0'\ndirection: to-device\nentries:\n  - { phys: 0x1000, provider: '04:00.0', length: 4096 }\n`,
    );
    expect(e).toMatch(/bad\.yaml:4:5: .*either phys \(RAM\) or provider/);
  });

  it('a RAM entry outside System RAM', async () => {
    // The default 64 GiB: [0, 3 GiB) and [4 GiB, 65 GiB); 3.5 GiB is in the PCI hole.
    const e = await error(
      `device: '05:00.0'\ndirection: to-device\nentries:\n  - { phys: 0xe0000000, length: 4096 }\n`,
    );
    expect(e).toMatch(/bad\.yaml:4:13: 0xe0000000\+4096 is not System RAM/);
  });

  it('a RAM entry in the swiotlb pool the kernel reserved', async () => {
    // 64 MiB at the top of low RAM: [3 GiB - 64 MiB, 3 GiB) = [0xbc000000, 0xc0000000).
    const e = await error(
      `device: '05:00.0'\ndirection: to-device\nentries:\n  - { phys: 0xbfff0000, length: 4096 }\n`,
    );
    expect(e).toMatch(
      /bad\.yaml:4:13: 0xbfff0000\+4096 overlaps the swiotlb bounce pool \[0xbc000000-0xbfffffff\]/,
    );
  });

  it('a provider without P2P memory', async () => {
    const e = await error(
      `device: '05:00.0'\ndirection: to-device\nentries:\n  - { provider: '03:00.0', length: 4096 }\n`,
    );
    expect(e).toMatch(/bad\.yaml:4:17: 0000:03:00\.0 has no P2P memory/);
  });

  it('an entry past the end of the p2pmem', async () => {
    // nvme1's CMB is 256 MiB = 268435456 bytes.
    const e = await error(
      `device: '05:00.0'\ndirection: to-device\nentries:\n  - { provider: '04:00.0', offset: 268431360, length: 8192 }\n`,
    );
    expect(e).toMatch(
      /bad\.yaml:4:55: offset 268431360 \+ length 8192 runs past the 268435456 bytes/,
    );
  });

  it('a device that is not in the topology', async () => {
    const e = await error(
      `device: '09:00.0'\ndirection: to-device\nentries:\n  - { phys: 0, length: 1 }\n`,
    );
    expect(e).toMatch(/bad\.yaml:1:9: device 09:00\.0 is not in the topology/);
  });

  it('a bad direction', async () => {
    const e = await error(
      `device: '05:00.0'\ndirection: up\nentries:\n  - { phys: 0, length: 1 }\n`,
    );
    expect(e).toMatch(
      /bad\.yaml:2:12: unknown direction "up": expected one of bidirectional, to-device, from-device/,
    );
  });

  it('JSON syntax', async () => {
    const e = await error(`{"device": "05:00.0",}`, 'bad.json');
    expect(e).toMatch(/bad\.json:1:21: JSON syntax error: trailing comma/);
  });

  it('no topology anywhere', async () => {
    const p = file(
      'notopo.yaml',
      `device: '05:00.0'\ndirection: to-device\nentries:\n  - { phys: 0, length: 1 }\n`,
    );
    const r = await run(['map', p]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/notopo\.yaml:1:1: no topology: give `topology: FILE`/);
  });
});

describe('dmasim map: usage', () => {
  it('an unknown strategy is a usage error naming the known ones', async () => {
    const r = await run(['map', join(SGL, 'nic-reads-cmb.yaml'), '--strategy', 'dma-foo']);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(
      /unknown strategy "dma-foo": expected one of dma-direct, dma-iommu, dma-vec, all/,
    );
  });

  it('the committed packages/cli/schema/sgl.schema.json is what the schema generates', () => {
    // Regenerate with `npm run schema -w @dmasim/cli` after changing input/sgl-file.ts.
    const committed = JSON.parse(
      readFileSync(join(__dirname, '../schema/sgl.schema.json'), 'utf8'),
    ) as unknown;
    expect(committed).toEqual(sglJsonSchema());
  });
});
