/**
 * A generated fabric for benchmarks: `hostBridges` host bridges (each its own PCI domain, as large
 * servers number them), each with `rootPorts` root ports -> one switch with `dsps` downstream ports
 * -> one multi-function device with `functions` functions. Every other downstream port has ACS
 * redirect on, so the matrix holds BUS_ADDR and THRU_HOST_BRIDGE pairs.
 */
export function generatedFabric({
  hostBridges = 4,
  rootPorts = 4,
  dsps = 32,
  functions = 8,
  cpu = { vendor: 'AMD', family: 0x19 },
} = {}) {
  const hex2 = (n) => n.toString(16).padStart(2, '0');
  const isolated = { cap: ['SV', 'RR', 'CR', 'UF'], ctrl: ['SV', 'RR', 'CR', 'UF'] };
  const open = { cap: ['SV', 'RR', 'CR', 'UF'], ctrl: ['SV', 'UF'] };
  const hbs = [];
  for (let h = 0; h < hostBridges; h++) {
    let bus = 1;
    const devices = [{ bdf: '00:00.0', kind: 'host-bridge', vendor: 0x1022, device: 0x14a4 }];
    for (let r = 0; r < rootPorts; r++) {
      const uspBus = bus++;
      const dspBus = bus++;
      const ports = [];
      for (let d = 0; d < dsps; d++) {
        const epBus = bus++;
        ports.push({
          bdf: `${hex2(dspBus)}:${hex2(d)}.0`,
          kind: 'switch-downstream',
          acs: d % 2 ? isolated : open,
          children: Array.from({ length: functions }, (_, f) => ({
            bdf: `${hex2(epBus)}:00.${f}`,
            kind: 'endpoint',
            class: 'nvme',
          })),
        });
      }
      devices.push({
        bdf: `00:${hex2(r + 1)}.1`,
        kind: 'root-port',
        acs: isolated,
        children: [{ bdf: `${hex2(uspBus)}:00.0`, kind: 'switch-upstream', children: ports }],
      });
    }
    hbs.push({ name: `hb${h}`, domain: h, bus: 0, numaNode: h >> 1, devices });
  }
  return { platform: { cpu }, hostBridges: hbs };
}
