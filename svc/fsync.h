/* Time spent flushing to disk. LMDB flushes inside mdb_txn_commit (fdatasync
 * of the data file, or msync with MDB_WRITEMAP, then again for the meta
 * page), so the commit-duration histogram cannot tell writing from
 * flushing. This module defines fdatasync, fsync and msync: the dynamic
 * linker binds LMDB's calls to these definitions in the executable (symbol
 * interposition), which make the system call themselves and record its
 * duration. Nothing else changes: same calls, same order, same errors.
 * The daemons flush from their one loop thread; the histogram is not
 * locked. */
#ifndef RP_FSYNC_H
#define RP_FSYNC_H

#include "metrics.h"

/* Every flush of this process so far (msync only with MS_SYNC); borrowed,
 * lives as long as the process. */
const metrics_hist_t *fsync_hist(void);

#endif
