/**
 * The PCI topology model built from a validated topology spec: host bridges, the tree of
 * functions, and the platform (CPU) facts the P2PDMA code consults.
 */
import { SpecError, type SpecPath } from '../input-error';
import { acsBits, ACS_FLAG_NAMES } from './acs';
import { formatBus, hex4, parseBdf } from './bdf';
import { HostBridge, PciDev, type PcieType } from './device';
import { assignResources } from './resources';
import { buildPhysMemoryMap, type PhysMemoryMap } from '../mm/memory-map';
import {
  BRIDGE_KINDS,
  topologySchema,
  type DeviceKind,
  type DeviceSpec,
  type PlatformSpec,
  type TopologySpec,
} from './topology-schema';

export interface CpuInfo {
  vendor: 'AMD' | 'Intel' | 'ARM' | 'other';
  family: number;
}

export class PciTopology {
  /** Every function, depth-first, parents before children (the order enumeration finds them). */
  readonly devices: PciDev[] = [];
  private readonly byBdf = new Map<string, PciDev>();
  private readonly byName = new Map<string, PciDev>();

  constructor(
    readonly spec: TopologySpec,
    readonly platform: PlatformSpec,
    readonly hostBridges: HostBridge[],
  ) {}

  /** System RAM and every BAR (set by buildTopology() once resources are assigned). */
  memoryMap!: PhysMemoryMap;

  get cpu(): CpuInfo {
    return this.platform.cpu;
  }

  /** Endpoint functions, in enumeration order. */
  get endpoints(): PciDev[] {
    return this.devices.filter((d) => d.kind === 'endpoint');
  }

  /**
   * @internal Puts `devices` in the order the kernel adds them (pci_bus_add_devices(): every
   * function of a bus by devfn, then each bridge's secondary bus in turn; host bridges by domain
   * and bus), which is the order of for_each_pci_dev() and of IOMMU group allocation.
   */
  enumerate(): void {
    const order: PciDev[] = [];
    const visit = (level: readonly PciDev[]) => {
      order.push(...level);
      for (const d of level) if (d.children.length) visit(d.children);
    };
    const hbs = [...this.hostBridges].sort((a, b) => a.domain - b.domain || a.bus - b.bus);
    for (const hb of hbs) visit(hb.rootDevices);
    order.forEach((d, i) => (d.index = i));
    this.devices.length = 0;
    this.devices.push(...order);
  }

  /** Looks a device up by "DDDD:BB:DD.F", "BB:DD.F" (domain 0) or its name. */
  find(ref: string): PciDev | undefined {
    const a = parseBdf(ref);
    if (a) {
      const d = this.byBdf.get(`${a.domain}:${a.bus}:${a.devfn}`);
      if (d) return d;
    }
    return this.byName.get(ref);
  }

  /** Like find(), but throws a user-facing error naming what exists. */
  get(ref: string): PciDev {
    const d = this.find(ref);
    if (!d) throw new SpecError(`no device "${ref}" in the topology`, []);
    return d;
  }

  /** Bumped by every runtime change to ACS control (see setAcsCtrl). */
  acsGeneration = 0;

  /**
   * Writes a function's ACS Control register at run time, as `setpci` does. The kernel's
   * map-type caches are not told (reference §1.3); only new computations see the change.
   */
  setAcsCtrl(dev: PciDev, ctrl: number): void {
    const acs = dev.props.acs;
    if (!acs) throw new Error(`${dev.bdf} has no ACS capability`);
    if (ctrl & ~acs.cap)
      throw new Error(
        `${dev.bdf}: ACS control bits ${ctrl.toString(16)} exceed the capability ${acs.cap.toString(16)}`,
      );
    acs.ctrl = ctrl;
    this.acsGeneration++;
  }

  /** @internal used by buildTopology */
  add(dev: PciDev): void {
    this.devices.push(dev);
    this.byBdf.set(`${dev.domain}:${dev.bus}:${dev.devfn}`, dev);
    if (dev.name !== undefined && !this.byName.has(dev.name)) this.byName.set(dev.name, dev);
  }
}

function pcieTypeOf(kind: DeviceKind, parent: PciDev | null): PcieType {
  // Below a PCIe-to-PCI bridge (or further conventional bridges) there is conventional PCI.
  const conventional =
    parent !== null && (parent.pcieType === 'pcie-to-pci-bridge' || parent.pcieType === 'pci');
  switch (kind) {
    case 'host-bridge':
      return 'pci';
    case 'root-port':
      return 'root-port';
    case 'switch-upstream':
      return 'upstream';
    case 'switch-downstream':
      return 'downstream';
    case 'pci-bridge':
      return conventional ? 'pci' : 'pcie-to-pci-bridge';
    case 'endpoint':
      if (conventional) return 'pci';
      return parent === null ? 'rc-endpoint' : 'endpoint';
  }
}

/** Which parent kinds each kind may sit below (null: directly on a root bus). */
function placementError(kind: DeviceKind, parent: PciDev | null): string | undefined {
  const where = parent === null ? 'on a root bus' : `below a ${parent.kind}`;
  switch (kind) {
    case 'host-bridge':
    case 'root-port':
      return parent === null ? undefined : `a ${kind} sits on a root bus, not ${where}`;
    case 'switch-upstream':
      return parent !== null && (parent.kind === 'root-port' || parent.kind === 'switch-downstream')
        ? undefined
        : `a switch-upstream port sits below a root-port or a switch-downstream port, not ${where}`;
    case 'switch-downstream':
      return parent?.kind === 'switch-upstream'
        ? undefined
        : `a switch-downstream port sits below a switch-upstream port, not ${where}`;
    default:
      return undefined;
  }
}

/**
 * Builds the model from a spec that has passed the schema. Throws SpecError (with the path of the
 * offending value) for relations the schema cannot check: duplicate BDFs, children under an
 * endpoint, children on the wrong bus, misplaced ports, BARs that do not fit their windows.
 */
export function buildTopology(spec: TopologySpec): PciTopology {
  const hostBridges: HostBridge[] = [];
  const topo = new PciTopology(spec, spec.platform, hostBridges);
  const seen = new Map<string, string>(); // key -> bdf text of first definition
  const busOwner = new Map<string, string>(); // "domain:bus" -> who owns it

  spec.hostBridges.forEach((hbSpec, i) => {
    const hbPath: SpecPath = ['hostBridges', i];
    const busKey = `${hbSpec.domain}:${hbSpec.bus}`;
    if (busOwner.has(busKey)) {
      throw new SpecError(
        `root bus ${formatBus(hbSpec.domain, hbSpec.bus)} is already used by ${busOwner.get(busKey)}`,
        [...hbPath, 'bus'],
      );
    }
    busOwner.set(busKey, `host bridge ${hbSpec.name}`);
    const hb = new HostBridge(
      i,
      hbSpec.name,
      hbSpec.domain,
      hbSpec.bus,
      hbSpec.numaNode,
      hbSpec.busOffset,
      hbPath,
    );
    hb.source = hbSpec;
    hostBridges.push(hb);

    const addLevel = (specs: DeviceSpec[], parent: PciDev | null, basePath: SpecPath): PciDev[] => {
      const level: PciDev[] = [];
      let levelBus: number | undefined;
      specs.forEach((ds, j) => {
        const path: SpecPath = [...basePath, j];
        const addr = parseBdf(ds.bdf, hb.domain)!;
        if (addr.domain !== hb.domain) {
          throw new SpecError(
            `${ds.bdf} is in PCI domain ${hex4(addr.domain)} but its host bridge ${hb.name} is domain ${hex4(hb.domain)}`,
            [...path, 'bdf'],
          );
        }
        if (parent === null && addr.bus !== hb.bus) {
          throw new SpecError(
            `${ds.bdf} is listed on the root bus of ${hb.name} (bus ${formatBus(hb.domain, hb.bus)}) but names bus ${formatBus(addr.domain, addr.bus)}`,
            [...path, 'bdf'],
          );
        }
        if (parent !== null) {
          if (levelBus === undefined) {
            levelBus = addr.bus;
            const k = `${addr.domain}:${addr.bus}`;
            if (busOwner.has(k)) {
              throw new SpecError(
                `bus ${formatBus(addr.domain, addr.bus)} below ${parent.bdf} is already used by ${busOwner.get(k)}`,
                [...path, 'bdf'],
              );
            }
            busOwner.set(k, `the secondary bus of ${parent.bdf}`);
          } else if (addr.bus !== levelBus) {
            throw new SpecError(
              `${ds.bdf} is on bus ${formatBus(addr.domain, addr.bus)}, but its siblings below ${parent.bdf} are on bus ${formatBus(addr.domain, levelBus)}: the functions below a bridge all sit on its secondary bus`,
              [...path, 'bdf'],
            );
          }
        }
        const key = `${addr.domain}:${addr.bus}:${addr.devfn}`;
        const prior = seen.get(key);
        if (prior !== undefined) {
          throw new SpecError(`duplicate BDF ${ds.bdf}: already defined as ${prior}`, [
            ...path,
            'bdf',
          ]);
        }
        seen.set(key, ds.bdf);
        const misplaced = placementError(ds.kind, parent);
        if (misplaced) throw new SpecError(misplaced, [...path, 'kind']);
        if (ds.children && ds.children.length > 0 && !BRIDGE_KINDS.includes(ds.kind)) {
          throw new SpecError(
            `${ds.bdf} is a ${ds.kind} and cannot have children: only root-port, switch-upstream, switch-downstream and pci-bridge forward to a secondary bus`,
            [...path, 'children'],
          );
        }
        if (ds.windows && !BRIDGE_KINDS.includes(ds.kind)) {
          throw new SpecError(`${ds.bdf} is a ${ds.kind}; only bridges have forwarding windows`, [
            ...path,
            'windows',
          ]);
        }
        const acs = ds.acs;
        let acsModel: { cap: number; ctrl: number } | undefined;
        if (acs) {
          const ctrl = acsBits(acs.ctrl);
          const cap = acs.cap ? acsBits(acs.cap) : ctrl;
          const missing = ctrl & ~cap;
          if (missing) {
            const names = ACS_FLAG_NAMES.filter((_, b) => missing & (1 << b));
            throw new SpecError(
              `ACS control enables ${names.join(', ')} but the ACS capability does not offer ${names.length > 1 ? 'them' : 'it'}`,
              [...path, 'acs', 'ctrl'],
            );
          }
          acsModel = { cap, ctrl };
        }
        const cmb = ds.cmb
          ? {
              bar: ds.cmb.bar,
              offset: ds.cmb.offset ?? 0,
              size: ds.cmb.size,
              rds: ds.cmb.rds,
              wds: ds.cmb.wds,
              sqs: ds.cmb.sqs ?? false,
            }
          : undefined;
        const dev = new PciDev(
          addr.domain,
          addr.bus,
          addr.devfn,
          ds.kind,
          pcieTypeOf(ds.kind, parent),
          hb,
          parent,
          path,
          {
            name: ds.name,
            class: ds.class,
            vendor: ds.vendor,
            device: ds.device,
            acs: acsModel,
            link: ds.link,
            mps: ds.mps,
            mrrs: ds.mrrs,
            cmb,
            p2pmem: ds.p2pmem
              ? {
                  bar: ds.p2pmem.bar,
                  offset: ds.p2pmem.offset ?? 0,
                  size: ds.p2pmem.size ?? 0,
                  publish: ds.p2pmem.publish ?? true,
                }
              : undefined,
            dmaMaskBits: ds.dmaMaskBits,
          },
        );
        dev.depth = parent ? parent.depth + 1 : 0;
        dev.source = ds;
        topo.add(dev);
        level.push(dev);
        if (ds.children) {
          dev.children.push(...addLevel(ds.children, dev, [...path, 'children']));
        }
      });
      level.sort((a, b) => a.devfn - b.devfn);
      markMultifunction(level);
      return level;
    };
    hb.rootDevices.push(...addLevel(hbSpec.devices, null, [...hbPath, 'devices']));
  });

  topo.enumerate();
  assignResources(topo);
  checkP2pmem(topo);
  topo.memoryMap = buildPhysMemoryMap(topo);
  return topo;
}

/** `p2pmem` must name an implemented BAR and fit in it (what pci_p2pdma_add_resource() checks). */
function checkP2pmem(topo: PciTopology): void {
  for (const dev of topo.devices) {
    const p = dev.props.p2pmem;
    if (!p) continue;
    const path = [...dev.specPath, 'p2pmem'];
    const bar = dev.bar(p.bar);
    if (!bar) {
      throw new SpecError(`${dev.bdf} has no BAR ${p.bar} to register as p2pmem`, [...path, 'bar']);
    }
    if (p.offset >= bar.size) {
      throw new SpecError(
        `p2pmem offset ${p.offset} is not inside BAR ${p.bar} (${bar.size} bytes)`,
        [...path, 'offset'],
      );
    }
    if (p.offset + (p.size || bar.size - p.offset) > bar.size) {
      throw new SpecError(
        `p2pmem offset ${p.offset} + size ${p.size} runs past the end of BAR ${p.bar} (${bar.size} bytes)`,
        [...path, 'size'],
      );
    }
  }
}

function markMultifunction(level: PciDev[]): void {
  const perSlot = new Map<number, number>();
  for (const d of level) perSlot.set(d.slot, (perSlot.get(d.slot) ?? 0) + 1);
  for (const d of level) d.multifunction = (perSlot.get(d.slot) ?? 0) > 1 || d.fn !== 0;
}

/** Validates a plain object against the schema and builds the model (no file positions). */
export function topologyFromObject(obj: unknown): PciTopology {
  const r = topologySchema.safeParse(obj);
  if (!r.success) {
    const issue = r.error.issues[0];
    throw new SpecError(issue.message, issue.path as (string | number)[]);
  }
  return buildTopology(r.data);
}
