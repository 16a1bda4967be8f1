/**
 * The simulated kernel's log (what dmesg would show). Modelled functions record the messages the
 * kernel prints with pci_err/pci_warn/pci_info, dev_warn, pr_err or WARN() instead of printing
 * them, so tests and the CLI can show them.
 *
 * A message is stored as the kernel formats it, without the format's final newline. `dev` is the
 * device the kernel names in the prefix: pci_name() ("0000:01:00.0") for a PciDev, the given text
 * for any other device name; it is absent for pr_*() and WARN() messages.
 */
import type { PciDev } from './pci/device';

export type KernelLogLevel = 'err' | 'warn' | 'info';

export interface KernelLogEntry {
  level: KernelLogLevel;
  /** pci_name() of the device the message is about (or another device name); absent for pr_*(). */
  dev?: string;
  msg: string;
}

export class KernelLog {
  private readonly entries: KernelLogEntry[] = [];

  /** pci_err() / dev_err() / pr_err() */
  err(dev: PciDev | string | undefined, msg: string): void {
    this.add('err', dev, msg);
  }

  /** pci_warn() / dev_warn() / pr_warn() / the text of a WARN() */
  warn(dev: PciDev | string | undefined, msg: string): void {
    this.add('warn', dev, msg);
  }

  /** pci_info() / dev_info() / pr_info() */
  info(dev: PciDev | string | undefined, msg: string): void {
    this.add('info', dev, msg);
  }

  /** Every message so far, oldest first (a copy). */
  messages(): KernelLogEntry[] {
    return this.entries.map((e) => ({ ...e }));
  }

  /** Forgets every message (dmesg -C). */
  clear(): void {
    this.entries.length = 0;
  }

  private add(level: KernelLogLevel, dev: PciDev | string | undefined, msg: string): void {
    const entry: KernelLogEntry = { level, msg };
    if (dev !== undefined) entry.dev = typeof dev === 'string' ? dev : dev.bdf;
    this.entries.push(entry);
  }
}

/**
 * `%#llx` / `%#lx` as the kernel's vsprintf() prints it: "0x" and lower-case hex digits, and,
 * unlike glibc, "0x0" for zero (lib/vsprintf.c number(): the prefix is emitted for base 16 even
 * when the value is zero).
 */
export function printkHex(n: number): string {
  if (!Number.isSafeInteger(n) || n < 0) {
    throw new RangeError(`printkHex: ${n} is not a non-negative safe integer`);
  }
  return `0x${n.toString(16)}`;
}
