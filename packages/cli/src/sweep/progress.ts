/**
 * The sweep's progress bar (cli-progress) on stderr, counting runs (grid points x strategies).
 * Only on a terminal: redirected or piped, stderr gets nothing, so logs and tests stay clean.
 */
import { SingleBar } from 'cli-progress';
import type { TextStream } from '../io';

export interface SweepProgress {
  tick(): void;
  stop(): void;
}

const NONE: SweepProgress = { tick: () => undefined, stop: () => undefined };

/** A bar on `stream` when it is a terminal, else one that draws nothing. */
export function sweepProgress(stream: TextStream, total: number): SweepProgress {
  if (stream.isTTY !== true) return NONE;
  const bar = new SingleBar({
    stream: stream as unknown as NodeJS.WritableStream,
    format: 'sweep [{bar}] {value}/{total} runs | {duration_formatted} | ETA {eta_formatted}',
    barsize: 30,
    clearOnComplete: true,
    hideCursor: false,
    etaBuffer: 20,
  });
  bar.start(total, 0);
  let done = 0;
  return {
    tick: () => bar.update(++done),
    stop: () => bar.stop(),
  };
}
