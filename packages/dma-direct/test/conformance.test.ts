/**
 * The DmaMapOps conformance suite (core testing/, reference §3.2, §3.3, §3.5, §8, §11) run on
 * dma-direct as the CLI builds it: the strategy descriptor in a kernel container.
 */
import { describeDmaMapOpsConformance } from '@dmasim/core/testing';
import { dmaDirectStrategy } from '../src';

describeDmaMapOpsConformance('dma-direct', () => dmaDirectStrategy);
