/* Timed flushes by interposition; see fsync.h. */
#include "fsync.h"
#include "../common/clock.h"

#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

static metrics_hist_t s_hist;

const metrics_hist_t *fsync_hist(void)
{
    return &s_hist;
}

static long s_timed(long nr, long a, long b, long c)
{
    double t0 = clock_mono_s();
    long rc = syscall(nr, a, b, c);
    metrics_hist_observe(&s_hist, clock_mono_s() - t0);
    return rc;
}

int fdatasync(int fd)
{
    return (int)s_timed(SYS_fdatasync, fd, 0, 0);
}

int fsync(int fd)
{
    return (int)s_timed(SYS_fsync, fd, 0, 0);
}

int msync(void *addr, size_t len, int flags)
{
    if (!(flags & MS_SYNC)) return (int)syscall(SYS_msync, addr, len, flags);
    return (int)s_timed(SYS_msync, (long)addr, (long)len, flags);
}
