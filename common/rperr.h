/* Project-wide error codes: every function that can fail returns 0 or one of
 * these negative codes, and rp_strerror() turns any of them into text. */
#ifndef RP_RPERR_H
#define RP_RPERR_H

enum {
    RP_OK = 0,
    RP_EINVAL = -1,   /* invalid argument or input */
    RP_ENOMEM = -2,   /* allocation failed */
    RP_EIO = -3,      /* file or OS error (see errno in the log) */
    RP_EDB = -4,      /* LMDB error (logged with mdb_strerror) */
    RP_EZMQ = -5,     /* ZeroMQ error (logged with zmq_strerror) */
    RP_EPROTO = -6,   /* malformed or wrong-version frame */
    RP_ERANGE = -7,   /* value out of the allowed range */
    RP_ENOTFOUND = -8,/* key or item absent */
    RP_EFULL = -9,    /* storage map or disk full */
    RP_EBUSY = -10,   /* overloaded: retry later */
    RP_ETIMEDOUT = -11,/* no answer in time */
};

/* Returns a static, human-readable text for an RP_* code; never NULL. */
const char *rp_strerror(int code);

#endif
