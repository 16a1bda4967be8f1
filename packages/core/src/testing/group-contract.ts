/**
 * The shape of the ops (§11): a name, the capabilities, and the optional callbacks that the
 * capabilities claim.
 */
import { DmaApiDebugOps } from '../dma/debug';
import { fail } from './conformance-failure';
import { newKernel, type ConformanceGroup, type SuiteContext } from './conformance-suite';

export function contractGroup(ctx: SuiteContext): ConformanceGroup {
  return {
    name: 'contract (§11 dma_map_ops)',
    cases: [
      {
        name: 'declares a name and four boolean capabilities',
        run() {
          const { ops } = newKernel(ctx);
          if (typeof ops.name !== 'string' || !ops.name) fail('the ops have no name');
          for (const key of ['pciP2pdma', 'mergesSegments', 'mapResource', 'bounce'] as const) {
            if (typeof ops.capabilities?.[key] !== 'boolean') {
              fail(
                `capabilities.${key} of ${ops.name} is ${String(ops.capabilities?.[key])}, not a boolean`,
              );
            }
          }
        },
      },
      {
        name: '§8 with CONFIG_DMA_API_DEBUG the devices use the ops through the debug checker',
        run() {
          // dmaApiDebugModule wraps DmaMapOps in an inversify activation hook, which runs for a
          // binding of DmaMapOps itself (to(), toDynamicValue(), toConstantValue()) but not for
          // toService(): then no debug check below can see anything.
          const k = newKernel(ctx);
          const used = k.client().dmaOps;
          if (!(used instanceof DmaApiDebugOps)) {
            fail(
              `§8: the client's DMA ops are ${used.constructor.name} ("${used.name}"), not the DMA-API ` +
                'debug checker wrapping them, although the kernel was built with dmaApiDebug: true; ' +
                "the strategy's module probably binds DmaMapOps with toService(), which bypasses the " +
                "checker's activation hook (bind DmaMapOps with toDynamicValue(ctx => ctx.get(Impl)) " +
                'or to(Impl) instead). Every DMA-API debug check of this suite passes vacuously until then.',
            );
          }
        },
      },
      {
        name: 'implements map_resource / unmap_resource exactly when capabilities.mapResource says so',
        run() {
          // The generic layer calls ops.mapResource whenever it exists (dma_map_resource()), so an
          // unclaimed implementation would be used all the same.
          const { ops } = newKernel(ctx);
          const has = typeof ops.mapResource === 'function';
          if (ctx.caps.mapResource && !has) {
            fail(`${ops.name} claims mapResource but has no mapResource()`);
          }
          if (ctx.caps.mapResource && typeof ops.unmapResource !== 'function') {
            fail(`${ops.name} claims mapResource but has no unmapResource()`);
          }
          if (!ctx.caps.mapResource && has) {
            fail(`${ops.name} implements mapResource() but capabilities.mapResource is false`);
          }
        },
      },
    ],
  };
}
