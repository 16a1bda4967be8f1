/**
 * The data an NVMe controller's namespaces hold (the media behind the LBAs; reference §6): one
 * ExtentStore per (controller, nsid) of capacity = NSZE * LBA size bytes, byte 0 being LBA 0.
 * This is the model's hardware, not kernel code. A store is created on first use and reads as
 * zero until written (an ExtentStore keeps a terabyte of untouched LBAs as no extents at all), so
 * a scenario pays only for the ranges it fills or the controller writes.
 *
 * One NvmeNamespaceData belongs to one simulated machine: the scenario runner makes one per run,
 * so runs of different designs never share media.
 */
import { ExtentStore } from '../fabric/extent-store';
import type { NvmeCtrl } from './ctrl';

export class NvmeNamespaceData {
  private readonly stores = new Map<NvmeCtrl, Map<number, ExtentStore>>();

  /**
   * The data of namespace `nsid` of `ctrl`, created (all zero) on first use and named
   * "nvme0n1". Throws for an nsid the controller does not have (misuse: the controller model
   * answers such a command with Invalid Namespace or Format before it gets here).
   */
  store(ctrl: NvmeCtrl, nsid: number): ExtentStore {
    let byNsid = this.stores.get(ctrl);
    let s = byNsid?.get(nsid);
    if (s) return s;
    const ns = ctrl.namespaces.find((n) => n.nsid === nsid);
    if (!ns) throw new RangeError(`${ctrl.name} has no namespace ${nsid}`);
    s = new ExtentStore(`${ctrl.name}n${nsid}`, ns.capacity);
    if (!byNsid) this.stores.set(ctrl, (byNsid = new Map()));
    byNsid.set(nsid, s);
    return s;
  }

  /** The store if it was created already (model introspection: nothing is created). */
  peek(ctrl: NvmeCtrl, nsid: number): ExtentStore | undefined {
    return this.stores.get(ctrl)?.get(nsid);
  }

  /** Every store created so far, as [controller, nsid, store]. */
  entries(): [NvmeCtrl, number, ExtentStore][] {
    const out: [NvmeCtrl, number, ExtentStore][] = [];
    for (const [ctrl, byNsid] of this.stores) {
      for (const [nsid, s] of byNsid) out.push([ctrl, nsid, s]);
    }
    return out;
  }
}

/** The data of namespace `nsid` of `ctrl` in `data` (data.store(ctrl, nsid)). */
export function nvmeNsData(data: NvmeNamespaceData, ctrl: NvmeCtrl, nsid: number): ExtentStore {
  return data.store(ctrl, nsid);
}
