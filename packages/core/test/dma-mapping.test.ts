/**
 * The generic DMA mapping layer's return conventions (reference §3.3, §11: the map_sg contract).
 * The ops here are test doubles whose map_sg returns whatever a case needs, so only the generic
 * layer's own behaviour is under test.
 */
import {
  DMA_MAPPING_ERROR,
  DmaDataDirection,
  DmaDevice,
  EINVAL,
  EIO,
  ENODEV,
  ENOMEM,
  EREMOTEIO,
  KernelLog,
  SgTable,
  deviceReleaseDriver,
  dmaGetMergeBoundary,
  dmaMapSgAttrs,
  dmaMapSgtable,
  dmaMapSgtableErrorText,
  dmaMappingError,
  dmaMaxMappingSize,
  dmaOptMappingSize,
  dmaPciP2pdmaSupported,
  dmaSetMask,
  dmaUnmapSgtable,
  pagesFromPfns,
  sgAllocTableFromPagesSegment,
  type DmaMapOps,
  type Scatterlist,
} from '../src';

const { DMA_TO_DEVICE } = DmaDataDirection;

/** Records calls; map_sg returns `result(nents)`. */
function scriptedOps(result: (nents: number) => number, extra: Partial<DmaMapOps> = {}) {
  const calls: { op: string; nents?: number; addr?: number }[] = [];
  const ops: DmaMapOps = {
    name: 'scripted',
    capabilities: { pciP2pdma: false, mergesSegments: true, mapResource: false, bounce: false },
    mapPhys: (_d, phys) => phys,
    unmapPhys: () => undefined,
    mapSg: (_d, _sgl: Scatterlist, nents) => {
      calls.push({ op: 'map_sg', nents });
      return result(nents);
    },
    unmapSg: (_d, _sgl, nents) => {
      calls.push({ op: 'unmap_sg', nents });
    },
    dmaToPhys: (_d, a) => a,
    debugMappingError: (_d, addr) => {
      calls.push({ op: 'mapping_error', addr });
    },
    debugDriverUnbound: () => {
      calls.push({ op: 'unbound' });
    },
    ...extra,
  };
  return { ops, calls };
}

/** Three entries: pfns 0x100, 0x102, 0x104 are not contiguous, so one entry each. */
function table(): SgTable {
  const sgt = new SgTable();
  const ret = sgAllocTableFromPagesSegment(
    sgt,
    pagesFromPfns([0x100, 0x102, 0x104]),
    0,
    3 * 4096,
    65536,
  );
  expect(ret).toBe(0);
  expect(sgt.origNents).toBe(3);
  return sgt;
}

function device(ops: DmaMapOps, log = new KernelLog()): DmaDevice {
  return new DmaDevice('0000:03:00.0', undefined, ops, log);
}

describe('§3.3 dma_map_sgtable', () => {
  it('maps orig_nents entries and stores the mapped count in nents (merging ops return fewer)', () => {
    // The ops merge the three entries into two: dma_map_sgtable returns 0 and nents = 2, while
    // orig_nents stays 3 and is what dma_unmap_sgtable passes back.
    const { ops, calls } = scriptedOps(() => 2);
    const sgt = table();
    const dev = device(ops);
    expect(dmaMapSgtable(dev, sgt, DMA_TO_DEVICE)).toBe(0);
    expect(sgt.nents).toBe(2);
    expect(sgt.origNents).toBe(3);
    dmaUnmapSgtable(dev, sgt, DMA_TO_DEVICE);
    expect(calls).toEqual([
      { op: 'map_sg', nents: 3 },
      { op: 'unmap_sg', nents: 3 },
    ]);
  });

  it.each([
    ['-EINVAL', -EINVAL],
    ['-ENOMEM', -ENOMEM],
    ['-EIO', -EIO],
    ['-EREMOTEIO', -EREMOTEIO],
  ])('returns %s from the ops unchanged and leaves nents alone', (_n, code) => {
    const { ops } = scriptedOps(() => code);
    const sgt = table();
    const log = new KernelLog();
    expect(dmaMapSgtable(device(ops, log), sgt, DMA_TO_DEVICE)).toBe(code);
    expect(sgt.nents).toBe(3);
    expect(log.messages()).toEqual([]);
  });

  it.each([
    ['0 (an old-style op)', 0],
    ['-ENODEV (not allowed)', -ENODEV],
  ])('turns %s into -EIO with one WARN per kernel', (_n, bad) => {
    const { ops } = scriptedOps(() => bad);
    const log = new KernelLog();
    const dev = device(ops, log);
    expect(dmaMapSgtable(dev, table(), DMA_TO_DEVICE)).toBe(-EIO);
    expect(dmaMapSgtable(dev, table(), DMA_TO_DEVICE)).toBe(-EIO);
    const warns = log.messages();
    expect(warns).toHaveLength(1); // WARN_ON_ONCE
    expect(warns[0]!.msg).toContain(`map_sg returned ${bad}`);
    expect(warns[0]!.msg).toContain('__dma_map_sg_attrs');
  });

  it('a device without a DMA mask: WARN and 0 mapped entries, not an error code', () => {
    const { ops, calls } = scriptedOps(() => 3);
    const log = new KernelLog();
    const dev = device(ops, log);
    dev.dmaMask = 0;
    const sgt = table();
    expect(dmaMapSgtable(dev, sgt, DMA_TO_DEVICE)).toBe(0);
    expect(sgt.nents).toBe(0);
    expect(calls).toEqual([]);
    expect(log.messages()[0]!.msg).toContain('no DMA mask');
  });

  it('an invalid direction is a kernel BUG: the model throws', () => {
    const { ops } = scriptedOps(() => 3);
    expect(() => dmaMapSgtable(device(ops), table(), 3 as DmaDataDirection)).toThrow(
      /invalid DMA direction 3/,
    );
  });

  it('explains each error code in the words of dma-api.rst', () => {
    expect(dmaMapSgtableErrorText(-EREMOTEIO)).toMatch(/cannot access P2PDMA memory/);
    expect(dmaMapSgtableErrorText(-ENOMEM)).toMatch(/Should succeed if retried later/);
    expect(dmaMapSgtableErrorText(-EINVAL)).toMatch(/Will fail again if retried/);
    expect(dmaMapSgtableErrorText(-EIO)).toMatch(/Legacy error code/);
  });
});

describe('§3.3 dma_map_sg_attrs', () => {
  it('returns the mapped count, and 0 for every error (unsigned int flattens them)', () => {
    for (const [ret, want] of [
      [3, 3],
      [1, 1],
      [-EINVAL, 0],
      [-ENOMEM, 0],
      [-EIO, 0],
      [-EREMOTEIO, 0],
      [-ENODEV, 0],
    ] as const) {
      const { ops } = scriptedOps(() => ret);
      const sgt = table();
      expect(dmaMapSgAttrs(device(ops), sgt.sgl!, 3, DMA_TO_DEVICE)).toBe(want);
    }
  });
});

describe('§3.3 queries with the kernel defaults', () => {
  it('dma_pci_p2pdma_supported follows the ops flag (DMA_F_PCI_P2PDMA_SUPPORTED)', () => {
    const no = scriptedOps(() => 1).ops;
    const yes = { ...no, capabilities: { ...no.capabilities, pciP2pdma: true } };
    expect(dmaPciP2pdmaSupported(device(no))).toBe(false);
    expect(dmaPciP2pdmaSupported(device(yes))).toBe(true);
  });

  it('max/opt mapping size and merge boundary default to SIZE_MAX, SIZE_MAX and 0', () => {
    const { ops } = scriptedOps(() => 1);
    const dev = device(ops);
    expect(dmaMaxMappingSize(dev)).toBe(Number.MAX_SAFE_INTEGER);
    expect(dmaOptMappingSize(dev)).toBe(Number.MAX_SAFE_INTEGER);
    expect(dmaGetMergeBoundary(dev)).toBe(0);
  });

  it('dma_opt_mapping_size is min(ops optimum, dma_max_mapping_size)', () => {
    // 128 KiB optimum under a 64 KiB maximum -> 64 KiB; under SIZE_MAX -> 128 KiB.
    const a = scriptedOps(() => 1, { optMappingSize: () => 131072, maxMappingSize: () => 65536 });
    const b = scriptedOps(() => 1, { optMappingSize: () => 131072, getMergeBoundary: () => 4095 });
    expect(dmaOptMappingSize(device(a.ops))).toBe(65536);
    expect(dmaOptMappingSize(device(b.ops))).toBe(131072);
    expect(dmaGetMergeBoundary(device(b.ops))).toBe(4095);
  });

  it('dma_mapping_error tells the debug hook, and compares with DMA_MAPPING_ERROR', () => {
    const { ops, calls } = scriptedOps(() => 1);
    const dev = device(ops);
    expect(dmaMappingError(dev, 0x1000)).toBe(false);
    expect(dmaMappingError(dev, DMA_MAPPING_ERROR)).toBe(true);
    expect(calls).toEqual([
      { op: 'mapping_error', addr: 0x1000 },
      { op: 'mapping_error', addr: DMA_MAPPING_ERROR },
    ]);
  });

  it('device_release_driver tells the debug hook once, while a driver is bound', () => {
    const { ops, calls } = scriptedOps(() => 1);
    const dev = device(ops);
    dev.driver = 'nvme';
    deviceReleaseDriver(dev);
    deviceReleaseDriver(dev);
    expect(calls).toEqual([{ op: 'unbound' }]);
  });

  it('dma_set_mask refuses masks below 24 bits and keeps 32-bit masks exact', () => {
    const { ops } = scriptedOps(() => 1);
    const dev = device(ops);
    expect(dmaSetMask(dev, 16)).toBe(-EIO);
    expect(dmaSetMask(dev, 32)).toBe(0);
    expect(dev.dmaMask).toBe(0xffff_ffff);
    expect(dmaSetMask(dev, 64)).toBe(0);
    expect(dev.dmaMask).toBe(Number.MAX_SAFE_INTEGER);
  });
});
