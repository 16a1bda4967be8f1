/**
 * blk_status_t values (include/linux/blk_types.h v6.16) and their errno translation (blk_errors[]
 * in block/blk-core.c), which carry a request's fate back to the submitter (reference §5.3, §6.1).
 */
import {
  BLK_STS_AGAIN,
  BLK_STS_INVAL,
  BLK_STS_IOERR,
  BLK_STS_OK,
  BLK_STS_RESOURCE,
  BLK_STS_TARGET,
  blkStatusName,
  blkStatusToErrno,
  blkStatusToStr,
  errnoToBlkStatus,
} from '../src/block/blk-status';
import { EAGAIN, EINVAL, EIO, ENOMEM, ERANGE, EREMOTEIO } from '../src/errno';

describe('blk_status_t (§5.3, §6.1)', () => {
  it('has the v6.16 values', () => {
    // 0, 5, 9, 10, 12 as in blk_types.h; 19 for INVAL (18 is unused since v6.16)
    expect([
      BLK_STS_OK,
      BLK_STS_TARGET,
      BLK_STS_RESOURCE,
      BLK_STS_IOERR,
      BLK_STS_AGAIN,
      BLK_STS_INVAL,
    ]).toEqual([0, 5, 9, 10, 12, 19]);
    expect(blkStatusName(BLK_STS_TARGET)).toBe('BLK_STS_TARGET');
    expect(blkStatusToStr(BLK_STS_TARGET)).toBe('critical target');
  });

  it('translates to and from errnos as blk_errors[] does', () => {
    expect(blkStatusToErrno(BLK_STS_TARGET)).toBe(-EREMOTEIO);
    expect(blkStatusToErrno(BLK_STS_RESOURCE)).toBe(-ENOMEM);
    expect(blkStatusToErrno(BLK_STS_INVAL)).toBe(-EINVAL);
    expect(errnoToBlkStatus(-EREMOTEIO)).toBe(BLK_STS_TARGET);
    expect(errnoToBlkStatus(-EAGAIN)).toBe(BLK_STS_AGAIN);
    expect(errnoToBlkStatus(0)).toBe(BLK_STS_OK);
    // an errno outside the table is an I/O error; a status outside it is -EIO
    expect(errnoToBlkStatus(-ERANGE)).toBe(BLK_STS_IOERR);
    expect(blkStatusToErrno(18)).toBe(-EIO);
  });
});
