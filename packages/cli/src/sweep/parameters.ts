/**
 * The named parameters of `dmasim sweep --vary`: the knobs people compare designs over (I/O size,
 * transfer size, IOMMU mode, ACS, MPS, the NVMe driver), each a rule that changes the scenario
 * document, or its topology where a scenario has no key for it. docs/sweep.md states each rule.
 */
import { parseSize } from '@dmasim/core';
import { CliError, EXIT_USAGE } from '../errors';
import { isDoc, type Doc, type ScenarioVariant } from './scenario-variant';
import type { SweepValue } from './types';

export interface NamedParameter {
  key: string;
  /** Values to show in --help. */
  example: string;
  /** One line for --help. */
  help: string;
  /** Rejects a value outside the parameter's vocabulary (a usage error). */
  check?(value: SweepValue): void;
  /** Changes the variant for one value. */
  apply(v: ScenarioVariant, value: SweepValue): void;
}

function usage(key: string, value: SweepValue, expected: string): CliError {
  return new CliError(
    `--vary ${key}: unknown value "${String(value)}": expected ${expected}`,
    EXIT_USAGE,
  );
}

/** on/off, true/false -> boolean. */
function onOff(value: SweepValue): boolean | undefined {
  if (value === true || value === 'on') return true;
  if (value === false || value === 'off') return false;
  return undefined;
}

function sizeBytes(v: unknown): number | undefined {
  return typeof v === 'number' ? v : typeof v === 'string' ? parseSize(v) : undefined;
}

/**
 * Rejects a value of a size parameter that is no size at all ("4kib", -4096, true): the scenario
 * loader would only say that the step matches none of its forms. Whether a size fits (ioSize=1000)
 * is still for the loader to say, at the grid point.
 */
function checkSize(key: string, value: SweepValue): void {
  const n = sizeBytes(value);
  if (n === undefined || !Number.isSafeInteger(n) || n < 0) {
    throw usage(key, value, 'a size: bytes, or a number with KiB, MiB, GiB or TiB (16KiB)');
  }
}

/** Every PCI function of a topology document (host bridges' devices and their children). */
function topologyDevices(topo: Doc): Doc[] {
  const out: Doc[] = [];
  const walk = (list: unknown) => {
    if (!Array.isArray(list)) return;
    for (const d of list) {
      if (!isDoc(d)) continue;
      out.push(d);
      walk(d.children);
    }
  };
  for (const hb of Array.isArray(topo.hostBridges) ? topo.hostBridges : []) {
    if (isDoc(hb)) walk(hb.devices);
  }
  return out;
}

/** The scenario's `nvme` mapping, created when absent. */
function nvmeSettings(v: ScenarioVariant): Doc {
  if (!isDoc(v.doc.nvme)) v.doc.nvme = {};
  return v.doc.nvme as Doc;
}

/**
 * What the kernel enables on a port with ACS (pci_std_enable_acs(): SV, RR, CR, UF, as in
 * examples/topologies/switch-acs-redirect.yaml); RR and CR are what pci_bridge_has_acs_redir()
 * sees (reference §1.2).
 */
const ACS_ON = ['SV', 'RR', 'CR', 'UF'];
/** The bits pci=disable_acs_redir= clears, the ones pci_bridge_has_acs_redir() tests (§1.2). */
const ACS_REDIR = ['RR', 'CR', 'EC'];

const list = (v: unknown): string[] => (Array.isArray(v) ? v.map(String) : []);
const union = (a: string[], b: string[]) => [...a, ...b.filter((x) => !a.includes(x))];

export const NAMED_PARAMETERS: readonly NamedParameter[] = [
  {
    key: 'ioSize',
    example: '4KiB,16KiB,128KiB',
    help: "every nvme step's ioSize (inside repeats too)",
    check: (value) => checkSize('ioSize', value),
    apply(v, value) {
      const nvme = v.steps().filter((s) => isDoc(s.step.nvme));
      if (nvme.length === 0) {
        throw new CliError('--vary ioSize: the scenario has no nvme step', EXIT_USAGE);
      }
      for (const s of nvme) (s.step.nvme as Doc).ioSize = value;
    },
  },
  {
    key: 'size',
    example: '256KiB,1MiB,4MiB',
    help: 'the transfer size: each alloc size and length equal to the largest alloc size',
    check: (value) => checkSize('size', value),
    apply(v, value) {
      const steps = v.steps();
      const allocs = steps.map((s) => s.step.alloc).filter(isDoc);
      const sizes = allocs.map((a) => sizeBytes(a.size)).filter((n) => n !== undefined);
      if (sizes.length === 0) {
        throw new CliError('--vary size: the scenario allocates no buffer with a size', EXIT_USAGE);
      }
      const largest = Math.max(...sizes);
      const swap = (holder: unknown, field: 'size' | 'length') => {
        if (isDoc(holder) && sizeBytes(holder[field]) === largest) holder[field] = value;
      };
      for (const a of allocs) swap(a, 'size');
      for (const { step } of steps) {
        swap(step.dma, 'length');
        swap(step.nvme, 'length');
        swap(step.fill, 'length');
        if (isDoc(step.verify)) {
          swap(step.verify.a, 'length');
          swap(step.verify.b, 'length');
        }
      }
    },
  },
  {
    key: 'iommu',
    example: 'off,passthrough,strict,lazy',
    help: 'platform.iommu: off (enabled: false), else on in that mode; other fields kept',
    check(value) {
      if (!['off', 'passthrough', 'strict', 'lazy'].includes(String(value))) {
        throw usage('iommu', value, 'off, passthrough, strict or lazy');
      }
    },
    apply(v, value) {
      const base = v.platformKey('iommu');
      const iommu = isDoc(base) ? base : {};
      if (value === 'off') iommu.enabled = false;
      else Object.assign(iommu, { enabled: true, mode: value });
      v.setPlatformKey('iommu', iommu);
    },
  },
  {
    key: 'acs',
    example: 'on,off',
    help: 'on: SV RR CR UF on every switch downstream port; off: RR CR EC cleared everywhere',
    check(value) {
      if (onOff(value) === undefined) throw usage('acs', value, 'on or off');
    },
    apply(v, value) {
      const devices = topologyDevices(v.topology());
      if (onOff(value)) {
        for (const d of devices.filter((x) => x.kind === 'switch-downstream')) {
          const acs = isDoc(d.acs) ? d.acs : {};
          const ctrl = union(list(acs.ctrl), ACS_ON);
          d.acs = { ...acs, ...(acs.cap ? { cap: union(list(acs.cap), ctrl) } : {}), ctrl };
        }
      } else {
        for (const d of devices.filter((x) => isDoc(x.acs))) {
          const acs = d.acs as Doc;
          // Keep the capability as it was (it defaults to the control bits when omitted).
          const cap = acs.cap ?? acs.ctrl ?? [];
          d.acs = { ...acs, cap, ctrl: list(acs.ctrl).filter((b) => !ACS_REDIR.includes(b)) };
        }
      }
    },
  },
  {
    key: 'mps',
    example: '128,256,512',
    help: 'Max Payload Size of every PCI function (a path uses the lowest)',
    apply(v, value) {
      for (const d of topologyDevices(v.topology())) d.mps = value;
    },
  },
  {
    key: 'mrrs',
    example: '512,4096',
    help: 'Max Read Request Size of every PCI function',
    apply(v, value) {
      for (const d of topologyDevices(v.topology())) d.mrrs = value;
    },
  },
  {
    key: 'sgls',
    example: 'on,off',
    help: 'nvme.sgls: the controllers support SGLs',
    check(value) {
      if (onOff(value) === undefined) throw usage('sgls', value, 'on or off');
    },
    apply(v, value) {
      nvmeSettings(v).sgls = onOff(value);
    },
  },
  {
    key: 'sglThreshold',
    example: '0,32KiB',
    help: 'nvme.sglThreshold (the sgl_threshold module parameter)',
    check: (value) => checkSize('sglThreshold', value),
    apply(v, value) {
      nvmeSettings(v).sglThreshold = value;
    },
  },
  {
    key: 'release',
    example: 'v5.x,2026',
    help: 'nvme.release: the NVMe driver modelled',
    apply(v, value) {
      // YAML reads 2026 as a number; the release is a name.
      nvmeSettings(v).release = String(value);
    },
  },
];

export const NAMED_PARAMETER_KEYS: readonly string[] = NAMED_PARAMETERS.map((p) => p.key);

export function namedParameter(key: string): NamedParameter | undefined {
  return NAMED_PARAMETERS.find((p) => p.key === key);
}
