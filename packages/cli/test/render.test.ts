/** The CLI's small pieces: option parsing, colour policy, text layout, reason grouping. */
import { analyzeTopology, topologyFromObject } from '@dmasim/core';
import pc from 'picocolors';
import { parseCpuOption } from '../src/commands/topo';
import { colorsEnabled } from '../src/io';
import { groupReasons } from '../src/render/reasons';
import { alignColumns, cell, wrapList } from '../src/render/text';
import { renderTree } from '../src/render/tree';
import { stripAnsi } from './helpers';

test('--cpu VENDOR:FAMILY', () => {
  expect(parseCpuOption('AMD:0x19')).toEqual({ vendor: 'AMD', family: 0x19 });
  expect(parseCpuOption('intel:6')).toEqual({ vendor: 'Intel', family: 6 });
  expect(parseCpuOption('ARM')).toEqual({ vendor: 'ARM', family: 0 });
  expect(() => parseCpuOption('AMD:zen')).toThrow(/VENDOR:FAMILY/);
  expect(() => parseCpuOption('Zilog:80')).toThrow(/VENDOR:FAMILY/);
});

test('colours: a terminal, unless NO_COLOR; FORCE_COLOR forces them', () => {
  expect(colorsEnabled({ write: () => true, isTTY: true }, {})).toBe(true);
  expect(colorsEnabled({ write: () => true, isTTY: false }, {})).toBe(false);
  expect(colorsEnabled({ write: () => true, isTTY: true }, { NO_COLOR: '1' })).toBe(false);
  expect(colorsEnabled({ write: () => true, isTTY: true }, { NO_COLOR: '' })).toBe(true);
  expect(colorsEnabled({ write: () => true }, { FORCE_COLOR: '1' })).toBe(true);
  expect(colorsEnabled({ write: () => true, isTTY: true }, { FORCE_COLOR: '0' })).toBe(true);
});

test('alignColumns pads on plain text, so colours do not shift columns', () => {
  const red = pc.createColors(true).red;
  const out = alignColumns([
    [cell('a', red), cell('bb'), cell('')],
    [cell('ccc'), cell('d', red), cell('e')],
  ]);
  expect(out.map(stripAnsi)).toEqual(['a    bb', 'ccc  d   e']);
});

test('wrapList wraps at the width and indents continuation lines', () => {
  const items = ['alpha', 'beta', 'gamma', 'delta'].map((s) => ({ plain: s, shown: s }));
  expect(wrapList('x: ', items, 20)).toEqual(['x: alpha, beta,', '   gamma, delta']);
});

const acsSpec = {
  platform: { cpu: { vendor: 'Intel', family: 6 } },
  hostBridges: [
    {
      name: 'pci0000:00',
      bus: 0,
      devices: [
        { bdf: '00:00.0', kind: 'host-bridge', vendor: 0x8086, device: 0x1234 },
        {
          bdf: '00:01.0',
          kind: 'root-port',
          children: [
            {
              bdf: '01:00.0',
              kind: 'switch-upstream',
              children: [
                {
                  bdf: '02:00.0',
                  kind: 'switch-downstream',
                  acs: { ctrl: ['SV', 'UF', 'RR'] },
                  children: [{ bdf: '03:00.0', kind: 'endpoint', name: 'a' }],
                },
                {
                  bdf: '02:01.0',
                  kind: 'switch-downstream',
                  acs: { ctrl: [] },
                  children: [{ bdf: '04:00.0', kind: 'endpoint', name: 'b' }],
                },
              ],
            },
          ],
        },
      ],
    },
  ],
};

test('the tree puts redirecting ACS bits first and marks an ACS capability with nothing enabled', () => {
  const text = renderTree(topologyFromObject(acsSpec), pc.createColors(false)).join('\n');
  expect(text).toMatch(/\+-00\.0-\[03\]-- +switch-downstream +ACS ctl RR SV UF/);
  expect(text).toMatch(/\\-01\.0-\[04\]-- +switch-downstream +ACS ctl -/);
  expect(text).toMatch(/\\-01\.0-\[01-04\]-- +root-port$/m);
});

test('groupReasons: one entry per set of pairs, client prefixes dropped, BUS_ADDR pairs left out', () => {
  const a = analyzeTopology(topologyFromObject(acsSpec));
  const groups = groupReasons(a.pairs);
  const all = groups.flatMap((g) => g.reasons);
  expect(new Set(all).size).toBe(all.length);
  expect(all.some((r) => r.startsWith('0000:04:00.0: ACS redirect'))).toBe(false);
  expect(all).toContain('ACS redirect is set between the client and provider (0000:03:00.0)');
  for (const g of groups) for (const p of g.pairs) expect(p.mapType).not.toBe('BUS_ADDR');
});
