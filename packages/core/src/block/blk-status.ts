/**
 * Block-layer completion status (blk_status_t, include/linux/blk_types.h, v6.16) and its errno
 * translation (blk_errors[] in block/blk-core.c, v6.16).
 *
 * The values are the kernel's: 18 is unused in v6.16 (BLK_STS_ZONE_RESOURCE was removed and
 * BLK_STS_INVAL was given 19).
 */
import {
  EAGAIN,
  EBUSY,
  EINVAL,
  EIO,
  ENODEV,
  ENOMEM,
  ENOSPC,
  EOPNOTSUPP,
  EREMOTEIO,
} from '../errno';

/** blk_status_t: a u8 status code. */
export type BlkStatus = number;

export const BLK_STS_OK = 0;
export const BLK_STS_NOTSUPP = 1;
export const BLK_STS_TIMEOUT = 2;
export const BLK_STS_NOSPC = 3;
export const BLK_STS_TRANSPORT = 4;
export const BLK_STS_TARGET = 5;
export const BLK_STS_RESV_CONFLICT = 6;
export const BLK_STS_MEDIUM = 7;
export const BLK_STS_PROTECTION = 8;
export const BLK_STS_RESOURCE = 9;
export const BLK_STS_IOERR = 10;
/** Device-mapper internal; never leaves dm. */
export const BLK_STS_DM_REQUEUE = 11;
/** Only for REQ_NOWAIT I/O that would block. */
export const BLK_STS_AGAIN = 12;
export const BLK_STS_DEV_RESOURCE = 13;
export const BLK_STS_ZONE_OPEN_RESOURCE = 14;
export const BLK_STS_ZONE_ACTIVE_RESOURCE = 15;
export const BLK_STS_OFFLINE = 16;
export const BLK_STS_DURATION_LIMIT = 17;
/** Invalid size or alignment. */
export const BLK_STS_INVAL = 19;

// Errnos the table needs that errno.ts does not name (generic Linux values).
const ETIMEDOUT = 110;
const ENOLINK = 67;
const EBADE = 52;
const ENODATA = 61;
const EILSEQ = 84;
const EREMCHG = 78;
const ETOOMANYREFS = 109;
const EOVERFLOW = 75;
const ETIME = 62;

interface BlkError {
  readonly sts: BlkStatus;
  readonly name: string;
  readonly errno: number;
  readonly text: string;
}

/** blk_errors[] (block/blk-core.c, v6.16), in the kernel's order (errno_to_blk_status scans it). */
const BLK_ERRORS: readonly BlkError[] = [
  { sts: BLK_STS_OK, name: 'BLK_STS_OK', errno: 0, text: '' },
  {
    sts: BLK_STS_NOTSUPP,
    name: 'BLK_STS_NOTSUPP',
    errno: -EOPNOTSUPP,
    text: 'operation not supported',
  },
  { sts: BLK_STS_TIMEOUT, name: 'BLK_STS_TIMEOUT', errno: -ETIMEDOUT, text: 'timeout' },
  { sts: BLK_STS_NOSPC, name: 'BLK_STS_NOSPC', errno: -ENOSPC, text: 'critical space allocation' },
  {
    sts: BLK_STS_TRANSPORT,
    name: 'BLK_STS_TRANSPORT',
    errno: -ENOLINK,
    text: 'recoverable transport',
  },
  { sts: BLK_STS_TARGET, name: 'BLK_STS_TARGET', errno: -EREMOTEIO, text: 'critical target' },
  {
    sts: BLK_STS_RESV_CONFLICT,
    name: 'BLK_STS_RESV_CONFLICT',
    errno: -EBADE,
    text: 'reservation conflict',
  },
  { sts: BLK_STS_MEDIUM, name: 'BLK_STS_MEDIUM', errno: -ENODATA, text: 'critical medium' },
  { sts: BLK_STS_PROTECTION, name: 'BLK_STS_PROTECTION', errno: -EILSEQ, text: 'protection' },
  { sts: BLK_STS_RESOURCE, name: 'BLK_STS_RESOURCE', errno: -ENOMEM, text: 'kernel resource' },
  {
    sts: BLK_STS_DEV_RESOURCE,
    name: 'BLK_STS_DEV_RESOURCE',
    errno: -EBUSY,
    text: 'device resource',
  },
  { sts: BLK_STS_AGAIN, name: 'BLK_STS_AGAIN', errno: -EAGAIN, text: 'nonblocking retry' },
  { sts: BLK_STS_OFFLINE, name: 'BLK_STS_OFFLINE', errno: -ENODEV, text: 'device offline' },
  {
    sts: BLK_STS_DM_REQUEUE,
    name: 'BLK_STS_DM_REQUEUE',
    errno: -EREMCHG,
    text: 'dm internal retry',
  },
  {
    sts: BLK_STS_ZONE_OPEN_RESOURCE,
    name: 'BLK_STS_ZONE_OPEN_RESOURCE',
    errno: -ETOOMANYREFS,
    text: 'open zones exceeded',
  },
  {
    sts: BLK_STS_ZONE_ACTIVE_RESOURCE,
    name: 'BLK_STS_ZONE_ACTIVE_RESOURCE',
    errno: -EOVERFLOW,
    text: 'active zones exceeded',
  },
  {
    sts: BLK_STS_DURATION_LIMIT,
    name: 'BLK_STS_DURATION_LIMIT',
    errno: -ETIME,
    text: 'duration limit exceeded',
  },
  { sts: BLK_STS_INVAL, name: 'BLK_STS_INVAL', errno: -EINVAL, text: 'invalid' },
  { sts: BLK_STS_IOERR, name: 'BLK_STS_IOERR', errno: -EIO, text: 'I/O' },
];

const BY_STS: ReadonlyMap<BlkStatus, BlkError> = new Map(BLK_ERRORS.map((e) => [e.sts, e]));

/**
 * blk_status_to_errno(status) (block/blk-core.c, v6.16): the errno a status completes a bio
 * with; a status outside the table is -EIO (the kernel WARNs).
 */
export function blkStatusToErrno(sts: BlkStatus): number {
  return BY_STS.get(sts)?.errno ?? -EIO;
}

/**
 * errno_to_blk_status(errno) (block/blk-core.c, v6.16): the first table entry with that errno;
 * an errno not in the table is BLK_STS_IOERR.
 */
export function errnoToBlkStatus(err: number): BlkStatus {
  for (const e of BLK_ERRORS) if (e.errno === err) return e.sts;
  return BLK_STS_IOERR;
}

/** The macro name of a status ("BLK_STS_TARGET"); unknown values print as decimal. */
export function blkStatusName(sts: BlkStatus): string {
  return BY_STS.get(sts)?.name ?? String(sts);
}

/** blk_status_to_str(status) (v6.16): the kernel's text ("critical target"). */
export function blkStatusToStr(sts: BlkStatus): string {
  return BY_STS.get(sts)?.text ?? '<null>';
}
