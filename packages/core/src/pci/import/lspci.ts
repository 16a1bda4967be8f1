/**
 * Importer for lspci output: `lspci -tv` / `lspci -tvnn` trees, optionally followed by
 * `lspci -vvv` / `lspci -vvvnn` blocks, or `lspci -vvv` alone (the tree is then rebuilt from the
 * bridges' `Bus: primary=, secondary=, subordinate=` lines).
 *
 * From the tree: the hierarchy, bridges and their secondary buses, model text (and ids with -nn).
 * From -vvv blocks: class, Express type (which decides the kind), ACS, link, MPS/MRRS, memory BARs,
 * bridge memory windows, NUMA node. What is guessed goes to `notes`.
 */
import { InputError } from '../../input-error';
import { pciDevfn } from '../bdf';
import {
  assembleSpec,
  bdfKey,
  classFromClassName,
  classFromModelName,
  expressTypeFromLspci,
  guessCpu,
  hexToSafeNumber,
  idsFromModelText,
  LINK_WIDTHS,
  linkGenFromGts,
  parseAcsLspci,
  parseLspciSize,
  type BarIn,
  type ImportOptions,
  type ImportResult,
  type RawFunction,
  type RootComplexHint,
  type WindowIn,
} from './classify';

const HEADER_RE = /^(?:([0-9a-fA-F]{4}):)?([0-9a-fA-F]{2}):([0-9a-fA-F]{2})\.([0-7]) (.*)$/;

interface TreeEntry {
  domain: number;
  bus: number;
  devfn: number;
  parent: string | null;
  secondary?: number;
  text?: string;
  line: number;
}

interface VvvBlock {
  domain: number;
  bus: number;
  devfn: number;
  line: number;
  className: string;
  classCode?: number;
  text: string;
  vendor?: number;
  device?: number;
  body: { text: string; indent: number; line: number }[];
}

type Owner = 'top' | { domain: number; bus: number; parent: string | null };

/** Parses lspci text (see the module comment) into a topology spec. */
export function importLspci(text: string, file: string, opts: ImportOptions = {}): ImportResult {
  const lines = text.split(/\r?\n/);
  const notes: string[] = [];
  const err = (msg: string, line: number, column = 1): InputError =>
    new InputError(msg, { file, line, column });

  // ---- split: tree lines first (if any), then -vvv blocks
  let i = 0;
  while (i < lines.length && lines[i].trim() === '') i++;
  const tree: TreeEntry[] = [];
  const treeRootBuses: { domain: number; bus: number }[] = [];
  if (i < lines.length && /^\s*-/.test(lines[i])) {
    const branchOwner = new Map<number, Owner>();
    let first = true;
    for (; i < lines.length; i++) {
      const line = lines[i];
      if (line.trim() === '') break;
      if (HEADER_RE.test(line)) break;
      parseTreeLine(line, i + 1, first);
      first = false;
    }

    function parseTreeLine(line: string, lineNo: number, isFirst: boolean): void {
      let p = 0;
      while (p < line.length && (line[p] === ' ' || line[p] === '|')) p++;
      if (isFirst) {
        if (line[p] !== '-')
          throw err(
            'expected the start of an `lspci -t` tree ("-[DDDD:BB]-..." or "-+-[DDDD:BB]-...")',
            lineNo,
            p + 1,
          );
        busContent(line, p + 1, 'top', lineNo);
        return;
      }
      if ((line[p] === '+' || line[p] === '\\') && line[p + 1] === '-') {
        const owner = branchOwner.get(p);
        if (owner === undefined)
          throw err(
            'tree branch does not continue any entry above it (misaligned line?)',
            lineNo,
            p + 1,
          );
        if (line[p] === '\\') branchOwner.delete(p);
        item(line, p + 2, owner, lineNo);
        return;
      }
      throw err(
        'malformed `lspci -t` tree line: expected "+-" or "\\-" after the "|" columns',
        lineNo,
        p + 1,
      );
    }

    function busContent(line: string, p: number, owner: Owner, lineNo: number): void {
      const rest = line.slice(p);
      if (rest.trim() === '') {
        if (owner === 'top') throw err('empty tree', lineNo, p + 1);
        return; // a bridge with an empty secondary bus: "-[72]--"
      }
      if ((rest.startsWith('+-') || rest.startsWith('\\-')) && rest.length > 2) {
        branchOwner.set(p, owner);
        item(line, p + 2, owner, lineNo);
        return;
      }
      if (rest.startsWith('--')) {
        item(line, p + 2, owner, lineNo);
        return;
      }
      if (owner === 'top' && rest.startsWith('[')) {
        item(line, p, owner, lineNo);
        return;
      }
      throw err(`malformed \`lspci -t\` tree: unexpected "${rest.slice(0, 12)}"`, lineNo, p + 1);
    }

    function item(line: string, p: number, owner: Owner, lineNo: number): void {
      const rest = line.slice(p);
      if (owner === 'top') {
        const m = /^\[([0-9a-fA-F]{4}):([0-9a-fA-F]{2})\]-/.exec(rest);
        if (!m) throw err('expected a root bus "[DDDD:BB]-"', lineNo, p + 1);
        const ctx = { domain: parseInt(m[1], 16), bus: parseInt(m[2], 16), parent: null };
        treeRootBuses.push({ domain: ctx.domain, bus: ctx.bus });
        busContent(line, p + m[0].length, ctx, lineNo);
        return;
      }
      const m = /^([0-9a-fA-F]{2})\.([0-7])/.exec(rest);
      if (!m) throw err('expected a device "DD.F"', lineNo, p + 1);
      const slot = parseInt(m[1], 16);
      if (slot > 0x1f) throw err(`device number ${m[1]} is above 1f`, lineNo, p + 1);
      const e: TreeEntry = {
        domain: owner.domain,
        bus: owner.bus,
        devfn: pciDevfn(slot, parseInt(m[2], 16)),
        parent: owner.parent,
        line: lineNo,
      };
      tree.push(e);
      const after = rest.slice(m[0].length);
      const b = /^-\[([0-9a-fA-F]{2})(?:-([0-9a-fA-F]{2}))?\]--/.exec(after);
      if (b) {
        e.secondary = parseInt(b[1], 16);
        busContent(
          line,
          p + m[0].length + b[0].length,
          { domain: e.domain, bus: e.secondary, parent: bdfKey(e) },
          lineNo,
        );
        return;
      }
      if (after.trim() === '') return;
      if (!/^\s/.test(after))
        throw err(`malformed \`lspci -t\` entry after "${m[0]}"`, lineNo, p + m[0].length + 1);
      e.text = after.trim();
    }
  }

  // ---- -vvv blocks
  const blocks: VvvBlock[] = [];
  let cur: VvvBlock | undefined;
  for (; i < lines.length; i++) {
    const line = lines[i];
    if (line.trim() === '') {
      cur = undefined;
      continue;
    }
    const h = HEADER_RE.exec(line);
    if (h) {
      const slot = parseInt(h[3], 16);
      if (slot > 0x1f) throw err(`device number ${h[3]} is above 1f`, i + 1, h[1] ? 9 : 4);
      const rest = h[5];
      const colon = rest.indexOf(': ');
      if (colon < 0)
        throw err(
          'malformed `lspci -v` header: expected "BB:DD.F Class: Description"',
          i + 1,
          line.indexOf(rest) + 1,
        );
      let className = rest.slice(0, colon).trim();
      let classCode: number | undefined;
      const cc = /\s*\[([0-9a-fA-F]{4})\]$/.exec(className);
      if (cc) {
        classCode = parseInt(cc[1], 16);
        className = className.slice(0, cc.index);
      }
      let desc = rest.slice(colon + 2).trim();
      desc = desc
        .replace(/\s*\(prog-if [^)]*(?:\[[^\]]*\])?\)\s*$/, '')
        .replace(/\s*\(rev [0-9a-fA-F]+\)\s*$/, '');
      let vendor: number | undefined;
      let device: number | undefined;
      const ids = /\s*\[([0-9a-fA-F]{4}):([0-9a-fA-F]{4})\]$/.exec(desc);
      if (ids) {
        vendor = parseInt(ids[1], 16);
        device = parseInt(ids[2], 16);
        desc = desc.slice(0, ids.index);
      }
      cur = {
        domain: h[1] ? parseInt(h[1], 16) : 0,
        bus: parseInt(h[2], 16),
        devfn: pciDevfn(slot, parseInt(h[4], 16)),
        line: i + 1,
        className,
        classCode,
        text: desc,
        vendor,
        device,
        body: [],
      };
      blocks.push(cur);
      continue;
    }
    const indent = /^\s*/.exec(line)![0].length;
    if (indent > 0 && cur) {
      cur.body.push({ text: line.trim(), indent, line: i + 1 });
      continue;
    }
    if (/^(?:lspci|pcilib): /.test(line)) {
      notes.push(`Skipped lspci warning at line ${i + 1}: ${line.trim()}`);
      continue;
    }
    throw err(
      indent > 0
        ? 'indented line outside a device block'
        : 'malformed line: expected an `lspci -vvv` device header "BB:DD.F Class: Description" or an indented detail line',
      i + 1,
      indent + 1,
    );
  }

  if (tree.length === 0 && blocks.length === 0)
    throw new InputError('no PCI functions found in the lspci output', { file });

  // ---- merge into raw functions
  const fns: RawFunction[] = [];
  const byKey = new Map<string, RawFunction>();
  let vendorsFromNames = 0;
  for (const e of tree) {
    const f: RawFunction = {
      domain: e.domain,
      bus: e.bus,
      devfn: e.devfn,
      isBridge: e.secondary !== undefined,
      secondary: e.secondary,
      parent: e.parent,
      classKnown: false,
      deviceClass: 'other',
      line: e.line,
    };
    if (e.text !== undefined) {
      let t = e.text;
      const ids = /\s*\[([0-9a-fA-F]{4}):([0-9a-fA-F]{4})\]$/.exec(t);
      if (ids) {
        f.vendor = parseInt(ids[1], 16);
        f.device = parseInt(ids[2], 16);
        t = t.slice(0, ids.index);
      } else {
        const g = idsFromModelText(t);
        if (g.vendor !== undefined) vendorsFromNames++;
        f.vendor = g.vendor;
        f.device = g.device;
      }
      f.description = t;
      f.deviceClass = classFromModelName(t);
    }
    const k = bdfKey(f);
    if (byKey.has(k)) throw err(`function ${k} appears twice in the tree`, e.line);
    byKey.set(k, f);
    fns.push(f);
  }
  let guessedClasses = tree.length > 0 ? tree.filter((e) => !e.secondary).length : 0;
  let extraBlocks = 0;
  const downgraded: string[] = [];
  for (const b of blocks) {
    const k = bdfKey(b);
    let f = byKey.get(k);
    if (!f) {
      if (tree.length > 0) extraBlocks++;
      f = {
        domain: b.domain,
        bus: b.bus,
        devfn: b.devfn,
        isBridge: false,
        classKnown: true,
        deviceClass: 'other',
        line: b.line,
      };
      byKey.set(k, f);
      fns.push(f);
    } else {
      if (f.classKnown) throw err(`function ${k} has two -vvv blocks`, b.line);
      if (!f.isBridge) guessedClasses--;
    }
    applyBlock(f, b, downgraded, err);
  }

  // ---- CPU
  const secondaries = new Set(
    fns
      .filter((f) => f.isBridge && f.secondary !== undefined)
      .map((f) => `${f.domain}:${f.secondary}`),
  );
  const onRootBus = (f: RawFunction): boolean =>
    f.parent !== undefined ? f.parent === null : !secondaries.has(`${f.domain}:${f.bus}`);
  const hints: RootComplexHint[] = fns
    .filter((f) => f.devfn === 0 && onRootBus(f))
    .sort((a, b) => a.domain - b.domain || a.bus - b.bus)
    .map((f) => ({ vendor: f.vendor, device: f.device, text: f.description, bdf: bdfKey(f) }));
  const cpu = guessCpu(hints, notes, opts.cpu);

  if (tree.length === 0) {
    notes.push(
      'No `lspci -t` tree in the input: the hierarchy was rebuilt from the bridges\' "Bus: secondary=" lines; buses no bridge leads to are root buses.',
    );
  }
  if (guessedClasses > 0) {
    notes.push(
      `${guessedClasses} functions have no -vvv block: their class (nvme/gpu/nic/...) was guessed from the model name, and they have no BARs, link or ACS data.`,
    );
  }
  if (vendorsFromNames > 0) {
    notes.push(
      `Vendor ids of ${vendorsFromNames} functions looked up from the vendor name (no -nn ids in the input).`,
    );
  }
  if (extraBlocks > 0) {
    notes.push(
      `${extraBlocks} -vvv blocks name functions missing from the tree; they were placed by bus number.`,
    );
  }
  if (downgraded.length > 0) {
    notes.push(
      `LnkSta reports a downgraded link for ${downgraded.slice(0, 6).join(', ')}${downgraded.length > 6 ? ` and ${downgraded.length - 6} more` : ''} (GPUs train down when idle); the current link was kept.`,
    );
  }

  const { spec, descriptions } = assembleSpec(fns, {
    file,
    notes,
    cpu,
    description: `Imported from ${file} (lspci${tree.length > 0 ? ' -t' : ''}${blocks.length > 0 ? ' -vvv' : ''})`,
  });
  return { spec, notes, descriptions };
}

function applyBlock(
  f: RawFunction,
  b: VvvBlock,
  downgraded: string[],
  err: (msg: string, line: number, column?: number) => InputError,
): void {
  f.classKnown = true;
  f.deviceClass = classFromClassName(b.className);
  f.hostBridgeClass =
    b.classCode !== undefined ? b.classCode === 0x0600 : /^Host bridge$/i.test(b.className);
  if (b.classCode === 0x0604 || /^PCI bridge$/i.test(b.className)) f.isBridge = true;
  if (!f.description) f.description = b.text;
  if (b.vendor !== undefined) {
    f.vendor = b.vendor;
    f.device = b.device;
  } else if (f.vendor === undefined) {
    const g = idsFromModelText(b.text);
    f.vendor = g.vendor;
    f.device = g.device;
  }
  const base = b.body.length > 0 ? Math.min(...b.body.map((l) => l.indent)) : 0;
  const bars: BarIn[] = [];
  const windows: WindowIn[] = [];
  let acsCap: string | undefined;
  let acsCtl: string | undefined;
  for (let j = 0; j < b.body.length; j++) {
    const { text, indent, line } = b.body[j];
    const top = indent === base;
    let m: RegExpExecArray | null;
    if (top && (m = /^NUMA node: (-?\d+)/.exec(text))) {
      const n = Number(m[1]);
      if (n >= 0) f.numaNode = n;
    } else if (
      top &&
      (m =
        /^Bus: primary=([0-9a-fA-F]{2}), secondary=([0-9a-fA-F]{2}), subordinate=([0-9a-fA-F]{2})/.exec(
          text,
        ))
    ) {
      f.isBridge = true;
      const sec = parseInt(m[2], 16);
      if (f.secondary === undefined) f.secondary = sec;
      else if (f.secondary !== sec) {
        throw err(
          `the tree gives ${bdfKey(f)} secondary bus ${f.secondary.toString(16).padStart(2, '0')} but its -vvv block says ${m[2]}`,
          line,
          indent + 1,
        );
      }
    } else if (top && /^Bus: /.test(text)) {
      throw err(
        'malformed "Bus:" line: expected "Bus: primary=BB, secondary=BB, subordinate=BB"',
        line,
        indent + 1,
      );
    } else if (top && /^Region \d+: Memory at /.test(text)) {
      m =
        /^Region (\d+): Memory at (<unassigned>|<ignored>|[0-9a-fA-F]+) \((32|64)-bit, (non-prefetchable|prefetchable)\)(.*)$/.exec(
          text,
        );
      if (!m) throw err('malformed "Region N: Memory at ..." line', line, indent + 1);
      const n = Number(m[1]);
      const size = /\[size=([0-9]+[KMGT]?)\]/.exec(m[5]);
      if (!size) continue; // lspci prints no size when it cannot read one
      const bytes = parseLspciSize(size[1]);
      if (bytes === undefined || bytes === 0)
        throw err(`malformed BAR size "${size[1]}"`, line, indent + text.indexOf(size[1]) + 1);
      if (n > 5) throw err(`BAR number ${n} is above 5`, line, indent + 8);
      const bar: BarIn = { bar: n, size: bytes, prefetchable: m[4] === 'prefetchable' };
      if (!m[2].startsWith('<')) {
        const a = hexToSafeNumber(m[2]);
        if (a === undefined)
          throw err(`BAR address ${m[2]} is above 2^53`, line, indent + text.indexOf(m[2]) + 1);
        bar.address = a;
      }
      bars.push(bar);
    } else if (
      top &&
      (m = /^(Prefetchable memory|Memory) behind bridge: ([0-9a-fA-F]+)-([0-9a-fA-F]+)(.*)$/.exec(
        text,
      ))
    ) {
      if (/\[disabled\]/.test(m[4])) continue;
      const lo = hexToSafeNumber(m[2]);
      const hi = hexToSafeNumber(m[3]);
      if (lo === undefined || hi === undefined)
        throw err('bridge window address above 2^53', line, indent + 1);
      if (hi < lo) continue; // lspci prints an empty window as base > limit
      windows.push({ base: lo, size: hi - lo + 1, prefetchable: m[1] === 'Prefetchable memory' });
    } else if (
      (m =
        /^Capabilities: \[[0-9a-fA-F]+\] Express \(v\d+\) (.*?)(?:, (?:MSI|IntMsgNum) \d+)?$/.exec(
          text,
        ))
    ) {
      const t = expressTypeFromLspci(m[1]);
      if (t) f.expressType = t;
    } else if (
      (m = /^LnkSta:\s*Speed ([\d.]+)GT\/s(\s*\(downgraded\))?[^,]*, Width x(\d+)/.exec(text))
    ) {
      const gen = linkGenFromGts(Number(m[1]));
      const width = Number(m[3]);
      if (gen !== undefined && LINK_WIDTHS.includes(width)) f.link = { gen, width };
      if (m[2] && f.deviceClass !== 'other') downgraded.push(bdfKey(f));
    } else if (/^DevCtl:/.test(text)) {
      for (let k = j + 1; k < Math.min(b.body.length, j + 5); k++) {
        const mp = /MaxPayload (\d+) bytes, MaxReadReq (\d+) bytes/.exec(b.body[k].text);
        if (mp) {
          f.mps = Number(mp[1]);
          f.mrrs = Number(mp[2]);
          break;
        }
      }
    } else if ((m = /^ACSCap:\s*(.*)$/.exec(text))) {
      acsCap = m[1];
    } else if ((m = /^ACSCtl:\s*(.*)$/.exec(text))) {
      acsCtl = m[1];
    }
  }
  if (acsCap !== undefined || acsCtl !== undefined) {
    const cap = acsCap !== undefined ? parseAcsLspci(acsCap) : undefined;
    const ctrl = acsCtl !== undefined ? parseAcsLspci(acsCtl) : [];
    f.acs = { cap, ctrl };
  }
  if (bars.length > 0) f.bars = bars;
  if (windows.length > 0) f.windows = windows;
}
