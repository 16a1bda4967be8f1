/**
 * The per-provider map-type cache (struct pci_p2pdma's map_types xarray, v5.10+).
 *
 * The kernel keys it by map_types_idx(client) = (domain << 16) | (bus << 8 | devfn). In one
 * topology that key and the client's dense enumeration index name the same function, so the
 * cache stores one byte per function of the topology, indexed by the dense index, and reports
 * entries by the kernel's key. (A Map per provider would need 16.7M entries for a 4096-endpoint
 * fabric; this needs 16 MiB.)
 */
import type { PciDev } from '../pci/device';
import { PciP2pdmaMapType } from './map-type';

export class MapTypeCache {
  private slots: Uint8Array | undefined;
  private readonly clients: (PciDev | undefined)[] = [];
  private count = 0;

  constructor(private readonly capacity: number) {}

  /** xa_load(): UNKNOWN (0) for an empty slot, as xa_to_value(NULL) decodes. */
  get(client: PciDev): PciP2pdmaMapType {
    return (this.slots?.[client.index] ?? PciP2pdmaMapType.UNKNOWN) as PciP2pdmaMapType;
  }

  /** xa_store(&map_types, map_types_idx(client), xa_mk_value(type)). */
  store(client: PciDev, type: PciP2pdmaMapType): void {
    if (!this.slots) this.slots = new Uint8Array(this.capacity);
    if (this.slots[client.index] === PciP2pdmaMapType.UNKNOWN) {
      this.count++;
      this.clients[client.index] = client;
    }
    this.slots[client.index] = type;
  }

  has(client: PciDev): boolean {
    return this.get(client) !== PciP2pdmaMapType.UNKNOWN;
  }

  get size(): number {
    return this.count;
  }

  /** The entries as the kernel's xarray holds them: [map_types_idx(client), type], by index. */
  entries(): [number, PciP2pdmaMapType][] {
    const out: [number, PciP2pdmaMapType][] = [];
    for (const c of this.clients) if (c) out.push([c.mapTypesIdx, this.get(c)]);
    return out.sort((a, b) => a[0] - b[0]);
  }
}
