/**
 * `dmasim topo`: load a topology (a topology file, lspci output, or a sysfs tree), and print
 * its PCI tree, IOMMU groups and, for every pair of endpoints, the P2PDMA map type and distance with
 * the kernel's reasons; or print it as JSON; or export the imported topology as a topology file.
 */
import { readFileSync, statSync, writeFileSync } from 'node:fs';
import { Command, InvalidArgumentError, Option } from 'commander';
import {
  analyzeTopology,
  CPU_VENDORS,
  importLspci,
  importSysfs,
  loadTopologyFile,
  parseIntText,
  topoJson,
  topologyFromSpecObject,
  topologySpecToYaml,
  type CpuInfo,
  type PciTopology,
} from '@dmasim/core';
import type { CliContext, CommandModule } from '../context';
import { CliError, EXIT_USAGE } from '../errors';
import { renderTopoReport } from '../render/report';

export const DEFAULT_SYSFS_DIR = '/sys/bus/pci/devices';

type SourceFormat = 'yaml' | 'lspci' | 'sysfs';

export interface TopoOptions {
  json?: boolean;
  from: SourceFormat;
  cpu?: CpuInfo;
  export?: 'yaml';
  output?: string;
}

/** `--cpu AMD:0x19` -> { vendor: 'AMD', family: 0x19 }; the vendor alone means family 0. */
export function parseCpuOption(value: string): CpuInfo {
  const m = /^([A-Za-z]+)(?::(.+))?$/.exec(value.trim());
  const vendor = m ? CPU_VENDORS.find((v) => v.toLowerCase() === m[1].toLowerCase()) : undefined;
  const family = m?.[2] === undefined ? 0 : parseIntText(m[2]);
  if (!m || vendor === undefined || family === undefined) {
    throw new InvalidArgumentError(
      `expected VENDOR:FAMILY, VENDOR one of ${CPU_VENDORS.join(', ')} and FAMILY a number (for example AMD:0x19 or Intel:6).`,
    );
  }
  return { vendor, family };
}

const HELP_EXAMPLES = `
Examples:
  $ dmasim topo examples/topologies/switch-2nvme-nic.yaml
  $ dmasim topo examples/topologies/switch-acs-redirect.yaml --json
  $ (lspci -tvnn; sudo lspci -vvvnn) > machine.txt; dmasim topo --from lspci machine.txt
  $ dmasim topo --from sysfs                # this machine, from /sys/bus/pci/devices
  $ dmasim topo --from sysfs --cpu AMD:0x19 --export yaml -o machine.yaml

Exit status: 0 success, 1 invalid input (reported as file:line:column: message), 2 usage error.`;

interface Loaded {
  topo: PciTopology;
  /** The spec to export. */
  spec: Parameters<typeof topologySpecToYaml>[0];
  source: string;
  /** The importer's notes: what it guessed or left out. */
  notes: string[];
  /** Model text per BDF, written as comments in an exported file. */
  comments?: Record<string, string>;
}

function requireReadable(path: string, what: 'file' | 'directory'): void {
  // statSync throws ENOENT/EACCES, which main() reports as "<path>: no such file or directory".
  const st = statSync(path);
  if (what === 'file' && st.isDirectory())
    throw new CliError(`${path}: is a directory, expected a file`);
  if (what === 'directory' && !st.isDirectory()) throw new CliError(`${path}: not a directory`);
}

async function load(path: string | undefined, opts: TopoOptions, cmd: Command): Promise<Loaded> {
  switch (opts.from) {
    case 'yaml': {
      if (path === undefined)
        cmd.error('error: missing topology file: dmasim topo FILE (or --from sysfs)', {
          exitCode: EXIT_USAGE,
        });
      // The loader reports an unreadable file itself, as `<file>: cannot read topology file: ...`.
      let topo = loadTopologyFile(path);
      if (opts.cpu) {
        topo = topologyFromSpecObject(
          { ...topo.spec, platform: { ...topo.spec.platform, cpu: opts.cpu } },
          path,
        );
      }
      return { topo, spec: topo.spec, source: path, notes: [] };
    }
    case 'lspci': {
      if (path === undefined)
        cmd.error('error: --from lspci needs the file that holds the lspci output', {
          exitCode: EXIT_USAGE,
        });
      requireReadable(path, 'file');
      const r = importLspci(readFileSync(path, 'utf8'), path, opts.cpu ? { cpu: opts.cpu } : {});
      return {
        topo: topologyFromSpecObject(r.spec, path),
        spec: r.spec,
        source: path,
        notes: r.notes,
        comments: r.descriptions,
      };
    }
    case 'sysfs': {
      const dir = path ?? DEFAULT_SYSFS_DIR;
      requireReadable(dir, 'directory');
      const r = await importSysfs(dir, opts.cpu ? { cpu: opts.cpu } : {});
      return {
        topo: topologyFromSpecObject(r.spec, dir),
        spec: r.spec,
        source: dir,
        notes: r.notes,
        comments: r.descriptions,
      };
    }
  }
}

function exportHeader(l: Loaded, opts: TopoOptions, version: string): string[] {
  const how = opts.from === 'yaml' ? l.source : `--from ${opts.from} ${l.source}`;
  const header = [`Exported by dmasim ${version}: dmasim topo ${how} --export yaml`];
  if (l.notes.length > 0) header.push('', 'Importer notes:', ...l.notes.map((n) => `  ${n}`));
  return header;
}

export async function runTopo(
  path: string | undefined,
  opts: TopoOptions,
  cmd: Command,
  ctx: CliContext,
): Promise<void> {
  const { out } = ctx;
  if (opts.output !== undefined && opts.export === undefined) {
    cmd.error(
      'error: -o/--output only goes with --export yaml (the analysis is written to stdout)',
      { exitCode: EXIT_USAGE },
    );
  }
  const loaded = await load(path, opts, cmd);
  for (const n of loaded.notes) out.note(n);

  if (opts.export === 'yaml') {
    const text = topologySpecToYaml(
      loaded.spec,
      exportHeader(loaded, opts, ctx.version),
      loaded.comments,
    );
    if (opts.output !== undefined) {
      writeFileSync(opts.output, text);
      out.err(`dmasim: wrote ${opts.output}`);
    } else {
      out.write(text.endsWith('\n') ? text : `${text}\n`);
    }
    return;
  }

  const analysis = analyzeTopology(loaded.topo);
  if (opts.json) {
    out.write(`${JSON.stringify(topoJson(analysis), null, 2)}\n`);
    return;
  }
  const width = Math.max(60, Math.min(ctx.out.io.stdout.columns ?? 100, 160));
  out.out(...renderTopoReport(analysis, out.c, { source: loaded.source, width }));
}

export const topoCommand: CommandModule = {
  register(program, ctx) {
    program
      .command('topo')
      .summary('show a topology: PCI tree, IOMMU groups, P2PDMA map type of every endpoint pair')
      .description(
        'Load a PCI topology and show what the kernel would compute for it: the IOMMU groups and, for ' +
          'every pair of endpoints, the P2PDMA map type (BUS_ADDR, THRU_HOST_BRIDGE, NOT_SUPPORTED), the ' +
          "distance and the kernel's reasons. PATH is a topology file (YAML); with --from lspci, a file " +
          'holding `lspci -tvnn` output, optionally followed by `lspci -vvvnn` output; with --from sysfs, ' +
          `a directory like ${DEFAULT_SYSFS_DIR} (the default).`,
      )
      .argument('[path]', 'topology file, lspci output file, or sysfs directory')
      .option('--json', 'print one JSON document (schemaVersion 1) instead of the report')
      .addOption(
        new Option('--from <format>', 'what PATH holds')
          .choices(['yaml', 'lspci', 'sysfs'])
          .default('yaml'),
      )
      .addOption(
        new Option(
          '--cpu <vendor:family>',
          "override the CPU (the importer's guess, or the file's), e.g. AMD:0x19",
        ).argParser(parseCpuOption),
      )
      .addOption(
        new Option(
          '--export <format>',
          'write the topology as a topology file instead of analysing it',
        )
          .choices(['yaml'])
          .conflicts('json'),
      )
      .option('-o, --output <file>', 'with --export: write to FILE instead of stdout')
      .addHelpText('after', HELP_EXAMPLES)
      .action(async (path: string | undefined, opts: TopoOptions, cmd: Command) => {
        await runTopo(path, opts, cmd, ctx);
      });
  },
};
