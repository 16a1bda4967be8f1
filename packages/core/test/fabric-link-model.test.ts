/**
 * The PCIe link-efficiency model of pcie-bench/pcie-model (Neugebauer et al., SIGCOMM 2018), as
 * restated in anchors §1. Expected numbers are worked out by hand in the comments (issue 6: fabric).
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  DEFAULT_LINK_PARAMS,
  effectiveBandwidth,
  linkRawGbps,
  tlpBandwidthGbps,
  tlpOverheadBytes,
  tlpTraffic,
  type LinkParams,
} from '../src/fabric/link-model';
import { PCIE_DLLP_INTERVALS } from '../src/fabric/pcie-dllp-intervals';

const GEN3_X8: LinkParams = { gen: 3, width: 8, ...DEFAULT_LINK_PARAMS };
/*
 * gen3 x8, MPS 256 (anchors §1): raw = 8 GT/s x 128/130 x 8 = 63.01538 Gb/s; the table gives
 * ackLimit 203 and fcInterval 203 symbol times, so the overhead is 8/203 + 8/203 + 4/1538
 * = 0.0394089 + 0.0394089 + 0.0026008 = 0.0814186 and TLP bandwidth = 63.01538 x 0.9185814
 * = 57.8848 Gb/s.
 */
const GEN3_X8_TLP = 57.8848;

describe('PCIe link model: raw and TLP-layer bandwidth (anchors §1, issue 6: fabric)', () => {
  it('raw Gb/s = GT/s x encoding x lanes', () => {
    expect(linkRawGbps(3, 8)).toBeCloseTo(63.0154, 4); // 8 x 128/130 x 8
    expect(linkRawGbps(1, 1)).toBeCloseTo(2, 10); // 2.5 x 8/10 x 1
    expect(linkRawGbps(2, 16)).toBeCloseTo(64, 10); // 5 x 8/10 x 16
    expect(linkRawGbps(5, 16)).toBeCloseTo(504.1231, 4); // 32 x 128/130 x 16
    expect(linkRawGbps(6, 16)).toBeCloseTo(968, 10); // 64 x 242/256 x 16 (FLIT-mode guess)
    expect(linkRawGbps(7, 32)).toBeCloseTo(3872, 10); // 128 x 242/256 x 32
  });

  it('TLP bandwidth deducts ACK and UpdateFC DLLPs and SKIP ordered sets', () => {
    expect(tlpBandwidthGbps({ gen: 3, width: 8, mps: 256 })).toBeCloseTo(GEN3_X8_TLP, 3);
    // gen3 x16 MPS 256: ack 168, fc 168: 16/168 + 4/1538 = 0.0952381 + 0.0026008 = 0.0978389;
    // 126.03077 x 0.9021611 = 113.7001.
    expect(tlpBandwidthGbps({ gen: 3, width: 16, mps: 256 })).toBeCloseTo(113.7001, 3);
    // gen6 x16 repeats the gen5 row: 968 x 0.9021611 = 873.2920.
    expect(tlpBandwidthGbps({ gen: 6, width: 16, mps: 256 })).toBeCloseTo(873.292, 3);
    // gen1 x32 MPS 2048 has different ACK (148) and UpdateFC (248) intervals: raw 2.5 x 0.8 x 32
    // = 64; 8/148 + 8/248 + 4/1538 = 0.0540541 + 0.0322581 + 0.0026008 = 0.0889130;
    // 64 x 0.9110870 = 58.3096.
    expect(tlpBandwidthGbps({ gen: 1, width: 32, mps: 2048 })).toBeCloseTo(58.3096, 3);
  });

  it('dllpFactor scales only the DLLP term (anchors §1 caveat)', () => {
    // gen3 x8 MPS 256, factor 2: 2 x 16/203 + 4/1538 = 0.1576355 + 0.0026008 = 0.1602363;
    // 63.01538 x 0.8397637 = 52.9180. Factor 0 leaves only SKIP: 63.01538 x (1 - 0.0026008)
    // = 62.8515.
    expect(tlpBandwidthGbps({ gen: 3, width: 8, mps: 256, dllpFactor: 2 })).toBeCloseTo(52.918, 3);
    expect(tlpBandwidthGbps({ gen: 3, width: 8, mps: 256, dllpFactor: 0 })).toBeCloseTo(62.8515, 3);
  });
});

describe('PCIe link model: TLP overhead and traffic (anchors §1, issue 6: fabric)', () => {
  it('header and framing bytes per TLP', () => {
    // 8 framing/DLL + 4 generic header + 12 (64-bit address) = 24; 8-byte address: 20;
    // CplD 8 + 4 + 8 = 20; ECRC adds 4.
    const p64 = { addressBits: 64, ecrc: false } as const;
    expect(tlpOverheadBytes('MWr', p64)).toBe(24);
    expect(tlpOverheadBytes('MRd', p64)).toBe(24);
    expect(tlpOverheadBytes('CplD', p64)).toBe(20);
    expect(tlpOverheadBytes('MWr', { addressBits: 32, ecrc: false })).toBe(20);
    expect(tlpOverheadBytes('MRd', { addressBits: 32, ecrc: true })).toBe(24);
    expect(tlpOverheadBytes('MWr', { addressBits: 64, ecrc: true })).toBe(28);
    expect(tlpOverheadBytes('CplD', { addressBits: 32, ecrc: true })).toBe(24);
  });

  it('a 4096-byte write with MPS 256: 16 MWr TLPs, 16 x 24 + 4096 bytes, nothing back', () => {
    expect(tlpTraffic(GEN3_X8, 'write', 4096)).toEqual({
      requestTlps: 16,
      requestBytes: 4480,
      completionTlps: 0,
      completionBytes: 0,
    });
  });

  it('a 4096-byte read with MRRS 512, MPS 256: 8 MRd out, 16 CplD back', () => {
    // Requests 8 x 24 = 192 bytes; completions 16 x 20 + 4096 = 4416 bytes.
    expect(tlpTraffic(GEN3_X8, 'read', 4096)).toEqual({
      requestTlps: 8,
      requestBytes: 192,
      completionTlps: 16,
      completionBytes: 4416,
    });
    // 1000 bytes: ceil(1000/512) = 2 requests (48 bytes), ceil(1000/256) = 4 completions
    // (4 x 20 + 1000 = 1080 bytes).
    expect(tlpTraffic(GEN3_X8, 'read', 1000)).toEqual({
      requestTlps: 2,
      requestBytes: 48,
      completionTlps: 4,
      completionBytes: 1080,
    });
  });

  it('rcbCompletions splits completions at the RCB instead of the MPS', () => {
    // 4096 / 64 = 64 completions: 64 x 20 + 4096 = 5376 bytes.
    expect(tlpTraffic({ ...GEN3_X8, rcbCompletions: true }, 'read', 4096)).toEqual({
      requestTlps: 8,
      requestBytes: 192,
      completionTlps: 64,
      completionBytes: 5376,
    });
  });
});

describe('PCIe link model: effective bandwidth (anchors §1, issue 6: fabric)', () => {
  it('write: size x tlpBW / wire bytes', () => {
    // 4096 / 4480 x 57.8848 = 52.9232 Gb/s.
    expect(effectiveBandwidth({ gen: 3, width: 8 }, 'write', 4096)).toBeCloseTo(52.9232, 3);
    // 64 bytes: one TLP, 24 + 64 = 88 wire bytes: 64 / 88 x 57.8848 = 42.0980.
    expect(effectiveBandwidth({ gen: 3, width: 8 }, 'write', 64)).toBeCloseTo(42.098, 3);
    // ECRC: 16 x 28 + 4096 = 4544: 4096 / 4544 x 57.8848 = 52.1779.
    expect(effectiveBandwidth({ gen: 3, width: 8, ecrc: true }, 'write', 4096)).toBeCloseTo(
      52.1779,
      3,
    );
    // 32-bit addresses: 16 x 20 + 4096 = 4416: 4096 / 4416 x 57.8848 = 53.6902.
    expect(effectiveBandwidth({ gen: 3, width: 8, addressBits: 32 }, 'write', 4096)).toBeCloseTo(
      53.6902,
      3,
    );
  });

  it('read: the completion direction saturates first for large reads', () => {
    // Completions 4416 bytes per 4096, requests 192 (well below): 4096 / 4416 x 57.8848 = 53.6902.
    expect(effectiveBandwidth({ gen: 3, width: 8 }, 'read', 4096)).toBeCloseTo(53.6902, 3);
    // rcbCompletions on gen4 x4 (raw 16 x 128/130 x 4 = 63.01538; ack = fc = 214: 16/214 +
    // 4/1538 = 0.0773672; TLP 58.1401): 4096 / 5376 x 58.1401 = 44.2972.
    expect(
      effectiveBandwidth({ gen: 4, width: 4, rcbCompletions: true }, 'read', 4096),
    ).toBeCloseTo(44.2972, 3);
  });

  it('read: the request direction saturates first when requests outweigh completions', () => {
    // 1 byte: a 24-byte MRd against a 21-byte CplD; requests limit the rate:
    // 1 x 113.7001 / 24 = 4.73750 Gb/s (gen3 x16).
    expect(effectiveBandwidth({ gen: 3, width: 16 }, 'read', 1)).toBeCloseTo(4.7375, 4);
  });

  it('undefined optional fields fall back to the defaults', () => {
    expect(effectiveBandwidth({ gen: 3, width: 8, mps: undefined }, 'write', 4096)).toBeCloseTo(
      52.9232,
      3,
    );
  });

  /*
   * Values computed with python3 doubles from pcie-model's own formulas (model/pcie.py: Raw and
   * TLP_bw; model/mem_bw.py: write() and read() with BW_Spec(TLP_bw, TLP_bw, BW_RAW), i.e. rx_eff
   * for reads and tx_eff for writes), default Cfg (64-bit, no ECRC, MPS 256, MRRS 512, RCB 64).
   * Compared with toBe: the model must agree to the last bit.
   */
  it('agrees exactly with pcie-model for the same parameters', () => {
    expect(linkRawGbps(3, 8)).toBe(63.01538461538462);
    expect(tlpBandwidthGbps({ gen: 3, width: 8, mps: 256 })).toBe(57.88476562673236);
    expect(tlpBandwidthGbps({ gen: 3, width: 16, mps: 256 })).toBe(113.70006049433879);
    expect(tlpBandwidthGbps({ gen: 5, width: 16, mps: 256 })).toBe(454.80024197735514);
    expect(tlpBandwidthGbps({ gen: 6, width: 16, mps: 256 })).toBe(873.2919685429439);
    expect(tlpBandwidthGbps({ gen: 1, width: 1, mps: 128 })).toBe(1.859777342485446);
    expect(effectiveBandwidth({ gen: 3, width: 8 }, 'write', 4096)).toBe(52.92321428729816);
    expect(effectiveBandwidth({ gen: 3, width: 8 }, 'read', 4096)).toBe(53.69021739291117);
    expect(effectiveBandwidth({ gen: 3, width: 8 }, 'write', 64)).toBe(42.09801136489626);
    expect(effectiveBandwidth({ gen: 3, width: 8 }, 'read', 64)).toBe(44.10267857274847);
    expect(effectiveBandwidth({ gen: 3, width: 16 }, 'read', 1)).toBe(4.73750252059745);
    expect(effectiveBandwidth({ gen: 5, width: 16 }, 'write', 1500)).toBe(414.96372443189335);
    expect(effectiveBandwidth({ gen: 4, width: 4, rcbCompletions: true }, 'read', 4096)).toBe(
      44.2971922462364,
    );
  });
});

describe('PCIe link model: inputs (issue 6: fabric)', () => {
  it('rejects values outside the tables, naming them', () => {
    expect(() => linkRawGbps(8, 8)).toThrow(/generation 8/);
    expect(() => linkRawGbps(0, 8)).toThrow(RangeError);
    expect(() => linkRawGbps(3, 3)).toThrow(/x3/);
    expect(() => tlpBandwidthGbps({ gen: 3, width: 8, mps: 100 })).toThrow(/MPS 100/);
    expect(() => tlpBandwidthGbps({ gen: 3, width: 8, mps: 256, dllpFactor: -1 })).toThrow(
      RangeError,
    );
    expect(() => effectiveBandwidth({ gen: 3, width: 8, mrrs: 8192 }, 'read', 4096)).toThrow(
      /MRRS 8192/,
    );
    expect(() => effectiveBandwidth({ gen: 3, width: 8, rcb: 32 }, 'read', 4096)).toThrow(/RCB 32/);
    expect(() => effectiveBandwidth({ gen: 3, width: 8 }, 'write', 0)).toThrow(RangeError);
    expect(() => tlpTraffic(GEN3_X8, 'write', -1)).toThrow(RangeError);
    expect(() => tlpOverheadBytes('MWr', { addressBits: 48 as 64, ecrc: false })).toThrow(/48/);
  });

  it('the compiled table is data/pcie-dllp-intervals.json (regenerate with `npm run dllp-intervals -w @dmasim/core`)', () => {
    const json = JSON.parse(
      readFileSync(join(__dirname, '../data/pcie-dllp-intervals.json'), 'utf8'),
    ) as unknown;
    expect(PCIE_DLLP_INTERVALS).toEqual(json);
    expect(PCIE_DLLP_INTERVALS.source).toMatch(/PCIe Base Specification/);
  });
});
