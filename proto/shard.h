/* Which state shard a trade belongs to: part of the public wire contract.
 *
 * A pipeline has K state shards (K fixed when the pipeline is created, 1 by
 * default). A trade belongs to shard
 *
 *     shard_of(TradeID) = FNV-1a-64(TradeID bytes) mod K
 *
 * where FNV-1a-64 starts from the offset basis 0xcbf29ce484222325 and, for
 * each byte b of the TradeID as sent (UTF-8, no terminator), xors b in and
 * multiplies by the prime 0x100000001b3 modulo 2^64. It is stable across
 * versions, machines and languages (a producer in any language can route
 * the same way: tests/shard/route.py is one in Python), and every state
 * shard checks it: a message sent to another shard is rejected with the
 * right shard in the reply. */
#ifndef RP_SHARD_H
#define RP_SHARD_H

#include <stddef.h>
#include <stdint.h>

#define SHARD_MAX 256 /* shards in one pipeline */

/* FNV-1a-64 of buf[0..len). */
uint64_t shard_hash(const void *buf, size_t len);

/* The shard (0..k-1) of a TradeID in a pipeline of k >= 1 shards. */
uint32_t shard_of(const void *trade_id, size_t len, uint32_t k);

/* Finds the TradeID of one packed message map (or {"RiskMessage": map}
 * wrapper) without unpacking it: *id and *len point into msg. Returns 0, or
 * -1 when msg is not a map with a string TradeID (the state then rejects the
 * message whatever shard gets it). */
int shard_trade_id(const char *msg, size_t n, const char **id, size_t *len);

/* Splits a comma-separated list of endpoints in place into out[0..max);
 * returns how many, or -1 when there are more than max or one is empty. */
int shard_split(char *list, char **out, int max);

#endif
