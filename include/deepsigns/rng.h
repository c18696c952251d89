/* rng.h - counter-based random streams (Philox4x32-10).
 *
 * A stream is fully determined by (key, counter): ds_rng_init(seed, stream)
 * derives the key from an experiment seed and a stream id, so every consumer
 * (a cell, an epoch's shuffle, a layer's init) gets an independent,
 * reproducible sequence on any rank. There is no global generator.
 */
#ifndef DEEPSIGNS_RNG_H
#define DEEPSIGNS_RNG_H

#include <stddef.h>
#include <stdint.h>

typedef struct ds_rng {
    uint32_t key[2];
    uint64_t counter; /* block counter; each block yields 4 words */
    uint32_t block[4];
    int used;         /* words of block already handed out (4 = empty) */
} ds_rng;

/* Stream `stream` of experiment seed `seed`. */
void ds_rng_init(ds_rng *r, uint64_t seed, uint64_t stream);
/* A child stream of r identified by `id`; does not advance r. */
ds_rng ds_rng_child(const ds_rng *r, uint64_t id);
/* 64-bit mix of two words (splitmix64 finaliser); used to derive stream ids. */
uint64_t ds_rng_mix(uint64_t a, uint64_t b);

uint32_t ds_rng_u32(ds_rng *r);
uint64_t ds_rng_u64(ds_rng *r);
/* n consecutive 32-bit words of the stream (same as n calls of ds_rng_u32). */
void ds_rng_fill(ds_rng *r, uint32_t *out, size_t n);
/* Self-check of ds_rng_fill's vector copies (AVX-512, AVX2: those the CPU has)
 * against the scalar Philox: the number of copies checked, or < 0 on a mismatch. */
int ds_rng_lanes_check(void);
/* Uniform in [0, 1) with 53 (double) or 24 (float) random bits. */
double ds_rng_uniform(ds_rng *r);
float ds_rng_uniformf(ds_rng *r);
/* Standard normal (Box-Muller, no cached second value). */
double ds_rng_normal(ds_rng *r);
/* Uniform integer in [0, n), unbiased; n > 0. */
uint32_t ds_rng_below(ds_rng *r, uint32_t n);
/* Fisher-Yates shuffle of idx[0..n). */
void ds_rng_shuffle(ds_rng *r, uint32_t *idx, size_t n);

#endif
