/* The independent expected answer: a model of latest-version-wins ingest and
 * of the hierarchical sums, computed in the test from the messages it sent,
 * and exact comparisons with the LMDB tables the daemons wrote. */
#ifndef RP_IT_MODEL_H
#define RP_IT_MODEL_H

#include <stddef.h>
#include <stdint.h>

typedef struct model_t model_t;

/* Outcome of one message in the model, as the ingest reply counts it. */
typedef enum { MODEL_ACCEPTED, MODEL_DUPLICATE, MODEL_CONFLICT } model_outcome_t;

/* Returns an empty model (caller owns; aborts the test on allocation failure). */
model_t *model_new(void);

/* Frees the model and sets *self_p to NULL; accepts NULL. */
void model_destroy(model_t **self_p);

/* Applies one message: a Version above the stored one replaces the trade;
 * a lower one is a duplicate; an equal one is a duplicate, and a conflict
 * when value or path differ (the first payload stays). trade and path are
 * copied. Value is in micro-units (1e-6). */
model_outcome_t model_add(model_t *m, const char *trade, int64_t version, int64_t micro,
                          const char *path);

/* Loads a file of JSON lines in riskctl gen's format into the model. Value
 * is taken from the JSON text, not from a double (see model.c). Returns the
 * number of lines, or -1 with a reason printed. */
long model_load_jsonl(model_t *m, const char *path);

/* Counts of model_add outcomes so far, and live trades. */
long model_accepted(const model_t *m);
long model_duplicates(const model_t *m);
long model_conflicts(const model_t *m);
long model_trades(const model_t *m);

/* Parses a decimal text "[-+]digits[.digits]" into micro-units, rounding
 * beyond 6 fractional digits half away from zero. Returns 0 or -1. */
int model_parse_micro(const char *s, size_t len, int64_t *out);

/* Formats a sum of micro-units as the aggregate table writes it: optional
 * '-', integer digits, '.', exactly 6 digits. buf holds at least 48 bytes. */
void model_format_micro(__int128 v, char *buf, size_t cap);

/* Compares every row of the reducer's "aggregate" table (opened read-only in
 * reducer_dir) with the model: value string and count exactly, nothing
 * missing, nothing extra except rows with count 0 and value 0. Prints the
 * first mismatches. Returns the number of mismatches, or -1 if the table
 * cannot be read. *rows receives the number of expected rows. */
long model_compare_aggregates(const model_t *m, const char *reducer_dir, long *rows);

/* Returns 1 if the aggregate table in reducer_dir has a row for path, 0 if
 * not, -1 if the table cannot be read. */
int model_aggregate_has(const char *reducer_dir, const char *path);

/* Compares the state table with the model: every trade present with the
 * model's Version and Value, and no other trade. Prints the first mismatches;
 * returns their number, or -1 if the table cannot be read. */
long model_compare_state(const model_t *m, const char *state_dir);

#endif
