/** Random fabrics for property tests, built procedurally from a seed (mulberry32). */
import type { TopologySpecInput } from '@dmasim/core';

export function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const ACS_BITS = ['SV', 'RR', 'CR', 'UF', 'EC'];

export function randomFabric(seed: number): TopologySpecInput {
  const rnd = mulberry32(seed);
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rnd() * xs.length)];
  const acs = () => {
    if (rnd() < 0.5) return undefined;
    const ctrl = ACS_BITS.filter(() => rnd() < 0.3);
    return { cap: ACS_BITS, ctrl };
  };
  const hex = (n: number) => n.toString(16).padStart(2, '0');
  let nextBus = 1;
  const endpoints = (bus: number, n: number) =>
    Array.from({ length: n }, (_, i) => ({
      bdf: `${hex(bus)}:00.${i}`,
      kind: 'endpoint' as const,
      acs: acs(),
    }));
  // a port's subtree: endpoints, or a switch (with probability falling with depth)
  const below = (depth: number): Record<string, unknown>[] => {
    const bus = nextBus++;
    if (depth < 3 && rnd() < 0.5) {
      const dsps = 1 + Math.floor(rnd() * 3);
      const dspBus = nextBus++;
      return [
        {
          bdf: `${hex(bus)}:00.0`,
          kind: 'switch-upstream',
          acs: acs(),
          children: Array.from({ length: dsps }, (_, i) => ({
            bdf: `${hex(dspBus)}:${hex(i)}.0`,
            kind: 'switch-downstream',
            acs: acs(),
            children: below(depth + 1),
          })),
        },
      ];
    }
    return endpoints(bus, 1 + Math.floor(rnd() * 2));
  };
  const hostIds: [number, number][] = [
    [0x1022, 0x14a4],
    [0x8086, 0x2020],
    [0x8086, 0x3c00],
    [0x8086, 0x1234],
  ];
  const nHb = 1 + Math.floor(rnd() * 2);
  const hostBridges = [];
  for (let h = 0; h < nHb; h++) {
    const rootBus = h * 0x80;
    nextBus = rootBus + 1;
    const [vendor, device] = pick(hostIds);
    const rps = 1 + Math.floor(rnd() * 3);
    hostBridges.push({
      name: `hb${h}`,
      bus: rootBus,
      numaNode: h,
      devices: [
        { bdf: `${hex(rootBus)}:00.0`, kind: 'host-bridge' as const, vendor, device },
        ...Array.from({ length: rps }, (_, i) => ({
          bdf: `${hex(rootBus)}:${hex(i + 1)}.0`,
          kind: 'root-port' as const,
          acs: acs(),
          children: below(0),
        })),
      ],
    });
  }
  const cpu = pick([
    { vendor: 'AMD' as const, family: 0x19 },
    { vendor: 'AMD' as const, family: 0x15 },
    { vendor: 'Intel' as const, family: 6 },
    { vendor: 'ARM' as const, family: 0 },
  ]);
  return { platform: { cpu }, hostBridges } as TopologySpecInput;
}
