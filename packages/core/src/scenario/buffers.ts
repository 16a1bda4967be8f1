/**
 * The buffers of a scenario, allocated the way their owners get them in the kernel: RAM pages
 * from the page allocator, P2P memory from pci_alloc_p2pmem() with nvmet's provider choice
 * (pci_p2pmem_find_many() and its fall-back to RAM), user memory from mmap() (anonymous, or the
 * provider's p2pmem/allocate file). Every buffer knows the CPU physical address of each of its
 * bytes, which is where its data lives in the fabric's memory.
 */
import { EINVAL, ENOMEM, errnoName } from '../errno';
import type { KernelLog } from '../kernel-log';
import { mmapAnonymous, type MmStruct } from '../mm/mm';
import type { Memmap } from '../mm/memremap';
import { PAGE_SIZE, type Page } from '../mm/page';
import type { PhysMemoryMap } from '../mm/memory-map';
import type { PciDev } from '../pci/device';
import type { PciTopology } from '../pci/topology';
import { pciP2pdmaDistanceMany, pciP2pmemFindMany } from '../p2pdma/distance';
import { p2pmemMmap } from '../p2pdma/p2pmem-mmap';
import { pciAllocP2pmem, pciP2pmemVirtToBus } from '../p2pdma/provider';
import type { P2pdmaDevices } from '../p2pdma/state';
import type { KernelBuffer } from '../target/kernel-submitter';
import type { AllocSpec } from './schema';

/** A physically contiguous run of a buffer. */
export interface PhysRun {
  /** Offset in the buffer. */
  readonly offset: number;
  readonly phys: number;
  readonly len: number;
}

export class ScenarioBuffer implements KernelBuffer {
  constructor(
    readonly id: string,
    readonly kind: AllocSpec['kind'],
    readonly size: number,
    /** In buffer order, covering [0, size). */
    readonly runs: readonly PhysRun[],
    readonly opts: {
      provider?: PciDev;
      p2pVirt?: number;
      pages?: readonly Page[];
      /** The process and address of a user buffer. */
      user?: { mm: MmStruct; addr: number };
      /** nvmet found no provider for the clients and used RAM. */
      fellBack?: boolean;
    } = {},
  ) {}

  get provider(): PciDev | undefined {
    return this.opts.provider;
  }
  get p2pVirt(): number | undefined {
    return this.opts.p2pVirt;
  }
  get pages(): readonly Page[] | undefined {
    return this.opts.pages;
  }
  get user(): { mm: MmStruct; addr: number } | undefined {
    return this.opts.user;
  }

  physAt(offset: number): number {
    for (const r of this.runs) {
      if (offset >= r.offset && offset < r.offset + r.len) return r.phys + (offset - r.offset);
    }
    throw new RangeError(`${this.id}: offset ${offset} is outside the ${this.size}-byte buffer`);
  }

  /** The physical runs of [offset, offset + len), clipped. */
  runsOf(offset: number, len: number): PhysRun[] {
    const out: PhysRun[] = [];
    const end = offset + len;
    for (const r of this.runs) {
      const a = Math.max(offset, r.offset);
      const b = Math.min(end, r.offset + r.len);
      if (a < b) out.push({ offset: a, phys: r.phys + (a - r.offset), len: b - a });
    }
    return out;
  }
}

/** Page frames for kernel and user RAM buffers: first fit above 4 GiB, never freed. */
export class RamAllocator {
  private next: number;
  private readonly end: number;

  constructor(mem: PhysMemoryMap) {
    const range = [...mem.ram].sort((a, b) => b.end - b.start - (a.end - a.start))[0];
    if (!range) throw new Error('the topology has no RAM');
    this.next = Math.ceil(range.start / PAGE_SIZE) * PAGE_SIZE;
    this.end = range.end;
  }

  /** pfns of `pages` pages: consecutive, or every other frame when scattered; -ENOMEM. */
  alloc(pages: number, scattered: boolean): number[] | number {
    const stride = scattered ? 2 : 1;
    if (this.next + pages * stride * PAGE_SIZE > this.end) return -ENOMEM;
    const first = this.next / PAGE_SIZE;
    this.next += pages * stride * PAGE_SIZE;
    return Array.from({ length: pages }, (_, i) => first + i * stride);
  }
}

/** What an alloc step came to. */
export type AllocOutcome =
  | { ok: true; buffer: ScenarioBuffer; notes: string[] }
  | { ok: false; errno: number; message: string };

/** The kernel state an allocation needs. */
export interface AllocContext {
  /** Buffers allocated so far (concat's parts). */
  buffers: ReadonlyMap<string, ScenarioBuffer>;
  topology: PciTopology;
  p2p: P2pdmaDevices;
  memmap: Memmap;
  ram: RamAllocator;
  mm: MmStruct;
  log: KernelLog;
  /** Whether the design's P2P memory has struct pages (P2pMemory.structPages). */
  structPages: boolean;
  /**
   * dma_pci_p2pdma_supported() of a client's DMA ops (absent: every client can). nvmet asks it
   * before using P2P memory for a client (§11).
   */
  p2pdmaSupported?: (dev: PciDev) => boolean;
}

function runsFromPfns(pfns: readonly number[], size: number): PhysRun[] {
  const runs: { offset: number; phys: number; len: number }[] = [];
  pfns.forEach((pfn, i) => {
    const len = Math.min(PAGE_SIZE, size - i * PAGE_SIZE);
    const last = runs[runs.length - 1];
    if (last && last.phys + last.len === pfn * PAGE_SIZE) last.len += len;
    else runs.push({ offset: i * PAGE_SIZE, phys: pfn * PAGE_SIZE, len });
  });
  return runs;
}

/** Kernel RAM: alloc_pages() frames, contiguous or scattered. */
export function allocRam(
  ctx: AllocContext,
  id: string,
  size: number,
  scattered: boolean,
): AllocOutcome {
  const n = Math.ceil(size / PAGE_SIZE);
  const pfns = ctx.ram.alloc(n, scattered);
  if (typeof pfns === 'number') {
    return { ok: false, errno: pfns, message: `no RAM left for ${size} bytes` };
  }
  const pages = pfns.map((pfn) => ctx.memmap.pfnToPage(pfn));
  return {
    ok: true,
    buffer: new ScenarioBuffer(id, 'ram', size, runsFromPfns(pfns, size), { pages }),
    notes: [],
  };
}

/** The CPU physical address of a pool address of `provider` (the pool holds bus addresses). */
function p2pmemPhys(ctx: AllocContext, provider: PciDev, virt: number): number {
  const bus = pciP2pmemVirtToBus(ctx.p2p, provider, virt);
  const bar = ctx.topology.memoryMap.barAtBus(bus, provider.hostBridge);
  if (!bar) throw new Error(`p2pmem of ${provider.bdf} at bus 0x${bus.toString(16)} is in no BAR`);
  return bar.start + (bus - bar.busStart);
}

function resolveProvider(
  ctx: AllocContext,
  spec: AllocSpec,
): { provider?: PciDev; errno?: number; message?: string; note?: string } {
  const clients = (spec.clients ?? []).map((c) => ctx.topology.get(c));
  // nvmet uses P2P memory only for clients whose DMA ops can map it: nvmet-rdma sets no
  // p2p_client without ib_dma_pci_p2p_dma_supported(), and nvmet_p2pmem_ns_enable() refuses a
  // namespace whose queue lacks PCI_P2PDMA (§11, §10).
  const unable = ctx.p2pdmaSupported ? clients.filter((c) => !ctx.p2pdmaSupported!(c)) : [];
  if (unable.length) {
    return {
      errno: -EINVAL,
      message: `${unable.map((c) => c.label).join(', ')} cannot DMA to P2P memory: dma_pci_p2pdma_supported() is false for ${unable.length > 1 ? 'their' : 'its'} DMA ops, so nvmet uses no P2P memory for ${unable.length > 1 ? 'them' : 'it'}`,
    };
  }
  if (spec.provider === 'auto') {
    const provider = pciP2pmemFindMany(ctx.p2p, clients, () => 0);
    if (provider) {
      return {
        provider,
        note: `pci_p2pmem_find_many() chose ${provider.label} for ${clients.map((c) => c.label).join(', ')}`,
      };
    }
    return {
      errno: -ENOMEM,
      message: `no published P2P memory is usable by every client (${clients.map((c) => c.label).join(', ')}): pci_p2pmem_find_many() found none`,
    };
  }
  const provider = ctx.topology.get(spec.provider!);
  if (!ctx.p2p.hasP2pmem(provider)) {
    return {
      errno: -EINVAL,
      message: `${provider.label} has no published peer-to-peer memory (no CMB with RDS and WDS, no p2pmem)`,
    };
  }
  if (clients.length && pciP2pdmaDistanceMany(ctx.p2p, provider, clients, true) < 0) {
    return {
      errno: -EINVAL,
      message: `p2p memory device ${provider.label} is not compatible with ${clients.map((c) => c.label).join(', ')}: the kernel refuses P2P between them`,
    };
  }
  return { provider };
}

/**
 * One alloc step. p2pmem with provider "auto" falls back to RAM when none qualifies, unless
 * `fallback: none` (nvmet_req_alloc_p2pmem_sgls() failing: nvmet uses RAM; reference §2.3).
 */
export function allocBuffer(ctx: AllocContext, id: string, spec: AllocSpec): AllocOutcome {
  if (spec.kind === 'concat') return concatBuffers(ctx, id, spec);
  const size = spec.size!;
  const scattered = spec.layout === 'scattered';
  switch (spec.kind) {
    case 'ram':
      return allocRam(ctx, id, size, scattered);
    case 'p2pmem': {
      const r = resolveProvider(ctx, spec);
      if (!r.provider) {
        if (spec.provider === 'auto' && spec.fallback !== 'none') {
          const ram = allocRam(ctx, id, size, scattered);
          if (!ram.ok) return ram;
          const b = ram.buffer;
          return {
            ok: true,
            buffer: new ScenarioBuffer(id, 'ram', size, b.runs, { ...b.opts, fellBack: true }),
            notes: [`${r.message}; nvmet falls back to RAM, so the data crosses host memory`],
          };
        }
        return { ok: false, errno: r.errno!, message: r.message! };
      }
      const provider = r.provider;
      const virt = pciAllocP2pmem(ctx.p2p, provider, Math.ceil(size / PAGE_SIZE) * PAGE_SIZE);
      if (virt === undefined) {
        return {
          ok: false,
          errno: -ENOMEM,
          message: `pci_alloc_p2pmem() of ${size} bytes from ${provider.label} failed: the pool is too small or exhausted`,
        };
      }
      const phys = p2pmemPhys(ctx, provider, virt);
      const pages = ctx.structPages
        ? Array.from({ length: Math.ceil(size / PAGE_SIZE) }, (_, i) =>
            ctx.memmap.pfnToPage(phys / PAGE_SIZE + i),
          )
        : undefined;
      return {
        ok: true,
        buffer: new ScenarioBuffer(id, 'p2pmem', size, [{ offset: 0, phys, len: size }], {
          provider,
          p2pVirt: virt,
          pages,
        }),
        notes: r.note ? [r.note] : [],
      };
    }
    case 'user-ram': {
      const n = Math.ceil(size / PAGE_SIZE);
      const pfns = ctx.ram.alloc(n, scattered);
      if (typeof pfns === 'number') return { ok: false, errno: pfns, message: 'out of RAM' };
      const addr = mmapAnonymous(ctx.mm, pfns);
      if (addr < 0) {
        return { ok: false, errno: addr, message: `mmap() failed with ${errnoName(addr)}` };
      }
      // The pages go with the buffer too: a kernel user of the memory (a dma or a kernel-mode
      // nvme step) gets them as it would after pinning them, and KernelBuffer promises pages
      // wherever the memory has them.
      const pages = pfns.map((pfn) => ctx.memmap.pfnToPage(pfn));
      return {
        ok: true,
        buffer: new ScenarioBuffer(id, 'user-ram', size, runsFromPfns(pfns, size), {
          user: { mm: ctx.mm, addr },
          pages,
        }),
        notes: [],
      };
    }
    case 'user-p2pmem': {
      const provider = ctx.topology.get(spec.provider!);
      const len = Math.ceil(size / PAGE_SIZE) * PAGE_SIZE;
      const addr = p2pmemMmap(ctx.p2p, provider, ctx.mm, { len });
      if (addr < 0) {
        const why = ctx.structPages
          ? ''
          : ': this design registers P2P memory without struct pages, and the allocate file maps pages into the process with vm_insert_page(), so userspace cannot get P2P memory';
        return {
          ok: false,
          errno: addr,
          message: `mmap() of ${provider.label}'s p2pmem/allocate failed with ${errnoName(addr)}${why}`,
        };
      }
      const vma = ctx.mm.vmaLookup(addr)!;
      const pte = vma.pteAt(addr)!;
      const phys = pte.pfn * PAGE_SIZE;
      // The allocate file exists only where P2P memory has struct pages (p2pmem-mmap.ts), so
      // the buffer has them, as a kernel buffer of the same memory would.
      const pages = Array.from({ length: len / PAGE_SIZE }, (_, i) =>
        ctx.memmap.pfnToPage(pte.pfn + i),
      );
      return {
        ok: true,
        buffer: new ScenarioBuffer(id, 'user-p2pmem', size, [{ offset: 0, phys, len: size }], {
          provider,
          user: { mm: ctx.mm, addr },
          pages,
        }),
        notes: [],
      };
    }
  }
}

/**
 * One kernel buffer made of earlier buffers in order (a scatterlist or bio over all their pages):
 * pages when every part has them; parts must be whole pages, as sg_set_page() runs would be.
 */
function concatBuffers(ctx: AllocContext, id: string, spec: AllocSpec): AllocOutcome {
  const parts = spec.parts!.map((p) => ctx.buffers.get(p)!);
  const runs: PhysRun[] = [];
  const pages: Page[] = [];
  let size = 0;
  for (const b of parts) {
    if (b.user) {
      return {
        ok: false,
        errno: -EINVAL,
        message: `${b.id} is user memory: concat joins kernel buffers`,
      };
    }
    if (b.size % PAGE_SIZE) {
      return { ok: false, errno: -EINVAL, message: `${b.id} is not a whole number of pages` };
    }
    for (const r of b.runs) runs.push({ offset: size + r.offset, phys: r.phys, len: r.len });
    if (b.pages) pages.push(...b.pages);
    size += b.size;
  }
  if (spec.size !== undefined && spec.size !== size) {
    return { ok: false, errno: -EINVAL, message: `the parts hold ${size} bytes, not ${spec.size}` };
  }
  const allPages = parts.every((b) => b.pages);
  const providers = new Set(parts.map((b) => b.provider?.label ?? 'RAM'));
  return {
    ok: true,
    buffer: new ScenarioBuffer(id, 'concat', size, runs, allPages ? { pages } : {}),
    notes: [
      `${id} joins ${parts.map((b) => b.id).join(', ')}: memory of ${[...providers].join(', ')}`,
    ],
  };
}
