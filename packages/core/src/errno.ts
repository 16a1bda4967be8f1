/**
 * Linux error numbers (include/uapi/asm-generic/errno-base.h and errno.h; the values are the same
 * on x86, arm64 and the other generic-errno architectures). Modelled kernel functions return them
 * negated, as the kernel does: `return -EINVAL`.
 */

export const EPERM = 1;
export const ENOENT = 2;
export const EIO = 5;
export const ENXIO = 6;
export const E2BIG = 7;
export const EAGAIN = 11;
export const ENOMEM = 12;
export const EFAULT = 14;
export const EBUSY = 16;
export const EEXIST = 17;
export const ENODEV = 19;
export const EINVAL = 22;
export const ENOSPC = 28;
export const ERANGE = 34;
export const EOPNOTSUPP = 95;
export const EREMOTEIO = 121;

const NAMES: ReadonlyMap<number, string> = new Map([
  [EPERM, 'EPERM'],
  [ENOENT, 'ENOENT'],
  [EIO, 'EIO'],
  [ENXIO, 'ENXIO'],
  [E2BIG, 'E2BIG'],
  [EAGAIN, 'EAGAIN'],
  [ENOMEM, 'ENOMEM'],
  [EFAULT, 'EFAULT'],
  [EBUSY, 'EBUSY'],
  [EEXIST, 'EEXIST'],
  [ENODEV, 'ENODEV'],
  [EINVAL, 'EINVAL'],
  [ENOSPC, 'ENOSPC'],
  [ERANGE, 'ERANGE'],
  [EOPNOTSUPP, 'EOPNOTSUPP'],
  [EREMOTEIO, 'EREMOTEIO'],
]);

/**
 * The symbolic name of an error number as kernel code writes it: -121 -> "-EREMOTEIO",
 * 22 -> "EINVAL", 0 -> "0". Numbers without a name here are printed as decimal.
 */
export function errnoName(n: number): string {
  const name = NAMES.get(Math.abs(n));
  if (name === undefined) return String(n);
  return n < 0 ? `-${name}` : name;
}
