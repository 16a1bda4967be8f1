/** @dmasim/cli: the `dmasim` command, usable in-process (main) and its renderers. */
export { main, createProgram, reportError } from './main';
export { Output, processIo, colorsEnabled, type CliIo, type TextStream } from './io';
export { CliError, EXIT_OK, EXIT_INPUT, EXIT_USAGE, EXIT_INTERNAL } from './errors';
export type { CliContext, CommandModule } from './context';
export { renderTopoReport } from './render/report';
export { renderTree } from './render/tree';
export { renderGroups } from './render/groups';
export { renderMatrix, renderPairList, renderPairs } from './render/matrix';
export { renderReasons, groupReasons } from './render/reasons';
