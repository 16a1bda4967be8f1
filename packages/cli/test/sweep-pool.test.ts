/**
 * Without --jobs, a sweep starts its workers only when it is long enough to repay them: the first
 * point is run alone and timed, and the others must be expected to take ADAPTIVE_MIN_REST_MS
 * (8 s) or more in one thread (a worker takes 0.4 to 1.5 s to start here).
 */
import { adaptiveWorkers, ADAPTIVE_MIN_REST_MS } from '../src/sweep/pool';

describe('sweep workers: started for long sweeps only', () => {
  it('a short sweep stays in one thread', () => {
    // copy-offload: about 20 ms a point (3 designs); 17 more points = 340 ms < 8000 ms
    expect(adaptiveWorkers(1, 20, 17)).toBe(0);
  });

  it('a long sweep starts every worker it may', () => {
    // 500 ms a point, 20 more points = 10 s >= 8 s
    expect(adaptiveWorkers(1, 500, 20)).toBe(1);
    expect(adaptiveWorkers(3, 500, 20)).toBe(3);
  });

  it('the threshold is inclusive: exactly 8 s of remaining work starts them', () => {
    expect(ADAPTIVE_MIN_REST_MS).toBe(8000);
    // 400 ms x 20 = 8000 ms; 399 ms x 20 = 7980 ms
    expect(adaptiveWorkers(1, 400, 20)).toBe(1);
    expect(adaptiveWorkers(1, 399, 20)).toBe(0);
  });
});
