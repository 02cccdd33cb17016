/* Text and classes for the project's error codes. */
#include "rperr.h"

#include <errno.h>
#include <lmdb.h>
#include <stdio.h>

/* Wrapped LMDB codes are -(RP_LMDB_BIT | low 16 bits of the LMDB code):
 * MDB_* codes (-30799..-30780) and errno values both fit in 16 signed bits. */
#define RP_LMDB_BIT 0x100000

int rp_wrap_lmdb(int mdb_rc)
{
    return -(RP_LMDB_BIT | (int)((unsigned)mdb_rc & 0xffffu));
}

int rp_lmdb_code(int code)
{
    if (code >= 0 || !((-code) & RP_LMDB_BIT)) return 0;
    return (int)(short)((-code) & 0xffff);
}

int rp_class(int code)
{
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
    int mdb = rp_lmdb_code(code);
    if (!mdb) return s_text(code);
    snprintf(buf, sizeof buf, "%s (LMDB: %s)", s_text(rp_class(code)), mdb_strerror(mdb));
    return buf;
}
