/**
 * The DmaMapOps conformance suite (core testing/, reference §3.2, §3.3, §3.5, §8, §11) run on
 * swiotlb-xen as the CLI builds it: the strategy descriptor in a kernel container. The groups for
 * P2PDMA by map type are skipped (capabilities.pciP2pdma is false); "P2PDMA pages refused" runs.
 */
import { describeDmaMapOpsConformance } from '@dmasim/core/testing';
import { xenSwiotlbStrategy } from '../src';

describeDmaMapOpsConformance('xen-swiotlb', () => xenSwiotlbStrategy);
