/* Project-wide error codes: every function that can fail returns 0 or a
 * negative code, and rp_strerror() turns any of them into text. As in nng's
 * NNG_ESYSERR, an LMDB error (rp_wrap_lmdb) or an errno value of the OS or of
 * libzmq (rp_wrap_errno) keeps its own code inside the value, so its text is
 * never lost on the way up; rp_class() tells which RP_* kind a wrapped code
 * is. */
#ifndef RP_RPERR_H
#define RP_RPERR_H

enum {
    RP_OK = 0,
    RP_EINVAL = -1,    /* invalid argument or input */
    RP_ENOMEM = -2,    /* allocation failed */
    RP_EIO = -3,       /* file or OS error (see errno in the log) */
    RP_EDB = -4,       /* LMDB error (wrapped codes carry the LMDB code) */
    RP_EZMQ = -5,      /* ZeroMQ error */
    RP_EPROTO = -6,    /* malformed or wrong-version frame or row */
    RP_ERANGE = -7,    /* value out of the allowed range */
    RP_ENOTFOUND = -8, /* key or item absent */
    RP_EFULL = -9,     /* storage map or disk full */
    RP_EBUSY = -10,    /* overloaded: retry later */
    RP_ETIMEDOUT = -11,/* no answer in time */
};

/* Wraps a non-zero LMDB return code (an MDB_* code or an errno value) into a
 * negative RP code that keeps it: rp_class() of the result is RP_EFULL for a
 * full map or disk and RP_EDB otherwise, and rp_lmdb_code() gives it back. */
int rp_wrap_lmdb(int mdb_rc);

/* The RP_* kind of any code: the code itself, or for a wrapped LMDB code
 * RP_EFULL or RP_EDB. */
int rp_class(int code);

/* The LMDB code wrapped in code, or 0 when it is not a wrapped code. */
int rp_lmdb_code(int code);

/* Wraps a non-zero errno value, as an OS call or libzmq left it, into a
 * negative code whose rp_class is kind (RP_EIO or RP_EZMQ) and from which
 * rp_errno gives it back. */
int rp_wrap_errno(int kind, int err);

/* The errno value wrapped in code, or 0 when it is not one. */
int rp_errno(int code);

/* Returns a human-readable text for any code; never NULL. A wrapped code
 * reads "storage full (LMDB: ...)", "database error (LMDB: ...)" or
 * "messaging error (Connection refused)"; that text lives in a thread-local
 * buffer valid until the next call. */
const char *rp_strerror(int code);

#endif
