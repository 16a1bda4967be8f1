/**
 * printk formats the models' kernel messages share (lib/vsprintf.c), so that a message reads as
 * the kernel prints it, and dev_driver_string() (drivers/base/core.c).
 */
import type { DmaDevice } from './dma/device';

/** `%pad` / `%pa`: "0x" and 16 zero-padded hex digits. */
export function printkPad(addr: number): string {
  return `0x${addr.toString(16).padStart(16, '0')}`;
}

/** `%llx` of *dev->dma_mask: a mask of 53 bits or more, saturated in the model (device.ts), in full. */
export function printkDmaMask(dev: DmaDevice): string {
  if (dev.dmaMaskBits >= 53) return ((1n << BigInt(dev.dmaMaskBits)) - 1n).toString(16);
  return dev.dmaMask.toString(16);
}

/** dev_driver_string(): the bound driver, else the bus ("pci"). */
export function devDriverString(dev: DmaDevice): string {
  return dev.driver ?? (dev.pci ? 'pci' : '');
}
