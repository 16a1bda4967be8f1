/**
 * Firmware-like assignment of BAR and bridge-window addresses (what the BIOS, or the kernel's
 * pci_assign_unassigned_resources() with pbus_size_mem() and __pci_bus_assign_resources(), leaves
 * in the config space before drivers bind).
 *
 * The rules, which docs/topology-format.md repeats for users:
 * - A BAR's size is a power of two of at least 16 bytes, and the BAR is naturally aligned.
 * - Every host bridge decodes a 32-bit non-prefetchable window below 4 GiB and a 64-bit
 *   prefetchable window above 4 GiB (defaults below; the host bridge's `windows` replace them).
 * - Prefetchable BARs go in prefetchable windows when every level above them has one; otherwise
 *   (as the kernel does) in the non-prefetchable window. Non-prefetchable BARs always go in the
 *   non-prefetchable window, which a PCI bridge can only forward below 4 GiB.
 * - A bridge forwards one non-prefetchable and one prefetchable window, 1 MiB aligned and a whole
 *   number of MiB, containing everything below it; a bridge's own BARs sit in its parent's window.
 * - Fixed `address`es and fixed bridge `windows` are honoured and checked; the rest is packed in
 *   each window, largest first, at the lowest address that fits (deterministic).
 *
 * Errors are SpecErrors with the path of the offending value, so the loader can point at it.
 */
import { SpecError, type SpecPath } from '../input-error';
import type { HostBridge, PciBar, PciDev, PciWindow } from './device';
import type { PciTopology } from './topology';
import type { WindowSpec } from './topology-schema';
import { formatSize, hexAddr } from './units';

const MiB = 1024 * 1024;
const GiB = 1024 * MiB;
const TiB = 1024 * GiB;
const FOUR_GIB = 4 * GiB;

/** PCI bridge memory windows have 1 MiB granularity (PCI-to-PCI Bridge spec, memory base/limit). */
export const BRIDGE_WINDOW_ALIGN = MiB;

/** Default 32-bit window of host bridge i: DEFAULT_MEM32_BASE + i * DEFAULT_MEM32_SIZE. */
export const DEFAULT_MEM32_BASE = 0xc000_0000;
export const DEFAULT_MEM32_SIZE = 128 * MiB;
/** Only this many host bridges get a default 32-bit window (they fill 0xc0000000..0xffffffff). */
export const DEFAULT_MEM32_COUNT = 8;
/** Default 64-bit prefetchable window of host bridge i: (i + 1) TiB, 1 TiB long. */
export const DEFAULT_PREF64_BASE = TiB;
export const DEFAULT_PREF64_SIZE = TiB;

/** The default windows of the host bridge with index `i` (file order) that has no `windows`. */
export function defaultHostBridgeWindows(i: number): PciWindow[] {
  const w: PciWindow[] = [];
  if (i < DEFAULT_MEM32_COUNT) {
    w.push({
      base: DEFAULT_MEM32_BASE + i * DEFAULT_MEM32_SIZE,
      size: DEFAULT_MEM32_SIZE,
      prefetchable: false,
    });
  }
  w.push({
    base: DEFAULT_PREF64_BASE + i * DEFAULT_PREF64_SIZE,
    size: DEFAULT_PREF64_SIZE,
    prefetchable: true,
  });
  return w;
}

type Kind = 'mem' | 'pref';

/** Something to place in a window: a BAR, or the window a bridge below forwards. */
interface Block {
  size: number;
  align: number;
  /** Set when the address is fixed (a BAR `address`, a fixed bridge window, or one anchored by them). */
  fixedBase?: number;
  /** Path of the value to blame when it does not fit. */
  path: SpecPath;
  what: string;
  /** Largest BAR inside (itself for a BAR), to blame when it alone is larger than the window. */
  largest: { size: number; path: SpecPath; what: string };
  /** Assigns the absolute base (no-op for fixed blocks, whose contents are already placed). */
  place(base: number): void;
}

interface Region {
  base: number;
  size: number;
  /** "the prefetchable window of 0000:00:01.0 [0x...-0x...]" */
  what: string;
}

function isPow2(n: number): boolean {
  return n > 0 && Number.isInteger(Math.log2(n)) && 2 ** Math.log2(n) === n;
}
function alignUp(n: number, a: number): number {
  return Math.ceil(n / a) * a;
}
function alignDown(n: number, a: number): number {
  return Math.floor(n / a) * a;
}
function range(base: number, size: number): string {
  return `[${hexAddr(base)}-${hexAddr(base + size - 1)}]`;
}
function kindName(k: Kind): string {
  return k === 'pref' ? 'prefetchable' : 'non-prefetchable';
}
function barWhat(dev: PciDev, bar: number): string {
  return `BAR ${bar} of ${dev.label}`;
}

/**
 * Places blocks in regions (bounded windows), or, with `unbounded`, from `unbounded.start` on
 * without an end (to size a bridge window). Fixed blocks are checked (inside a region, no
 * overlap); the others are packed largest first at the lowest aligned address that fits.
 * Returns the end of the highest block.
 */
function layout(
  blocks: Block[],
  regions: Region[] | { start: number },
  windowWhat: string,
): number {
  const bounded = Array.isArray(regions);
  const occupied: { base: number; end: number; block: Block }[] = [];
  let highest = bounded ? 0 : regions.start;

  const fixed = blocks.filter((b) => b.fixedBase !== undefined);
  fixed.sort((a, b) => a.fixedBase! - b.fixedBase!);
  for (const b of fixed) {
    const base = b.fixedBase!;
    if (bounded && !regions.some((r) => base >= r.base && base + b.size <= r.base + r.size)) {
      throw new SpecError(
        `${b.what} at ${range(base, b.size)} is outside ${regions.map((r) => `${r.what} ${range(r.base, r.size)}`).join(' and ')}`,
        b.path,
      );
    }
    const prev = occupied[occupied.length - 1];
    if (prev && base < prev.end) {
      throw new SpecError(
        `${b.what} at ${range(base, b.size)} overlaps ${prev.block.what} at ${range(prev.base, prev.block.size)}`,
        b.path,
      );
    }
    occupied.push({ base, end: base + b.size, block: b });
    highest = Math.max(highest, base + b.size);
  }

  const loose = blocks.filter((b) => b.fixedBase === undefined);
  // Largest first, then most aligned; the sort is stable, so file order breaks ties.
  loose.sort((a, b) => b.size - a.size || b.align - a.align);
  const spans = bounded ? regions : [{ base: regions.start, size: Infinity, what: windowWhat }];
  for (const b of loose) {
    let placedAt: number | undefined;
    for (const r of spans) {
      const end = r.base + r.size;
      let cand = alignUp(r.base, b.align);
      for (const o of occupied) {
        if (o.end <= cand) continue;
        if (cand + b.size <= o.base) break;
        cand = Math.max(cand, alignUp(o.end, b.align));
      }
      if (cand + b.size <= end) {
        placedAt = cand;
        break;
      }
    }
    if (placedAt === undefined) {
      const where = spans.map((r) => `${r.what} ${range(r.base, r.size)}`).join(' or ');
      const maxRegion = Math.max(...spans.map((r) => r.size));
      if (b.largest.size > maxRegion) {
        throw new SpecError(
          `${b.largest.what} is ${formatSize(b.largest.size)}, larger than ${where} (${formatSize(maxRegion)})`,
          b.largest.path,
        );
      }
      throw new SpecError(
        `${b.what} needs ${formatSize(b.size)} (aligned to ${formatSize(b.align)}), which does not fit in the remaining space of ${where}`,
        b.path,
      );
    }
    b.place(placedAt);
    occupied.push({ base: placedAt, end: placedAt + b.size, block: b });
    occupied.sort((x, y) => x.base - y.base);
    highest = Math.max(highest, placedAt + b.size);
  }
  return highest;
}

interface BarPlan {
  dev: PciDev;
  bar: PciBar;
  kind: Kind;
  path: SpecPath;
  fixed: boolean;
}

/**
 * Turns every function's `source.bars` into `dev.bars` and assigns the BAR, bridge-window and
 * host-bridge-window addresses. Called by buildTopology() once the tree is built.
 */
export function assignResources(topo: PciTopology): void {
  const barsOf = new Map<PciDev, BarPlan[]>();
  for (const dev of topo.devices) barsOf.set(dev, collectBars(dev));

  // Host-bridge windows: the spec's, else the defaults; they must not overlap across host bridges.
  const allHbWindows: { w: PciWindow; hb: HostBridge; path: SpecPath }[] = [];
  for (const hb of topo.hostBridges) {
    const specWindows = hb.source?.windows;
    const wpath: SpecPath = specWindows ? [...hb.specPath, 'windows'] : hb.specPath;
    hb.windows = specWindows
      ? specWindows.map((w) => ({
          base: w.base,
          size: w.size,
          prefetchable: w.prefetchable ?? false,
        }))
      : defaultHostBridgeWindows(hb.index);
    hb.windows.forEach((w, i) => {
      const p = specWindows ? [...wpath, i] : wpath;
      if (w.size === 0) throw new SpecError(`window size must be more than 0`, [...p, 'size']);
      for (const o of allHbWindows) {
        if (w.base < o.w.base + o.w.size && o.w.base < w.base + w.size) {
          throw new SpecError(
            `window ${range(w.base, w.size)} of host bridge ${hb.name} overlaps window ${range(o.w.base, o.w.size)} of host bridge ${o.hb.name}` +
              (specWindows
                ? ''
                : ' (this host bridge has the default windows; give it explicit `windows`)'),
            p,
          );
        }
      }
      allHbWindows.push({ w, hb, path: p });
    });
  }

  for (const hb of topo.hostBridges) {
    const hbPref = hb.windows.some((w) => w.prefetchable);
    // Checks fixed bridge windows and decides, per bridge, whether prefetchable BARs below it can
    // use prefetchable windows all the way up.
    const prefOk = new Map<PciDev, boolean>();
    const fixedWin = new Map<PciDev, Partial<Record<Kind, PciWindow>>>();
    const walk = (dev: PciDev, parentPref: boolean): void => {
      let pref = parentPref;
      const spec = dev.source?.windows;
      if (spec) {
        const fw = checkBridgeWindows(dev, spec, parentPref);
        fixedWin.set(dev, fw);
        pref = parentPref && fw.pref !== undefined;
      }
      prefOk.set(dev, pref);
      for (const c of dev.children) walk(c, pref);
    };
    for (const d of hb.rootDevices) walk(d, hbPref);

    for (const kind of ['mem', 'pref'] as const) {
      const windowsOfKind = hb.windows.filter((w) => (kind === 'pref') === w.prefetchable);
      // Blocks placed in the window of `kind` that `parentPref` levels up allow; returns this
      // device's BARs of the kind plus, for a bridge, its window of the kind.
      const blocksOf = (dev: PciDev, upPref: boolean): Block[] => {
        const out: Block[] = [];
        for (const p of barsOf.get(dev)!) {
          const k: Kind = p.kind === 'pref' && upPref ? 'pref' : 'mem';
          if (k !== kind) continue;
          out.push(barBlock(p));
        }
        if (dev.isBridge) {
          const wb = windowBlock(dev, kind);
          if (wb) out.push(wb);
        }
        return out;
      };
      const windowBlock = (bridge: PciDev, k: Kind): Block | undefined => {
        const inner = prefOk.get(bridge)!;
        const fixed = fixedWin.get(bridge);
        const fixedW = fixed?.[k];
        const children: Block[] = bridge.children.flatMap((c) => blocksOf(c, inner));
        const what = `the ${kindName(k)} window of ${bridge.label}`;
        const wpath: SpecPath = [...bridge.specPath, 'windows'];
        if (fixed) {
          if (!fixedW) {
            if (children.length === 0) return undefined;
            const b = children[0];
            throw new SpecError(
              `${b.what} needs a ${kindName(k)} window, but the fixed windows of ${bridge.label} have none`,
              b.path,
            );
          }
          const idx = bridge.source!.windows!.findIndex(
            (w) => (w.prefetchable ?? false) === (k === 'pref'),
          );
          layout(children, [{ base: fixedW.base, size: fixedW.size, what }], what);
          bridge.windows.push(fixedW);
          return {
            size: fixedW.size,
            align: 1,
            fixedBase: fixedW.base,
            path: [...wpath, idx],
            what,
            largest: { size: fixedW.size, path: [...wpath, idx], what },
            place: () => {},
          };
        }
        if (children.length === 0) return undefined;
        const largest = children.reduce(
          (m, c) => (c.largest.size > m.size ? c.largest : m),
          children[0].largest,
        );
        const anchored = children.filter((c) => c.fixedBase !== undefined);
        if (anchored.length > 0) {
          // Fixed addresses below decide where the window is: it spans them (1 MiB aligned) and
          // grows upwards for whatever else must fit.
          const lo = alignDown(Math.min(...anchored.map((c) => c.fixedBase!)), BRIDGE_WINDOW_ALIGN);
          const hi = alignUp(layout(children, { start: lo }, what), BRIDGE_WINDOW_ALIGN);
          const w: PciWindow = { base: lo, size: hi - lo, prefetchable: k === 'pref' };
          bridge.windows.push(w);
          // Blame the fixed address that placed the window if the window is out of place.
          const anchor = anchored.reduce((m, c) => (c.fixedBase! < m.fixedBase! ? c : m));
          return {
            size: w.size,
            align: 1,
            fixedBase: lo,
            path: anchor.path,
            what: `${what} (placed by ${anchor.what} at ${hexAddr(anchor.fixedBase!)})`,
            largest,
            place: () => {},
          };
        }
        // Sized relative to 0, placed (with everything inside) once the parent has placed it.
        const placements: { block: Block; off: number }[] = [];
        const rel = children.map((c) => ({
          ...c,
          place: (off: number) => placements.push({ block: c, off }),
        }));
        const size = alignUp(layout(rel, { start: 0 }, what), BRIDGE_WINDOW_ALIGN);
        const align = Math.max(BRIDGE_WINDOW_ALIGN, ...children.map((c) => c.align));
        return {
          size,
          align,
          path: bridge.specPath,
          what,
          largest,
          place: (base: number) => {
            bridge.windows.push({ base, size, prefetchable: k === 'pref' });
            for (const p of placements) p.block.place(base + p.off);
          },
        };
      };

      const top = hb.rootDevices.flatMap((d) => blocksOf(d, hbPref));
      if (top.length === 0) continue;
      if (windowsOfKind.length === 0) {
        const b = top[0];
        throw new SpecError(
          `${b.what} needs a ${kindName(kind)} window, but host bridge ${hb.name} has none` +
            (hb.source?.windows
              ? ''
              : ` (only the first ${DEFAULT_MEM32_COUNT} host bridges get a default 32-bit window; give it \`windows\`)`),
          b.path,
        );
      }
      const regions = windowsOfKind.map((w) => ({
        base: w.base,
        size: w.size,
        what: `the ${kindName(kind)} window of host bridge ${hb.name}`,
      }));
      layout(top, regions, regions[0].what);
    }
  }

  for (const dev of topo.devices) {
    dev.bars = barsOf
      .get(dev)!
      .map((p) => p.bar)
      .sort((a, b) => a.bar - b.bar);
    dev.windows.sort((a, b) => Number(a.prefetchable) - Number(b.prefetchable));
    checkCmb(dev);
  }
}

function collectBars(dev: PciDev): BarPlan[] {
  const out: BarPlan[] = [];
  const seen = new Map<number, number>();
  (dev.source?.bars ?? []).forEach((b, i) => {
    const path: SpecPath = [...dev.specPath, 'bars', i];
    const prior = seen.get(b.bar);
    if (prior !== undefined) {
      throw new SpecError(
        `duplicate BAR ${b.bar} on ${dev.label}: already defined as bars[${prior}]`,
        [...path, 'bar'],
      );
    }
    seen.set(b.bar, i);
    if (!isPow2(b.size) || b.size < 16) {
      throw new SpecError(
        `BAR ${b.bar} size ${b.size} (${formatSize(b.size)}) is not a power of two of at least 16 bytes, as PCI BAR sizes are`,
        [...path, 'size'],
      );
    }
    if (b.address !== undefined && b.address % b.size !== 0) {
      throw new SpecError(
        `BAR ${b.bar} address ${hexAddr(b.address)} is not aligned to its size ${formatSize(b.size)}: BARs are naturally aligned`,
        [...path, 'address'],
      );
    }
    const bar: PciBar = {
      bar: b.bar,
      size: b.size,
      prefetchable: b.prefetchable ?? false,
      cpuAddress: b.address ?? -1,
      busAddress: b.address === undefined ? -1 : b.address + dev.hostBridge.busOffset,
    };
    out.push({
      dev,
      bar,
      kind: bar.prefetchable ? 'pref' : 'mem',
      path,
      fixed: b.address !== undefined,
    });
  });
  return out;
}

function barBlock(p: BarPlan): Block {
  const what = barWhat(p.dev, p.bar.bar);
  const path: SpecPath = p.fixed ? [...p.path, 'address'] : [...p.path, 'size'];
  return {
    size: p.bar.size,
    align: p.bar.size,
    fixedBase: p.fixed ? p.bar.cpuAddress : undefined,
    path,
    what,
    largest: { size: p.bar.size, path: [...p.path, 'size'], what },
    place: (base: number) => {
      p.bar.cpuAddress = base;
      p.bar.busAddress = base + p.dev.hostBridge.busOffset;
    },
  };
}

/** Checks a bridge's fixed `windows`: one per kind, 1 MiB granular, non-prefetchable below 4 GiB. */
function checkBridgeWindows(
  dev: PciDev,
  spec: WindowSpec[],
  parentPref: boolean,
): Partial<Record<Kind, PciWindow>> {
  const out: Partial<Record<Kind, PciWindow>> = {};
  spec.forEach((w, i) => {
    const path: SpecPath = [...dev.specPath, 'windows', i];
    const k: Kind = w.prefetchable ? 'pref' : 'mem';
    if (out[k]) {
      throw new SpecError(
        `${dev.label} already has a ${kindName(k)} window: a PCI bridge forwards one of each`,
        path,
      );
    }
    if (w.base % BRIDGE_WINDOW_ALIGN !== 0) {
      throw new SpecError(
        `bridge window base ${hexAddr(w.base)} is not 1 MiB aligned, as PCI bridge memory windows are`,
        [...path, 'base'],
      );
    }
    if (w.size === 0 || w.size % BRIDGE_WINDOW_ALIGN !== 0) {
      throw new SpecError(`bridge window size ${w.size} is not a whole, non-zero number of MiB`, [
        ...path,
        'size',
      ]);
    }
    if (k === 'mem' && w.base + w.size > FOUR_GIB) {
      throw new SpecError(
        `non-prefetchable bridge window ${range(w.base, w.size)} must end below 4 GiB: a PCI bridge's memory window is 32-bit`,
        [...path, 'base'],
      );
    }
    if (k === 'pref' && !parentPref) {
      throw new SpecError(
        `${dev.label} has a fixed prefetchable window, but the levels above it have no prefetchable window to hold it`,
        path,
      );
    }
    out[k] = { base: w.base, size: w.size, prefetchable: k === 'pref' };
  });
  return out;
}

/** The NVMe CMB must lie inside one of the device's BARs (CMBLOC.BIR, CMBLOC.OFST, CMBSZ). */
function checkCmb(dev: PciDev): void {
  const cmb = dev.props.cmb;
  if (!cmb) return;
  const path: SpecPath = [...dev.specPath, 'cmb'];
  const bar = dev.bar(cmb.bar);
  if (!bar) {
    const have = dev.bars.map((b) => b.bar).join(', ');
    throw new SpecError(
      `CMB is in BAR ${cmb.bar}, but ${dev.label} has ${have ? `only BAR ${have}` : 'no BARs'}`,
      [...path, 'bar'],
    );
  }
  if (cmb.offset + cmb.size > bar.size) {
    throw new SpecError(
      `CMB outside its BAR: offset ${formatSize(cmb.offset)} + size ${formatSize(cmb.size)} exceeds the ${formatSize(bar.size)} of BAR ${cmb.bar}`,
      [...path, cmb.offset + cmb.size > bar.size && cmb.offset < bar.size ? 'size' : 'offset'],
    );
  }
}
