/**
 * Placeholder: assigns BAR and window addresses as firmware would. Being replaced by the full
 * implementation (windows, alignment, fit checks).
 */
import type { PciTopology } from './topology';

export function assignResources(topo: PciTopology): void {
  let next = 0x100_0000_0000;
  for (const dev of topo.devices) {
    const hbSpecDev = dev; // eslint-disable-line @typescript-eslint/no-unused-vars
    void hbSpecDev;
  }
  void next;
  next = 0;
}
