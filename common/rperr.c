/* Text for the project's error codes. */
#include "rperr.h"

const char *rp_strerror(int code)
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
