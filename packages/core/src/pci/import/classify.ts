/**
 * Shared helpers of the lspci and sysfs importers: the flat list of functions an importer reads,
 * and the assembly of that list into a topology spec (the plain object a user would write in YAML),
 * with the device kinds, classes, names and CPU guessed where the input does not say.
 *
 * Conventions of the imported spec:
 * - one host bridge per root bus, named as sysfs names it: `pci0000:00`;
 * - endpoints of class nvme, gpu, nic and accelerator are named `nvme0`, `gpu0`, `nic0`, `accel0`
 *   ... in enumeration order (host bridges in input order, then depth first by devfn); the model
 *   name from the input goes to `descriptions` (the YAML exporter prints it as a comment);
 * - BAR addresses and bridge windows are copied as read (CPU physical addresses), never invented.
 */
import { InputError } from '../../input-error';
import { acsNames, ACS_FLAG_BITS, ACS_LSPCI_NAMES, ACS_FLAG_NAMES, type AcsFlagName } from '../acs';
import { formatBdf, formatBus } from '../bdf';
import type {
  DeviceClass,
  DeviceKind,
  DeviceSpecInput,
  TopologySpecInput,
} from '../topology-schema';

export interface ImportCpu {
  vendor: 'AMD' | 'Intel' | 'ARM' | 'other';
  family: number;
}

export interface ImportOptions {
  /** The CPU of the machine; guessed from the root complex (and reported in notes) when absent. */
  cpu?: ImportCpu;
}

export interface ImportResult {
  spec: TopologySpecInput;
  /** What was guessed or left out, one sentence each, for the user to check. */
  notes: string[];
  /** Model text of each function as the input names it, by BDF ("0000:01:00.0"). */
  descriptions?: Record<string, string>;
}

/** PCIe device/port type as the Express capability reports it (PCI_EXP_TYPE_*). */
export type ExpressType =
  | 'endpoint'
  | 'legacy-endpoint'
  | 'root-port'
  | 'upstream'
  | 'downstream'
  | 'pcie-to-pci'
  | 'pci-to-pcie'
  | 'rc-endpoint'
  | 'rc-event-collector';

/** PCI_EXP_FLAGS_TYPE values (bits 7:4 of the PCIe Capabilities register). */
export function expressTypeFromPortType(t: number): ExpressType | undefined {
  switch (t) {
    case 0x0:
      return 'endpoint';
    case 0x1:
      return 'legacy-endpoint';
    case 0x4:
      return 'root-port';
    case 0x5:
      return 'upstream';
    case 0x6:
      return 'downstream';
    case 0x7:
      return 'pcie-to-pci';
    case 0x8:
      return 'pci-to-pcie';
    case 0x9:
      return 'rc-endpoint';
    case 0xa:
      return 'rc-event-collector';
    default:
      return undefined;
  }
}

/** lspci's text after `Express (vN) `: "Root Port (Slot+)", "Legacy Endpoint", ... */
export function expressTypeFromLspci(text: string): ExpressType | undefined {
  const t = text.replace(/\s*\(Slot[+-]\)/, '').trim();
  const table: Record<string, ExpressType> = {
    Endpoint: 'endpoint',
    'Legacy Endpoint': 'legacy-endpoint',
    'Root Port': 'root-port',
    'Upstream Port': 'upstream',
    'Downstream Port': 'downstream',
    'PCI-Express to PCI/PCI-X Bridge': 'pcie-to-pci',
    'PCI/PCI-X to PCI-Express Bridge': 'pci-to-pcie',
    'Root Complex Integrated Endpoint': 'rc-endpoint',
    'Root Complex Event Collector': 'rc-event-collector',
  };
  return table[t];
}

/** LnkSta speed in GT/s -> PCIe generation (2.5 -> 1 ... 64 -> 6). */
export function linkGenFromGts(gts: number): number | undefined {
  const table: Record<string, number> = { '2.5': 1, '5': 2, '8': 3, '16': 4, '32': 5, '64': 6 };
  return table[String(gts)];
}

/** Link widths the schema accepts. */
export const LINK_WIDTHS = [1, 2, 4, 8, 12, 16, 32];

/** lspci class names (the text before the first colon of a -vvv header) -> device class. */
export function classFromClassName(name: string): DeviceClass {
  const n = name.toLowerCase();
  if (n.startsWith('non-volatile memory controller')) return 'nvme';
  if (
    n.startsWith('ethernet controller') ||
    n.startsWith('network controller') ||
    n.startsWith('infiniband controller')
  )
    return 'nic';
  if (
    n.startsWith('vga compatible controller') ||
    n.startsWith('3d controller') ||
    n.startsWith('display controller')
  )
    return 'gpu';
  if (n.startsWith('processing accelerators')) return 'accelerator';
  return 'other';
}

/** PCI class code (24-bit, as sysfs `class`) -> device class. */
export function classFromClassCode(code: number): DeviceClass {
  const base = (code >> 16) & 0xff;
  const sub = (code >> 8) & 0xff;
  if (base === 0x01 && sub === 0x08) return 'nvme';
  if (base === 0x02) return 'nic'; // Ethernet, Token Ring, ..., Infiniband (0x0207)
  if (base === 0x03) return 'gpu'; // VGA, XGA, 3D, other display
  if (base === 0x12) return 'accelerator';
  return 'other';
}

/**
 * A guess of the class from the model name alone (lspci -tv prints no class). Weak: the notes
 * say when it was used.
 */
export function classFromModelName(text: string): DeviceClass {
  if (/audio/i.test(text)) return 'other';
  if (/\bNVMe\b|Non-Volatile/i.test(text)) return 'nvme';
  if (/Ethernet|ConnectX|Network|InfiniBand|BlueField|\bNIC\b/i.test(text)) return 'nic';
  if (/\bVGA\b|Graphics|GeForce|Quadro|Tesla|\bRTX\b|Radeon|\[(?:A|H|B|L)\d+/i.test(text))
    return 'gpu';
  if (/Instinct|Accelerat|Gaudi/i.test(text)) return 'accelerator';
  return 'other';
}

/** A few vendor names as lspci prints them (pci.ids), for inputs without -nn ids. */
const VENDOR_NAMES: [RegExp, number][] = [
  [/^Advanced Micro Devices, Inc\. \[AMD\/ATI\]/, 0x1002],
  [/^Advanced Micro Devices, Inc\. \[AMD\]/, 0x1022],
  [/^Intel Corporation/, 0x8086],
  [/^NVIDIA Corporation/, 0x10de],
  [/^Mellanox Technologies/, 0x15b3],
  [/^Samsung Electronics Co Ltd/, 0x144d],
  [/^Broadcom \/ LSI/, 0x1000],
  [/^ASPEED Technology, Inc\./, 0x1a03],
  [/^Red Hat, Inc\./, 0x1af4],
];

/**
 * Vendor and device id from an lspci model text without -nn: the vendor from a short table of
 * names, the device only when lspci printed "Device xxxx" (a device pci.ids does not name).
 */
export function idsFromModelText(text: string): { vendor?: number; device?: number } {
  const out: { vendor?: number; device?: number } = {};
  for (const [re, id] of VENDOR_NAMES) {
    if (re.test(text)) {
      out.vendor = id;
      break;
    }
  }
  const m = /\bDevice ([0-9a-f]{4})\b/i.exec(text);
  if (out.vendor !== undefined && m) out.device = parseInt(m[1], 16);
  return out;
}

/** Parses `SrcValid+ TransBlk- ReqRedir+ ...` into the set bit names. */
export function parseAcsLspci(text: string): AcsFlagName[] | undefined {
  let bits = 0;
  let seen = 0;
  for (const name of ACS_FLAG_NAMES) {
    const m = new RegExp(`\\b${ACS_LSPCI_NAMES[name]}([+-])`).exec(text);
    if (!m) continue;
    seen++;
    if (m[1] === '+') bits |= ACS_FLAG_BITS[name];
  }
  return seen === 0 ? undefined : acsNames(bits);
}

/** AMD root-complex (device 00.0 of a root bus) device ids -> CPU family. */
const AMD_ROOT_COMPLEX_FAMILY: Record<number, [number, string]> = {
  0x1450: [0x17, 'Zen/Zen+ (Naples, Summit Ridge)'],
  0x1480: [0x17, 'Zen 2 (Rome, Matisse)'],
  0x1630: [0x17, 'Zen 2 (Renoir)'],
  0x14a4: [0x19, 'Zen 4 (Genoa, Storm Peak)'],
  0x153a: [0x1a, 'Zen 5 (Turin)'],
};

export interface RootComplexHint {
  vendor?: number;
  device?: number;
  text?: string;
  /** where the hint came from, e.g. "0000:00:00.0" */
  bdf: string;
}

/**
 * Guesses the CPU from the root complexes (function 00.0 of each root bus). opts.cpu wins.
 * Every guess adds a note that says to pass --cpu.
 */
export function guessCpu(hints: RootComplexHint[], notes: string[], given?: ImportCpu): ImportCpu {
  if (given) return { vendor: given.vendor, family: given.family };
  const amd = hints.find((h) => h.vendor === 0x1022 || /Advanced Micro Devices/.test(h.text ?? ''));
  if (amd) {
    const fam = amd.device !== undefined ? AMD_ROOT_COMPLEX_FAMILY[amd.device] : undefined;
    if (fam) {
      notes.push(
        `CPU guessed as AMD family 0x${fam[0].toString(16)} (${fam[1]}) from root complex ${amd.bdf} (device 0x${amd.device!.toString(16)}); pass --cpu to override.`,
      );
      return { vendor: 'AMD', family: fam[0] };
    }
    const family = amd.device === undefined ? 0x19 : 0x17;
    notes.push(
      `CPU guessed as AMD family 0x${family.toString(16)}: root complex ${amd.bdf} is AMD${amd.device !== undefined ? ` (device 0x${amd.device.toString(16)}, not in the importer's table)` : ' but its device id is not in the input'}; pass --cpu with the real family (Zen 1-3: 0x17/0x19, Zen 4: 0x19, Zen 5: 0x1a).`,
    );
    return { vendor: 'AMD', family };
  }
  const intel = hints.find((h) => h.vendor === 0x8086 || /^Intel Corporation/.test(h.text ?? ''));
  if (intel) {
    notes.push(
      `CPU guessed as Intel family 6 from root complex ${intel.bdf}; pass --cpu to override.`,
    );
    return { vendor: 'Intel', family: 6 };
  }
  notes.push(
    'CPU vendor unknown (no AMD or Intel root complex found): platform.cpu is "other", which the P2PDMA host-bridge check treats as unknown; pass --cpu.',
  );
  return { vendor: 'other', family: 0 };
}

export interface BarIn {
  bar: number;
  size: number;
  prefetchable: boolean;
  address?: number;
}

export interface WindowIn {
  base: number;
  size: number;
  prefetchable: boolean;
}

/** One PCI function as an importer read it. */
export interface RawFunction {
  domain: number;
  bus: number;
  devfn: number;
  /** Forwards to a secondary bus (type 1 header, `-[BB]` in a tree, `Bus:` in -vvv). */
  isBridge: boolean;
  secondary?: number;
  /** Parent function's BDF text, null for a function on a root bus, undefined: derive from buses. */
  parent?: string | null;
  expressType?: ExpressType;
  /** The input names the class (lspci -vvv, sysfs); false: class and host-bridge-ness are guesses. */
  classKnown: boolean;
  /** Class is Host bridge (0x0600). */
  hostBridgeClass?: boolean;
  deviceClass: DeviceClass;
  description?: string;
  vendor?: number;
  device?: number;
  acs?: { cap?: AcsFlagName[]; ctrl?: AcsFlagName[] };
  link?: { gen: number; width: number };
  mps?: number;
  mrrs?: number;
  bars?: BarIn[];
  windows?: WindowIn[];
  numaNode?: number;
  dmaMaskBits?: number;
  /** 1-based line in the input, for messages */
  line?: number;
}

export function bdfKey(f: { domain: number; bus: number; devfn: number }): string {
  return formatBdf({ domain: f.domain, bus: f.bus, devfn: f.devfn });
}

function busKey(domain: number, bus: number): string {
  return `${domain}:${bus}`;
}

const EXPRESS_KIND: Record<ExpressType, DeviceKind> = {
  endpoint: 'endpoint',
  'legacy-endpoint': 'endpoint',
  'rc-endpoint': 'endpoint',
  'rc-event-collector': 'endpoint',
  'root-port': 'root-port',
  upstream: 'switch-upstream',
  downstream: 'switch-downstream',
  'pcie-to-pci': 'pci-bridge',
  'pci-to-pcie': 'pci-bridge',
};

/** Mirrors the placement rules of buildTopology(). */
function placementOk(kind: DeviceKind, parentKind: DeviceKind | null): boolean {
  switch (kind) {
    case 'host-bridge':
    case 'root-port':
      return parentKind === null;
    case 'switch-upstream':
      return parentKind === 'root-port' || parentKind === 'switch-downstream';
    case 'switch-downstream':
      return parentKind === 'switch-upstream';
    default:
      return true;
  }
}

const CLASS_LABEL: Record<DeviceClass, string | undefined> = {
  nvme: 'nvme',
  gpu: 'gpu',
  nic: 'nic',
  accelerator: 'accel',
  other: undefined,
};

export interface AssembleContext {
  file: string;
  notes: string[];
  cpu: ImportCpu;
  name?: string;
  description?: string;
}

/**
 * Builds the topology spec from a flat list of functions: parents (explicit, or the bridge whose
 * secondary bus the function sits on), root buses (one host bridge each), kinds (the Express type
 * when known and consistent with the placement, else inferred from the tree shape), names.
 */
export function assembleSpec(
  fns: RawFunction[],
  ctx: AssembleContext,
): { spec: TopologySpecInput; descriptions: Record<string, string> } {
  const byKey = new Map<string, RawFunction>();
  for (const f of fns) {
    const k = bdfKey(f);
    if (byKey.has(k)) {
      throw new InputError(`function ${k} appears twice`, {
        file: ctx.file,
        line: f.line,
        column: f.line ? 1 : undefined,
      });
    }
    byKey.set(k, f);
  }
  // secondary bus -> bridge
  const bridgeOfBus = new Map<string, RawFunction>();
  for (const f of fns) {
    if (!f.isBridge || f.secondary === undefined || f.secondary === 0) continue;
    const bk = busKey(f.domain, f.secondary);
    const other = bridgeOfBus.get(bk);
    if (other) {
      throw new InputError(
        `bridges ${bdfKey(other)} and ${bdfKey(f)} both claim secondary bus ${f.secondary.toString(16).padStart(2, '0')}`,
        {
          file: ctx.file,
          line: f.line,
          column: f.line ? 1 : undefined,
        },
      );
    }
    bridgeOfBus.set(bk, f);
  }
  const children = new Map<string, RawFunction[]>();
  const roots = new Map<string, RawFunction[]>(); // root bus key -> functions, in first-seen order
  const rootOrder: { domain: number; bus: number }[] = [];
  const addRoot = (f: RawFunction): void => {
    const rk = busKey(f.domain, f.bus);
    if (!roots.has(rk)) {
      roots.set(rk, []);
      rootOrder.push({ domain: f.domain, bus: f.bus });
    }
    roots.get(rk)!.push(f);
  };
  for (const f of fns) {
    let parent: RawFunction | undefined;
    if (f.parent === undefined) {
      parent = bridgeOfBus.get(busKey(f.domain, f.bus));
    } else if (f.parent !== null) {
      parent = byKey.get(f.parent);
      if (!parent) {
        throw new InputError(`the parent ${f.parent} of ${bdfKey(f)} is not in the input`, {
          file: ctx.file,
          line: f.line,
          column: f.line ? 1 : undefined,
        });
      }
    }
    if (parent === f) parent = undefined;
    if (parent) {
      const pk = bdfKey(parent);
      if (!children.has(pk)) children.set(pk, []);
      children.get(pk)!.push(f);
    } else {
      addRoot(f);
    }
  }
  rootOrder.sort((a, b) => a.domain - b.domain || a.bus - b.bus);

  const counters = new Map<string, number>();
  const descriptions: Record<string, string> = {};
  let inferredBridges = 0;
  let inferredHostBridges = 0;
  let acsPorts = 0;
  let portsWithoutAcs = 0;
  const conflicts: string[] = [];
  const visiting = new Set<string>();

  const build = (f: RawFunction, parentKind: DeviceKind | null): DeviceSpecInput => {
    const key = bdfKey(f);
    if (visiting.has(key)) {
      throw new InputError(`bridge loop at ${key}`, { file: ctx.file, line: f.line });
    }
    visiting.add(key);
    const kids = (children.get(key) ?? [])
      .slice()
      .sort((a, b) => a.bus - b.bus || a.devfn - b.devfn);
    // kind inferred from the shape
    let inferred: DeviceKind;
    if (parentKind === null) {
      if (f.isBridge) inferred = 'root-port';
      else if (f.hostBridgeClass) inferred = 'host-bridge';
      else if (!f.classKnown && f.devfn === 0 && (f.vendor === 0x1022 || f.vendor === 0x8086))
        inferred = 'host-bridge';
      else inferred = 'endpoint';
    } else if (!f.isBridge) inferred = 'endpoint';
    else if (parentKind === 'switch-upstream') inferred = 'switch-downstream';
    else if (parentKind === 'root-port' || parentKind === 'switch-downstream')
      inferred = kids.some((k) => k.isBridge) ? 'switch-upstream' : 'pci-bridge';
    else inferred = 'pci-bridge';

    let kind = inferred;
    if (parentKind === null && f.hostBridgeClass && !f.isBridge) {
      kind = 'host-bridge';
    } else if (f.expressType) {
      const ek = EXPRESS_KIND[f.expressType];
      const bridgeKind = ek !== 'endpoint';
      if (bridgeKind !== f.isBridge) {
        conflicts.push(
          `${key} (Express type ${f.expressType}, ${f.isBridge ? 'has' : 'has no'} secondary bus)`,
        );
      } else if (!placementOk(ek, parentKind)) {
        conflicts.push(
          `${key} (Express type ${f.expressType} ${parentKind === null ? 'on a root bus' : `below a ${parentKind}`})`,
        );
      } else {
        kind = ek;
      }
    } else if (f.isBridge) {
      inferredBridges++;
    } else if (kind === 'host-bridge' && !f.hostBridgeClass) {
      inferredHostBridges++;
    }

    const spec: DeviceSpecInput = { bdf: key, kind };
    if (kind === 'endpoint') {
      const label = CLASS_LABEL[f.deviceClass];
      if (label) {
        const n = counters.get(label) ?? 0;
        counters.set(label, n + 1);
        spec.name = `${label}${n}`;
      }
    }
    if (f.deviceClass !== 'other' && kind === 'endpoint') spec.class = f.deviceClass;
    if (f.description) descriptions[key] = f.description;
    if (f.vendor !== undefined) spec.vendor = f.vendor;
    if (f.device !== undefined) spec.device = f.device;
    if (f.link) spec.link = f.link;
    if (f.mps !== undefined) spec.mps = f.mps;
    if (f.mrrs !== undefined) spec.mrrs = f.mrrs;
    if (f.acs) {
      spec.acs = { cap: f.acs.cap, ctrl: f.acs.ctrl };
      if (spec.acs.cap === undefined) delete spec.acs.cap;
      if (spec.acs.ctrl === undefined) delete spec.acs.ctrl;
      acsPorts++;
    } else if (kind === 'root-port' || kind === 'switch-downstream') {
      portsWithoutAcs++;
    }
    if (f.bars && f.bars.length > 0) {
      spec.bars = f.bars.map((b) => {
        const o: { bar: number; size: number; prefetchable?: boolean; address?: number } = {
          bar: b.bar,
          size: b.size,
        };
        if (b.prefetchable) o.prefetchable = true;
        if (b.address !== undefined) o.address = b.address;
        return o;
      });
    }
    if (f.windows && f.windows.length > 0 && f.isBridge) {
      spec.windows = f.windows.map((w) =>
        w.prefetchable
          ? { base: w.base, size: w.size, prefetchable: true }
          : { base: w.base, size: w.size },
      );
    }
    if (f.dmaMaskBits !== undefined && f.dmaMaskBits >= 24 && f.dmaMaskBits <= 64)
      spec.dmaMaskBits = f.dmaMaskBits;
    if (kids.length > 0) {
      const busSet = new Set(kids.map((k) => k.bus));
      if (busSet.size > 1) {
        throw new InputError(`the functions below ${key} sit on more than one bus`, {
          file: ctx.file,
          line: f.line,
        });
      }
      spec.children = kids.map((k) => build(k, kind));
    }
    visiting.delete(key);
    return spec;
  };

  const hostBridges: TopologySpecInput['hostBridges'] = [];
  for (const r of rootOrder) {
    const fnsOnBus = roots
      .get(busKey(r.domain, r.bus))!
      .slice()
      .sort((a, b) => a.devfn - b.devfn);
    const devices = fnsOnBus.map((f) => build(f, null));
    const numa = numaOf(fnsOnBus, children);
    const hb: TopologySpecInput['hostBridges'][number] = {
      name: `pci${formatBus(r.domain, r.bus)}`,
      domain: r.domain,
      bus: r.bus,
      devices,
    };
    if (numa !== undefined) hb.numaNode = numa;
    hostBridges.push(hb);
  }
  if (hostBridges.length === 0) {
    throw new InputError('no PCI functions found in the input', { file: ctx.file });
  }
  // functions never reached (a parent chain that loops) would be silently lost: report them
  const reached = new Set<string>();
  const walk = (ds: DeviceSpecInput[]): void => {
    for (const d of ds) {
      reached.add(d.bdf);
      if (d.children) walk(d.children);
    }
  };
  for (const hb of hostBridges) walk(hb.devices);
  const lost = fns.filter((f) => !reached.has(bdfKey(f)));
  if (lost.length > 0) {
    throw new InputError(
      `functions ${lost.map(bdfKey).join(', ')} are not reachable from any root bus (a bridge loop?)`,
      {
        file: ctx.file,
        line: lost[0].line,
      },
    );
  }

  synthesizeHostBridgeWindows(hostBridges, ctx.notes);

  if (inferredBridges > 0) {
    ctx.notes.push(
      `${inferredBridges} bridge kinds inferred from the tree shape (no Express capability in the input): a bridge on a root bus is a root-port; one whose secondary bus holds bridges is a switch-upstream; bridges below it are switch-downstream; other bridges are pci-bridge.`,
    );
  }
  if (inferredHostBridges > 0) {
    ctx.notes.push(
      `${inferredHostBridges} functions 00.0 of a root bus made host-bridge kind because their vendor is AMD or Intel (their class is not in the input).`,
    );
  }
  if (conflicts.length > 0) {
    ctx.notes.push(
      `Express type ignored where it contradicts the tree (kind inferred instead): ${conflicts.slice(0, 8).join(', ')}${conflicts.length > 8 ? `, and ${conflicts.length - 8} more` : ''}.`,
    );
  }
  if (acsPorts === 0) {
    ctx.notes.push(
      'No ACS data in the input: no function has an `acs` key (the model treats them as having no ACS capability).',
    );
  } else if (portsWithoutAcs > 0) {
    ctx.notes.push(
      `${portsWithoutAcs} root or downstream ports have no ACS data in the input and no \`acs\` key.`,
    );
  }
  const spec: TopologySpecInput = {
    platform: { cpu: ctx.cpu },
    hostBridges,
  };
  if (ctx.name !== undefined) spec.name = ctx.name;
  if (ctx.description !== undefined) spec.description = ctx.description;
  return { spec: orderTopLevel(spec), descriptions };
}

function orderTopLevel(spec: TopologySpecInput): TopologySpecInput {
  const out: Record<string, unknown> = {};
  for (const k of ['$schema', 'name', 'description', 'platform', 'hostBridges'] as const) {
    if (spec[k] !== undefined) out[k] = spec[k];
  }
  return out as TopologySpecInput;
}

/** NUMA node of a host bridge: the most common node among the functions below it. */
function numaOf(top: RawFunction[], children: Map<string, RawFunction[]>): number | undefined {
  const count = new Map<number, number>();
  const visit = (fs: RawFunction[]): void => {
    for (const f of fs) {
      if (f.numaNode !== undefined && f.numaNode >= 0)
        count.set(f.numaNode, (count.get(f.numaNode) ?? 0) + 1);
      visit(children.get(bdfKey(f)) ?? []);
    }
  };
  visit(top);
  let best: number | undefined;
  let bestN = 0;
  for (const [n, c] of count) {
    if (c > bestN) {
      best = n;
      bestN = c;
    }
  }
  return best;
}

/** "64G", "16M", "2K", "128" (lspci [size=...]) -> bytes. */
export function parseLspciSize(text: string): number | undefined {
  const m = /^(\d+)([KMGT])?$/.exec(text.trim());
  if (!m) return undefined;
  const mult =
    { K: 1024, M: 1024 ** 2, G: 1024 ** 3, T: 1024 ** 4 }[m[2] as 'K' | 'M' | 'G' | 'T'] ?? 1;
  const n = Number(m[1]) * mult;
  return Number.isSafeInteger(n) ? n : undefined;
}

/** Hex text -> number, undefined above 2^53. */
export function hexToSafeNumber(text: string): number | undefined {
  const t = text.replace(/^0x/i, '');
  if (!/^[0-9a-f]+$/i.test(t)) return undefined;
  const v = BigInt(`0x${t}`);
  return v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : undefined;
}

type HostBridgeIn = TopologySpecInput['hostBridges'][number];

const MiB = 1024 * 1024;
const FOUR_GIB = 4 * 1024 * MiB;
const TiB = 1024 * 1024 * MiB;

/**
 * Host-bridge windows are not in lspci or per-device sysfs files (they come from ACPI _CRS). When
 * the input fixes BAR or bridge-window addresses, every host bridge gets explicit `windows`, so the
 * loader's default windows cannot clash with the real addresses: per host bridge and kind, the
 * smallest 1 MiB-aligned span that holds its fixed addresses (split at 4 GiB), grown by twice the
 * size of its BARs without an address; a kind with no fixed address gets a free range (128 MiB
 * below 4 GiB, 1 TiB above every fixed address). Reported in the notes.
 */
function synthesizeHostBridgeWindows(hbs: HostBridgeIn[], notes: string[]): void {
  interface R {
    lo: number;
    hi: number;
  }
  const per = hbs.map((hb) => {
    const fixed = { mem: [] as R[], pref: [] as R[] };
    const unplaced = { mem: 0, pref: 0 };
    const walk = (ds: DeviceSpecInput[]): void => {
      for (const d of ds) {
        for (const b of d.bars ?? []) {
          const k = b.prefetchable ? 'pref' : 'mem';
          const size = Number(b.size);
          if (b.address !== undefined)
            fixed[k].push({ lo: Number(b.address), hi: Number(b.address) + size });
          else unplaced[k] += size;
        }
        for (const w of d.windows ?? []) {
          fixed[w.prefetchable ? 'pref' : 'mem'].push({
            lo: Number(w.base),
            hi: Number(w.base) + Number(w.size),
          });
        }
        if (d.children) walk(d.children);
      }
    };
    walk(hb.devices);
    return { fixed, unplaced };
  });
  if (per.every((p) => p.fixed.mem.length === 0 && p.fixed.pref.length === 0)) return;

  const used: R[] = [];
  const out: { base: number; size: number; prefetchable?: boolean }[][] = hbs.map(() => []);
  const free: { hb: number; kind: 'mem' | 'pref' }[] = [];
  per.forEach((p, i) => {
    for (const kind of ['mem', 'pref'] as const) {
      const rs = p.fixed[kind];
      if (rs.length === 0) {
        if (kind === 'mem' || p.unplaced.pref > 0 || p.fixed.mem.length === 0)
          free.push({ hb: i, kind });
        continue;
      }
      const groups = [rs.filter((r) => r.hi <= FOUR_GIB), rs.filter((r) => r.hi > FOUR_GIB)].filter(
        (g) => g.length > 0,
      );
      // BARs without an address go with the largest group of their kind
      const padIdx = groups.length > 1 && kind === 'pref' ? 1 : 0;
      groups.forEach((g, gi) => {
        const lo = Math.floor(Math.min(...g.map((r) => r.lo)) / MiB) * MiB;
        let hi = Math.ceil(Math.max(...g.map((r) => r.hi)) / MiB) * MiB;
        if (gi === padIdx && p.unplaced[kind] > 0)
          hi += Math.ceil((2 * p.unplaced[kind]) / MiB) * MiB;
        const w: { base: number; size: number; prefetchable?: boolean } = {
          base: lo,
          size: hi - lo,
        };
        if (kind === 'pref') w.prefetchable = true;
        out[i].push(w);
        used.push({ lo, hi });
      });
    }
  });
  const overlaps = (lo: number, hi: number): boolean => used.some((r) => lo < r.hi && r.lo < hi);
  let nextHigh = Math.ceil(Math.max(FOUR_GIB, ...used.map((r) => r.hi)) / TiB) * TiB;
  const freeNames = new Set<string>();
  for (const f of free) {
    if (f.kind === 'mem') {
      const size = 128 * MiB;
      for (let base = 0x8000_0000; base + size <= 0xfe00_0000; base += size) {
        if (!overlaps(base, base + size)) {
          out[f.hb].push({ base, size });
          used.push({ lo: base, hi: base + size });
          freeNames.add(hbs[f.hb].name);
          break;
        }
      }
    } else {
      out[f.hb].push({ base: nextHigh, size: TiB, prefetchable: true });
      used.push({ lo: nextHigh, hi: nextHigh + TiB });
      nextHigh += TiB;
      freeNames.add(hbs[f.hb].name);
    }
  }
  // host bridges whose spans interleave cannot be given disjoint windows this way
  const all = out.flatMap((ws, i) => ws.map((w) => ({ i, lo: w.base, hi: w.base + w.size })));
  const clash = all.find((a) => all.some((b) => b.i !== a.i && a.lo < b.hi && b.lo < a.hi));
  if (clash) {
    notes.push(
      `The address ranges under host bridge ${hbs[clash.i].name} interleave with another host bridge's, so the synthesized host-bridge windows overlap: give the host bridges their real windows (from /proc/iomem "PCI Bus" lines).`,
    );
  }
  hbs.forEach((hb, i) => {
    out[i].sort(
      (a, b) =>
        Number(a.prefetchable ?? false) - Number(b.prefetchable ?? false) || a.base - b.base,
    );
    // key order of a hand-written file: name, domain, bus, numaNode, windows, devices
    const { devices, ...head } = hb;
    for (const k of Object.keys(hb)) delete (hb as Record<string, unknown>)[k];
    Object.assign(hb, head, { windows: out[i], devices });
  });
  notes.push(
    'Host-bridge windows are not in the input (they come from ACPI _CRS): each host bridge got the smallest 1 MiB-aligned windows that hold the fixed BAR and bridge-window addresses below it' +
      (freeNames.size > 0
        ? `, and free ranges where it has none (${[...freeNames].slice(0, 6).join(', ')}${freeNames.size > 6 ? ', ...' : ''})`
        : '') +
      '; replace them with the "PCI Bus" ranges of /proc/iomem for exact values.',
  );
}
