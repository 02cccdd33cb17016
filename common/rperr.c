/* Text and classes for the project's error codes. */
#include "rperr.h"

#include <errno.h>
#include <lmdb.h>
#include <stdio.h>
#include <string.h>

/* Wrapped LMDB codes are -(RP_LMDB_BIT | low 16 bits of the LMDB code):
 * MDB_* codes (-30799..-30780) and errno values both fit in 16 signed bits. */
#define RP_LMDB_BIT 0x100000

/* Wrapped errno values are -(RP_ERRNO_BIT | kind << 16 | value): kind is the
 * RP_* kind negated (1..15), value the errno, or for libzmq's own errnos
 * (ZMQ_HAUSNUMERO + n, far above 16 bits) 0x8000 | n. */
#define RP_ERRNO_BIT 0x200000
#define RP_ZMQ_HAUSNUMERO 156384712 /* libzmq's base for its own errno values */

int rp_wrap_lmdb(int mdb_rc)
{
    return -(RP_LMDB_BIT | (int)((unsigned)mdb_rc & 0xffffu));
}

int rp_lmdb_code(int code)
{
    if (code >= 0 || !((-code) & RP_LMDB_BIT)) return 0;
    return (int)(short)((-code) & 0xffff);
}

int rp_wrap_errno(int kind, int err)
{
    int v = err >= RP_ZMQ_HAUSNUMERO ? 0x8000 | ((err - RP_ZMQ_HAUSNUMERO) & 0x7fff)
                                     : err & 0x7fff;
    return -(RP_ERRNO_BIT | ((-kind) & 15) << 16 | v);
}

int rp_errno(int code)
{
    if (code >= 0 || !((-code) & RP_ERRNO_BIT)) return 0;
    int v = (-code) & 0xffff;
    return v & 0x8000 ? RP_ZMQ_HAUSNUMERO + (v & 0x7fff) : v;
}

int rp_class(int code)
{
    if (rp_errno(code)) return -(((-code) >> 16) & 15);
    int mdb = rp_lmdb_code(code);
    if (!mdb) return code;
    return mdb == MDB_MAP_FULL || mdb == ENOSPC || mdb == EDQUOT ? RP_EFULL : RP_EDB;
}

static const char *s_text(int code)
{
    switch (code) {
    case RP_OK: return "success";
    case RP_EINVAL: return "invalid argument";
    case RP_ENOMEM: return "out of memory";
    case RP_EIO: return "input/output error";
    case RP_EDB: return "database error";
    case RP_EZMQ: return "messaging error";
    case RP_EPROTO: return "protocol error";
    case RP_ERANGE: return "value out of range";
    case RP_ENOTFOUND: return "not found";
    case RP_EFULL: return "storage full";
    case RP_EBUSY: return "busy, retry";
    case RP_ETIMEDOUT: return "timed out";
    default: return "unknown error";
    }
}

const char *rp_strerror(int code)
{
    static _Thread_local char buf[192];
    int err = rp_errno(code);
    if (err >= RP_ZMQ_HAUSNUMERO) { /* libzmq's own: its texts, without libzmq here */
        static const char *const zmq_text[] = {"operation cannot be done in this state",
                                               "the protocol is not compatible",
                                               "the context was terminated",
                                               "no I/O thread is available"};
        int n = err - RP_ZMQ_HAUSNUMERO - 51; /* EFSM is ZMQ_HAUSNUMERO + 51 */
        snprintf(buf, sizeof buf, "%s (%s)", s_text(rp_class(code)),
                 n >= 0 && n < 4 ? zmq_text[n] : "libzmq error");
        return buf;
    }
    if (err) {
        snprintf(buf, sizeof buf, "%s (%s)", s_text(rp_class(code)), strerror(err));
        return buf;
    }
    int mdb = rp_lmdb_code(code);
    if (!mdb) return s_text(code);
    snprintf(buf, sizeof buf, "%s (LMDB: %s)", s_text(rp_class(code)), mdb_strerror(mdb));
    return buf;
}
