/**
 * Importer for a sysfs PCI device directory: /sys/bus/pci/devices (entries `DDDD:BB:DD.F`, symlinks
 * into /sys/devices/pciDDDD:BB/...), or a copy of it: a `cp -r` of /sys/devices (or of one
 * pciDDDD:BB directory) that keeps the directory nesting, or a dereferenced flat copy (parents are
 * then found from the bridges' secondary bus numbers in `config`).
 *
 * Per function: `class`, `vendor`, `device`, `resource` (BARs 0-5; bridge windows), `numa_node`,
 * `dma_mask_bits`, and `config` when readable: header type and secondary bus, the PCI Express
 * capability (port type, link status, MPS/MRRS) and, in a 4096-byte config, the ACS extended
 * capability.
 */
import { existsSync, lstatSync, readdirSync, readFileSync, readlinkSync, realpathSync } from 'fs';
import { join, resolve } from 'path';
import { InputError } from '../../input-error';
import { acsNames } from '../acs';
import { parseBdf } from '../bdf';
import {
  assembleSpec,
  bdfKey,
  classFromClassCode,
  expressTypeFromPortType,
  guessCpu,
  LINK_WIDTHS,
  type BarIn,
  type ImportCpu,
  type ImportOptions,
  type ImportResult,
  type RawFunction,
  type WindowIn,
} from './classify';

const BDF_NAME = /^[0-9a-fA-F]{4}:[0-9a-fA-F]{2}:[0-9a-fA-F]{2}\.[0-7]$/;
const ROOT_NAME = /^pci([0-9a-fA-F]{4}):([0-9a-fA-F]{2})$/;

const IORESOURCE_MEM = 0x0000_0200;
const IORESOURCE_PREFETCH = 0x0000_2000;
const PCI_CAP_ID_EXP = 0x10;
const PCI_EXT_CAP_ID_ACS = 0x000d;

interface Found {
  name: string;
  dir: string;
  /** parent BDF, null for a root bus, undefined when the layout does not say */
  parent?: string | null;
}

/** Reads a sysfs PCI device directory (see the module comment) into a topology spec. */
export function importSysfs(dir: string, opts: ImportOptions = {}): ImportResult {
  const notes: string[] = [];
  if (!existsSync(dir)) throw new InputError('no such directory', { file: dir });
  const found = new Map<string, Found>();
  const add = (f: Found): void => {
    const prior = found.get(f.name);
    // a nested copy lists a function twice (flat and below its bridge): keep the one with a parent
    if (!prior || (prior.parent === undefined && f.parent !== undefined)) found.set(f.name, f);
  };
  const base = resolve(dir);
  const rootOf = ROOT_NAME.exec(base.split('/').pop() ?? '');
  scan(base, rootOf ? null : undefined, add, 0);
  if (found.size === 0) {
    throw new InputError('no PCI functions (entries named DDDD:BB:DD.F) in this directory', {
      file: dir,
    });
  }

  const fns: RawFunction[] = [];
  let noConfig = 0;
  let shortConfig = 0;
  for (const f of [...found.values()].sort((a, b) => a.name.localeCompare(b.name))) {
    const raw = readFunction(f, dir);
    if (raw.configLen === 0) noConfig++;
    else if (raw.configLen < 256) shortConfig++;
    fns.push(raw.fn);
  }
  // parents of functions the layout did not place: the bridge whose secondary bus they sit on
  const unplaced = fns.filter((f) => f.parent === undefined).length;
  if (unplaced > 0) {
    notes.push(
      `${unplaced} functions were placed by bus number (the directory has no parent links for them).`,
    );
  }
  if (noConfig > 0)
    notes.push(
      `${noConfig} functions have no readable \`config\`: kinds inferred from the tree, no link or ACS data.`,
    );
  if (shortConfig > 0) {
    notes.push(
      `${shortConfig} functions expose only the first ${'64'} bytes of \`config\` (read as non-root?): no Express capability, link or ACS data for them.`,
    );
  }

  let cpu: ImportCpu | undefined = opts.cpu;
  if (!cpu && isLiveSysfs(base)) cpu = cpuFromProc(notes);
  const secondaries = new Set(
    fns.filter((f) => f.isBridge && f.secondary).map((f) => `${f.domain}:${f.secondary}`),
  );
  const hints = fns
    .filter(
      (f) =>
        f.devfn === 0 &&
        (f.parent === null || (f.parent === undefined && !secondaries.has(`${f.domain}:${f.bus}`))),
    )
    .sort((a, b) => a.domain - b.domain || a.bus - b.bus)
    .map((f) => ({ vendor: f.vendor, device: f.device, bdf: bdfKey(f) }));
  cpu = guessCpu(hints, notes, cpu);

  const { spec, descriptions } = assembleSpec(fns, {
    file: dir,
    notes,
    cpu,
    description: `Imported from sysfs ${dir}`,
  });
  return { spec, notes, descriptions };
}

function scan(
  dir: string,
  parent: string | null | undefined,
  add: (f: Found) => void,
  depth: number,
): void {
  if (depth > 32) return;
  let entries: string[];
  try {
    entries = readdirSync(dir);
  } catch {
    return;
  }
  for (const e of entries) {
    const full = join(dir, e);
    let st;
    try {
      st = lstatSync(full);
    } catch {
      continue;
    }
    const root = ROOT_NAME.exec(e);
    if (BDF_NAME.test(e)) {
      if (st.isSymbolicLink()) {
        // /sys/bus/pci/devices/X -> ../../../devices/pci0000:00/0000:00:01.1/X
        const target = readlinkSync(full)
          .split('/')
          .filter((c) => c !== '' && c !== '.' && c !== '..');
        const i = target.lastIndexOf(e);
        const before = i > 0 ? target[i - 1] : undefined;
        const p =
          before === undefined
            ? undefined
            : BDF_NAME.test(before)
              ? before.toLowerCase()
              : ROOT_NAME.test(before)
                ? null
                : undefined;
        let real = full;
        try {
          real = realpathSync(full);
        } catch {
          // a dangling link (cp -r of /sys/bus/pci/devices): attributes are unreadable; reported below
        }
        add({ name: e.toLowerCase(), dir: real, parent: p });
      } else if (st.isDirectory()) {
        add({ name: e.toLowerCase(), dir: full, parent });
        scan(full, e.toLowerCase(), add, depth + 1);
      }
    } else if (root && st.isDirectory()) {
      scan(full, null, add, depth + 1);
    } else if (depth === 0 && e === 'devices' && st.isDirectory()) {
      scan(full, undefined, add, depth + 1); // given /sys/bus/pci
    }
  }
}

function readText(dir: string, name: string): string | undefined {
  try {
    return readFileSync(join(dir, name), 'utf8').trim();
  } catch {
    return undefined;
  }
}

function readFunction(f: Found, top: string): { fn: RawFunction; configLen: number } {
  const a = parseBdf(f.name)!;
  const where = join(top, f.name);
  const classText = readText(f.dir, 'class');
  if (classText === undefined) {
    throw new InputError(
      `cannot read ${f.name}/class (a dangling symlink? copy sysfs with \`cp -rL\` or keep /sys/devices nesting)`,
      {
        file: where,
      },
    );
  }
  const classCode = parseHex(classText, join(where, 'class'));
  const fn: RawFunction = {
    domain: a.domain,
    bus: a.bus,
    devfn: a.devfn,
    isBridge: classCode >> 8 === 0x0604 || classCode >> 8 === 0x0609,
    parent: f.parent,
    classKnown: true,
    hostBridgeClass: classCode >> 8 === 0x0600,
    deviceClass: classFromClassCode(classCode),
  };
  const v = readText(f.dir, 'vendor');
  const d = readText(f.dir, 'device');
  if (v !== undefined) fn.vendor = parseHex(v, join(where, 'vendor'));
  if (d !== undefined) fn.device = parseHex(d, join(where, 'device'));
  const numa = readText(f.dir, 'numa_node');
  if (numa !== undefined && /^-?\d+$/.test(numa) && Number(numa) >= 0) fn.numaNode = Number(numa);
  const dma = readText(f.dir, 'dma_mask_bits');
  if (dma !== undefined && /^\d+$/.test(dma)) fn.dmaMaskBits = Number(dma);

  let config: Buffer | undefined;
  try {
    config = readFileSync(join(f.dir, 'config'));
  } catch {
    config = undefined;
  }
  const configLen = config?.length ?? 0;
  if (config && config.length >= 0x1b) {
    const headerType = config[0x0e] & 0x7f;
    if (headerType === 1) {
      fn.isBridge = true;
      fn.secondary = config[0x19];
    }
    parseCaps(config, fn);
  }

  const res = readText(f.dir, 'resource');
  if (res !== undefined) {
    const bars: BarIn[] = [];
    const windows: WindowIn[] = [];
    res.split('\n').forEach((line, i) => {
      const m = /^0x([0-9a-fA-F]+)\s+0x([0-9a-fA-F]+)\s+0x([0-9a-fA-F]+)$/.exec(line.trim());
      if (!m)
        throw new InputError(`malformed resource line "${line}"`, {
          file: join(where, 'resource'),
          line: i + 1,
          column: 1,
        });
      const start = BigInt(`0x${m[1]}`);
      const end = BigInt(`0x${m[2]}`);
      const flags = Number(BigInt(`0x${m[3]}`) & 0xffffffffn);
      if (!(flags & IORESOURCE_MEM) || end === 0n) return;
      const size = start === 0n ? end + 1n : end - start + 1n;
      if (
        size <= 0n ||
        size > BigInt(Number.MAX_SAFE_INTEGER) ||
        end > BigInt(Number.MAX_SAFE_INTEGER)
      )
        return;
      const pref = (flags & IORESOURCE_PREFETCH) !== 0;
      if (i < 6) {
        const bar: BarIn = { bar: i, size: Number(size), prefetchable: pref };
        if (start !== 0n) bar.address = Number(start);
        bars.push(bar);
      } else if (i >= 7 && fn.isBridge && start !== 0n) {
        windows.push({ base: Number(start), size: Number(size), prefetchable: pref });
      }
    });
    if (bars.length > 0) fn.bars = bars;
    if (windows.length > 0) fn.windows = windows;
  }
  return { fn, configLen };
}

function parseHex(text: string, file: string): number {
  if (!/^0x[0-9a-fA-F]+$/.test(text))
    throw new InputError(`expected a hex number, got "${text}"`, { file, line: 1, column: 1 });
  return parseInt(text, 16);
}

/** Walks the capability list (and the extended list when 4096 bytes are readable). */
function parseCaps(c: Buffer, fn: RawFunction): void {
  const status = c.readUInt16LE(0x06);
  if (!(status & 0x10) || c.length < 0x40) return;
  let ptr = c[0x34] & 0xfc;
  for (let n = 0; ptr >= 0x40 && ptr + 2 <= c.length && n < 48; n++) {
    const id = c[ptr];
    if (id === PCI_CAP_ID_EXP && ptr + 0x14 <= c.length) {
      const flags = c.readUInt16LE(ptr + 2);
      const t = expressTypeFromPortType((flags >> 4) & 0xf);
      if (t) fn.expressType = t;
      const devctl = c.readUInt16LE(ptr + 8);
      fn.mps = 128 << ((devctl >> 5) & 7);
      fn.mrrs = 128 << ((devctl >> 12) & 7);
      if (fn.mps > 4096) delete fn.mps;
      if (fn.mrrs > 4096) delete fn.mrrs;
      const lnksta = c.readUInt16LE(ptr + 0x12);
      const gen = lnksta & 0xf;
      const width = (lnksta >> 4) & 0x3f;
      if (gen >= 1 && gen <= 6 && LINK_WIDTHS.includes(width)) fn.link = { gen, width };
    }
    ptr = c[ptr + 1] & 0xfc;
  }
  if (c.length < 0x1000) return;
  let ext = 0x100;
  for (let n = 0; ext >= 0x100 && ext + 8 <= c.length && n < 512; n++) {
    const hdr = c.readUInt32LE(ext);
    if (hdr === 0 || hdr === 0xffffffff) break;
    if ((hdr & 0xffff) === PCI_EXT_CAP_ID_ACS) {
      fn.acs = { cap: acsNames(c.readUInt16LE(ext + 4)), ctrl: acsNames(c.readUInt16LE(ext + 6)) };
      break;
    }
    ext = (hdr >>> 20) & 0xffc;
  }
}

function isLiveSysfs(dir: string): boolean {
  return dir === '/sys' || dir.startsWith('/sys/');
}

/** CPU of the machine running the importer, for imports of the live /sys. */
function cpuFromProc(notes: string[]): ImportCpu | undefined {
  let text: string;
  try {
    text = readFileSync('/proc/cpuinfo', 'utf8');
  } catch {
    return undefined;
  }
  const vendor = /^vendor_id\s*:\s*(\S+)/m.exec(text)?.[1];
  const family = /^cpu family\s*:\s*(\d+)/m.exec(text)?.[1];
  if (vendor === 'AuthenticAMD' || vendor === 'HygonGenuine') {
    notes.push(`CPU read from /proc/cpuinfo: AMD family 0x${Number(family ?? 0).toString(16)}.`);
    return { vendor: 'AMD', family: Number(family ?? 0) };
  }
  if (vendor === 'GenuineIntel') {
    notes.push(`CPU read from /proc/cpuinfo: Intel family ${family ?? 6}.`);
    return { vendor: 'Intel', family: Number(family ?? 6) };
  }
  if (/^CPU implementer/m.test(text)) {
    notes.push('CPU read from /proc/cpuinfo: ARM.');
    return { vendor: 'ARM', family: 0 };
  }
  return undefined;
}
