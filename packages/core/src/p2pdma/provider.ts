/**
 * The provider side of P2PDMA (drivers/pci/p2pdma.c, reference §2): registering part of a BAR as
 * P2P memory with ZONE_DEVICE struct pages and a genalloc pool, allocating from it, publishing
 * it, its sysfs attributes, and the configfs/sysfs "p2pmem" enable attribute parser.
 *
 * Behaviour follows drivers/pci/p2pdma.c of v6.2-v6.18 (the logic of pci_p2pdma_add_resource()
 * is the same since v4.20) and mm/memremap.c + mm/memory_hotplug.c of v6.x for the page map.
 *
 * Kernel virtual addresses. pci_alloc_p2pmem() returns a kernel virtual address: the pool's
 * chunks start at what devm_memremap_pages() returned, __va(range.start), an address in the
 * kernel's direct map. x86-64 puts the direct map at 0xffff888000000000, which a double cannot
 * hold, so the model places it at DIRECT_MAP_BASE = 2^52: virt = 2^52 + CPU physical address.
 * Physical addresses are below 2^52 (x86-64 MAX_PHYSMEM_BITS with 5-level paging), so every
 * virtual address is a safe integer and no virtual address equals a physical or bus address
 * below 2^52, which keeps a caller that confuses them from passing tests by accident.
 * pci_p2pmem_virt_to_bus() turns such an address into the PCI bus address, because the pool's
 * "phys" is the bus address (gen_pool_add_owner(virt, pci_bus_address(bar) + offset, ...)).
 */
import { EINVAL, ENODEV } from '../errno';
import { STRUCT_PAGE_SIZE } from '../mm/memremap';
import { printkHex, type KernelLog } from '../kernel-log';
import type { PciBar, PciDev } from '../pci/device';
import { GenPool } from './pool';
import { MEMORY_DEVICE_PCI_P2PDMA } from '../mm/page';
import { type P2pdmaDevices, type PciP2pdma, type PciP2pdmaPagemap } from './state';

const PAGE_SHIFT = 12;
const PAGE_SIZE = 2 ** PAGE_SHIFT;

export {
  SUBSECTION_SHIFT,
  SUBSECTION_SIZE,
  PAGES_PER_SUBSECTION,
  STRUCT_PAGE_SIZE,
} from '../mm/memremap';
/** Where the model puts the kernel's direct map (see the file comment): 2^52. */
export const DIRECT_MAP_BASE = 2 ** 52;

/** __va(phys): the direct-map kernel virtual address of a CPU physical address (modelled). */
export function directMapVirt(phys: number): number {
  if (!Number.isSafeInteger(phys) || phys < 0 || phys >= DIRECT_MAP_BASE) {
    throw new RangeError(`__va: physical address ${phys} is outside 0..2^52`);
  }
  return DIRECT_MAP_BASE + phys;
}

/** __pa(virt): the CPU physical address of a direct-map kernel virtual address (modelled). */
export function directMapPhys(virt: number): number {
  if (!Number.isSafeInteger(virt) || virt < DIRECT_MAP_BASE) {
    throw new RangeError(`__pa: ${virt} is not a direct-map kernel virtual address`);
  }
  return virt - DIRECT_MAP_BASE;
}

function checkSize(what: string, n: number): void {
  if (!Number.isSafeInteger(n) || n < 0) {
    throw new RangeError(`${what} ${n} is not a non-negative safe integer`);
  }
}

/** The provider's genalloc pool; throws if the state holds some other P2pdmaPool (misuse). */
function genPool(state: PciP2pdma): GenPool | undefined {
  const pool = state.pool;
  if (pool === undefined) return undefined;
  if (!(pool instanceof GenPool)) {
    throw new TypeError(`the p2pdma state of ${state.dev.bdf} holds a pool that is not a GenPool`);
  }
  return pool;
}

/**
 * The argument checks every pci_p2pdma_add_resource() variant starts with (reference §2.2 step 1):
 * the BAR's resource and the size to register (0 means the rest of the BAR), or -EINVAL for a BAR
 * that is not memory, offset >= BAR length or size + offset > BAR length. Non-integer or negative
 * arguments are misuse and throw.
 */
export function pciP2pdmaResourceRange(
  dev: PciDev,
  bar: number,
  size: number,
  offset: number,
): { res: PciBar; size: number } | number {
  if (!Number.isInteger(bar)) throw new RangeError(`BAR number ${bar} is not an integer`);
  checkSize('size', size);
  checkSize('offset', offset);
  const res = dev.bar(bar);
  // pci_resource_flags(pdev, bar) & IORESOURCE_MEM: the model's BARs are all memory BARs, and a
  // BAR that is not implemented (or is the upper half of a 64-bit BAR) has no flags.
  if (!res) return -EINVAL;
  const barLen = res.size;
  if (offset >= barLen) return -EINVAL;
  if (!size) size = barLen - offset;
  if (size + offset > barLen) return -EINVAL;
  return { res, size };
}

/**
 * pci_p2pdma_add_resource(pdev, bar, size, offset) (drivers/pci/p2pdma.c, v4.20-v6.18, reference
 * §2.2): registers [offset, offset + size) of a memory BAR as P2P memory. size 0 means the rest
 * of the BAR. Returns 0 or:
 * - -EINVAL: the BAR does not exist (not IORESOURCE_MEM), offset >= BAR length, or
 *   size + offset > BAR length;
 * - -EINVAL: the page map is not 2 MiB sub-section aligned (start or size), with the memory
 *   hotplug WARN in the log;
 * - -ENOMEM: the range shares a pfn with an existing page map.
 * The p2pdma state and its pool are created before the page map (pci_p2pdma_setup()), so they
 * stay (with an empty pool) when the page map fails, as in the kernel. On success the pool gets a
 * chunk at virt = __va(BAR start + offset) with phys = pci_bus_address(bar) + offset, and the log
 * gets "added peer-to-peer DMA memory <start>-<end>" with the CPU physical range (inclusive end).
 */
export function pciP2pdmaAddResource(
  p2p: P2pdmaDevices,
  dev: PciDev,
  bar: number,
  size: number,
  offset: number,
  log?: KernelLog,
): number {
  const r = pciP2pdmaResourceRange(dev, bar, size, offset);
  if (typeof r === 'number') return r;
  const { res } = r;
  size = r.size;

  // pci_p2pdma_setup(): the state, the pool (gen_pool_create(PAGE_SHIFT, dev_to_node())) and
  // the p2pmem sysfs group, once per device.
  const state = p2p.setup(dev);
  if (state.pool === undefined) state.pool = new GenPool(PAGE_SHIFT, dev.hostBridge.numaNode ?? -1);
  const pool = genPool(state)!;

  const start = res.cpuAddress + offset;
  const end = start + size - 1;
  const nrPages = Math.floor(size / PAGE_SIZE);
  const pgmap: PciP2pdmaPagemap = {
    type: MEMORY_DEVICE_PCI_P2PDMA,
    range: { start, end },
    provider: dev,
    bar,
    busOffset: res.busAddress - res.cpuAddress,
    virt: directMapVirt(start),
    nrPages,
    structPageBytes: nrPages * STRUCT_PAGE_SIZE,
  };
  const err = p2p.memmap.memremapPages(pgmap, log);
  if (err) return err;
  state.pgmaps.push(pgmap);
  pool.addOwner(pgmap.virt, res.busAddress + offset, end - start + 1, pgmap);
  log?.info(dev, `added peer-to-peer DMA memory ${printkHex(start)}-${printkHex(end)}`);
  return 0;
}

/**
 * Memory the struct pages of P2P memory take from RAM (reference §9: 64 bytes per 4 KiB page,
 * 1.5625 %): of one provider, or of every provider of the simulated kernel.
 */
export function pciP2pdmaStructPageBytes(p2p: P2pdmaDevices, dev?: PciDev): number {
  const devs = dev ? [dev] : p2p.devices();
  let n = 0;
  for (const d of devs) for (const pg of p2p.get(d)?.pgmaps ?? []) n += pg.structPageBytes;
  return n;
}

/**
 * pci_alloc_p2pmem(pdev, size) (drivers/pci/p2pdma.c, v6.x, reference §2.3): first-fit,
 * page-granular allocation from the provider's pool. Returns the kernel virtual address, or
 * undefined where the kernel returns NULL: no p2pdma state, size 0, or no room. (The kernel's
 * percpu_ref_tryget_live() cannot fail here: teardown removes the state at once.)
 */
export function pciAllocP2pmem(p2p: P2pdmaDevices, dev: PciDev, size: number): number | undefined {
  checkSize('size', size);
  const state = p2p.get(dev);
  if (!state) return undefined;
  const pool = genPool(state);
  if (!pool) return undefined;
  return pool.alloc(size);
}

/**
 * pci_free_p2pmem(pdev, addr, size) (drivers/pci/p2pdma.c, v6.x): gives `size` bytes at `addr`
 * back to the pool. Freeing without p2pdma state (a NULL dereference in the kernel), outside the
 * pool, or twice (BUG() in genalloc) throws.
 */
export function pciFreeP2pmem(p2p: P2pdmaDevices, dev: PciDev, addr: number, size: number): void {
  const state = p2p.get(dev);
  const pool = state ? genPool(state) : undefined;
  if (!pool) throw new Error(`pci_free_p2pmem: ${dev.bdf} has no p2pdma memory`);
  pool.free(addr, size);
}

/**
 * pci_p2pmem_virt_to_bus(pdev, addr) (drivers/pci/p2pdma.c, v6.x): the PCI bus address of a
 * pool address, which is gen_pool_virt_to_phys() because the pool's "phys" is the bus address.
 * 0 for addr 0 or a device without p2pdma state; -1 ((phys_addr_t)-1) for an address outside
 * the pool.
 */
export function pciP2pmemVirtToBus(p2p: P2pdmaDevices, dev: PciDev, addr: number): number {
  if (!addr) return 0;
  const state = p2p.get(dev);
  if (!state) return 0;
  const pool = genPool(state);
  return pool ? pool.virtToPhys(addr) : -1;
}

/**
 * pci_p2pmem_publish(pdev, publish) (drivers/pci/p2pdma.c, v6.x): marks the memory as usable by
 * other drivers (pci_p2pmem_find_many()); does nothing for a device without p2pdma state.
 */
export function pciP2pmemPublish(p2p: P2pdmaDevices, dev: PciDev, publish: boolean): void {
  const state = p2p.get(dev);
  if (state) state.published = publish;
}

/** The text of the p2pmem sysfs attributes, each ending in a newline. */
export interface P2pmemSysfs {
  /** size_show(): gen_pool_size() as "%zd\n" */
  size: string;
  /** available_show(): gen_pool_avail() as "%zd\n" */
  available: string;
  /** published_show(): "%d\n" of p2pmem_published */
  published: string;
}

/**
 * /sys/bus/pci/devices/<BDF>/p2pmem/{size,available,published} (drivers/pci/p2pdma.c size_show,
 * available_show, published_show, v6.x; reference §2.4). undefined when the device has no
 * p2pmem group (the group is created with the state and pool by the first
 * pci_p2pdma_add_resource(), even one whose page map then fails).
 */
export function p2pmemSysfs(p2p: P2pdmaDevices, dev: PciDev): P2pmemSysfs | undefined {
  const state = p2p.get(dev);
  if (!state) return undefined;
  const pool = genPool(state);
  if (!pool) return undefined;
  return {
    size: `${pool.size}\n`,
    available: `${pool.available}\n`,
    published: `${state.published ? 1 : 0}\n`,
  };
}

/**
 * sysfs_streq() (lib/string.c): equal, or equal but for one trailing newline on either side.
 * bus_find_device_by_name() matches device names with it.
 */
export function sysfsStreq(s1: string, s2: string): boolean {
  if (s1 === s2) return true;
  return s1 + '\n' === s2 || s1 === s2 + '\n';
}

/**
 * kstrtobool(s) (lib/kstrtox.c; t/T/f/F accepted since 2022, about v5.19): decided by the first character,
 * 'y' 'Y' 't' 'T' '1' -> true, 'n' 'N' 'f' 'F' '0' -> false, "on"/"of" (any case) -> true/false.
 * undefined where the kernel returns -EINVAL.
 */
export function kstrtobool(s: string): boolean | undefined {
  switch (s[0]) {
    case 'y':
    case 'Y':
    case 't':
    case 'T':
    case '1':
      return true;
    case 'n':
    case 'N':
    case 'f':
    case 'F':
    case '0':
      return false;
    case 'o':
    case 'O':
      switch (s[1]) {
        case 'n':
        case 'N':
          return true;
        case 'f':
        case 'F':
          return false;
      }
      return undefined;
    default:
      return undefined;
  }
}

/** iscntrl() of the kernel's ctype table for one character (undefined = the terminating NUL). */
function iscntrl(c: string | undefined): boolean {
  if (c === undefined) return true;
  const code = c.charCodeAt(0);
  return code < 0x20 || code === 0x7f || (code >= 0x80 && code < 0xa0);
}

/** What pci_p2pdma_enable_store() returns through its return value and out parameters. */
export interface P2pdmaEnableStoreResult {
  /** 0 or -ENODEV */
  ret: number;
  /** *use_p2pdma on success */
  useP2pdma: boolean;
  /** *p2p_dev on success: the provider named, or undefined for "choose automatically" */
  p2pDev: PciDev | undefined;
}

/**
 * pci_p2pdma_enable_store(page, &p2p_dev, &use_p2pdma) (drivers/pci/p2pdma.c, v4.20-v6.18,
 * reference §2.3), the parser of nvmet's configfs "p2pmem" attribute:
 * - the full name of a PCI device ("0000:01:00.0", a trailing newline allowed) selects that
 *   provider if it has published p2pmem; otherwise pci_err "PCI device has no peer-to-peer
 *   memory: <page>" and -ENODEV;
 * - a '0' or '1' followed by another printable character is rejected (so that "0000:01:00.1" of
 *   a missing device is not read as false); otherwise any kstrtobool() string enables (automatic
 *   provider choice) or disables P2P;
 * - anything else: pr_err "pci-p2pdma: No such PCI device: <page up to the first newline>" and
 *   -ENODEV (the prefix is p2pdma.c's pr_fmt).
 */
export function pciP2pdmaEnableStore(
  p2p: P2pdmaDevices,
  page: string,
  log?: KernelLog,
): P2pdmaEnableStoreResult {
  const dev = p2p.topology.devices.find((d) => sysfsStreq(d.bdf, page));
  if (dev) {
    if (!p2p.hasP2pmem(dev)) {
      log?.err(dev, `PCI device has no peer-to-peer memory: ${page}`);
      return { ret: -ENODEV, useP2pdma: false, p2pDev: undefined };
    }
    return { ret: 0, useP2pdma: true, p2pDev: dev };
  }
  if ((page[0] === '0' || page[0] === '1') && !iscntrl(page[1])) {
    // A lone '0' or '1' must be exactly one character: fall through to the error.
  } else {
    const b = kstrtobool(page);
    if (b !== undefined) return { ret: 0, useP2pdma: b, p2pDev: undefined };
  }
  const nl = page.indexOf('\n');
  log?.err(undefined, `pci-p2pdma: No such PCI device: ${nl < 0 ? page : page.slice(0, nl)}`);
  return { ret: -ENODEV, useP2pdma: false, p2pDev: undefined };
}

/**
 * pci_p2pdma_enable_show(page, p2p_dev, use_p2pdma) (drivers/pci/p2pdma.c, v4.20-v6.18):
 * "0\n" when disabled, "1\n" when enabled with automatic choice, else the provider's
 * pci_name() and a newline.
 */
export function pciP2pdmaEnableShow(p2pDev: PciDev | undefined, useP2pdma: boolean): string {
  if (!useP2pdma) return '0\n';
  if (!p2pDev) return '1\n';
  return `${p2pDev.bdf}\n`;
}
