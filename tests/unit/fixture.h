/* Shared helpers for the unit tests: return-code assertions that print the
 * expression, the code and its text (like nng's NUTS_PASS), and a temporary
 * LMDB store in a fresh mkdtemp directory, removed afterwards. */
#ifndef RP_TEST_FIXTURE_H
#define RP_TEST_FIXTURE_H

#include "../../common/rperr.h"
#include "../../common/store.h"
#include "../../proto/frame.h"

#include <criterion/criterion.h>
#include <msgpack.h>
#include <stddef.h>
#include <stdint.h>

/* Asserts that code (evaluated once) is want, comparing rp_class(code) so a
 * wrapped LMDB code matches its class (RP_EFULL, RP_EDB). Optional printf
 * arguments add context to the failure message (the format gets a leading
 * space, which fixture_assert_rc drops, so that it is never empty). */
#define RP_ASSERT_RC(code, want, ...)                                                              \
    fixture_assert_rc((code), (want), #code, __FILE__, __LINE__, " " __VA_ARGS__)
#define RP_ASSERT_OK(code, ...) RP_ASSERT_RC(code, 0, __VA_ARGS__)

void fixture_assert_rc(int rc, int want, const char *expr, const char *file, int line,
                       const char *fmt, ...) __attribute__((format(printf, 6, 7)));

/* A temporary store: dir is filled with a new mkdtemp directory under /tmp
 * whose name contains tag; the store is opened in it with dbnames and
 * mapsize bytes. Asserts on failure. */
typedef struct {
    char dir[256];
    store_t *st;
} fixture_store_t;

void fixture_store_open(fixture_store_t *f, const char *tag, const char *const *dbnames,
                        size_t mapsize);

/* Re-opens f's store on the same directory (after a simulated restart). */
void fixture_store_reopen(fixture_store_t *f, const char *const *dbnames, size_t mapsize);

/* Closes the store and removes the directory; safe on a zeroed fixture. */
void fixture_store_close(fixture_store_t *f);

/* Creates a new mkdtemp directory under /tmp whose name contains tag into
 * dir[cap], and removes such a directory with everything in it. */
void fixture_tmpdir(char *dir, size_t cap, const char *tag);
void fixture_rmdir(const char *dir);

/* Number of entries in database idx of f's store (a read transaction). */
size_t fixture_entries(fixture_store_t *f, int idx);

/* The state's change log as stored: rows keyed by the sequence number of
 * their first record, each holding one or more records. fixture_log_records
 * counts the records of every row; fixture_log_record finds record seq,
 * copies its bytes into buf[cap] and returns their length (0: no such
 * record). Both assert on a malformed row. */
size_t fixture_log_records(fixture_store_t *f);
size_t fixture_log_record(fixture_store_t *f, uint64_t seq, char *buf, size_t cap);

/* Two stream ids for frames built by tests: a state's and a reducer's. */
extern const frame_id_t fixture_sid, fixture_rid;

/* Packs one risk message in the seed's form with the default hierarchy
 * levels (RiskType, Region, TradeDesk); value is the decimal string. */
void fixture_pack_msg(msgpack_packer *pk, const char *trade_id, int64_t version,
                      const char *value, const char *risk_type, const char *region,
                      const char *desk);

#endif
