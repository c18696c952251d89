/* rng.c - Philox4x32-10 counter-based generator (Salmon et al., SC'11). */
#include "deepsigns/rng.h"

#include <math.h>

enum { PHILOX_ROUNDS = 10 };
#define PHILOX_M0 0xD2511F53u
#define PHILOX_M1 0xCD9E8D57u
#define PHILOX_W0 0x9E3779B9u
#define PHILOX_W1 0xBB67AE85u

static inline uint32_t mulhilo(uint32_t a, uint32_t b, uint32_t *hi)
{
    uint64_t p = (uint64_t)a * b;
    *hi = (uint32_t)(p >> 32);
    return (uint32_t)p;
}

/* out[4] = Philox4x32-10(ctr[4], key[2]) */
static void philox_block(const uint32_t ctr_in[4], const uint32_t key_in[2], uint32_t out[4])
{
    uint32_t c0 = ctr_in[0], c1 = ctr_in[1], c2 = ctr_in[2], c3 = ctr_in[3];
    uint32_t k0 = key_in[0], k1 = key_in[1];
    for (int i = 0; i < PHILOX_ROUNDS; i++) {
        uint32_t hi0, hi1;
        uint32_t lo0 = mulhilo(PHILOX_M0, c0, &hi0);
        uint32_t lo1 = mulhilo(PHILOX_M1, c2, &hi1);
        c0 = hi1 ^ c1 ^ k0;
        c1 = lo1;
        c2 = hi0 ^ c3 ^ k1;
        c3 = lo0;
        k0 += PHILOX_W0;
        k1 += PHILOX_W1;
    }
    out[0] = c0; out[1] = c1; out[2] = c2; out[3] = c3;
}

uint64_t ds_rng_mix(uint64_t a, uint64_t b)
{
    uint64_t z = a ^ (b + 0x9E3779B97F4A7C15ull + (a << 6) + (a >> 2));
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

void ds_rng_init(ds_rng *r, uint64_t seed, uint64_t stream)
{
    uint64_t k = ds_rng_mix(seed, stream);
    r->key[0] = (uint32_t)k;
    r->key[1] = (uint32_t)(k >> 32);
    r->counter = 0;
    r->used = 4;
}

ds_rng ds_rng_child(const ds_rng *r, uint64_t id)
{
    ds_rng c;
    uint64_t parent = ((uint64_t)r->key[1] << 32) | r->key[0];
    ds_rng_init(&c, parent, id);
    return c;
}

uint32_t ds_rng_u32(ds_rng *r)
{
    if (r->used == 4) {
        uint32_t ctr[4] = {(uint32_t)r->counter, (uint32_t)(r->counter >> 32), 0, 0};
        philox_block(ctr, r->key, r->block);
        r->counter++;
        r->used = 0;
    }
    return r->block[r->used++];
}

/* LANES consecutive blocks from counter ctr, written to out[4*LANES] in order.
 * Same results as LANES calls of philox_block; laid out so the compiler can
 * vectorise across blocks. */
enum { LANES = 8 };
static void philox_lanes(uint64_t ctr, const uint32_t key[2], uint32_t *out)
{
    uint32_t c0[LANES], c1[LANES], c2[LANES], c3[LANES];
    for (int l = 0; l < LANES; l++) {
        c0[l] = (uint32_t)(ctr + l);
        c1[l] = (uint32_t)((ctr + l) >> 32);
        c2[l] = c3[l] = 0;
    }
    uint32_t k0 = key[0], k1 = key[1];
    for (int i = 0; i < PHILOX_ROUNDS; i++) {
        for (int l = 0; l < LANES; l++) {
            uint64_t p0 = (uint64_t)PHILOX_M0 * c0[l], p1 = (uint64_t)PHILOX_M1 * c2[l];
            uint32_t n0 = (uint32_t)(p1 >> 32) ^ c1[l] ^ k0;
            uint32_t n2 = (uint32_t)(p0 >> 32) ^ c3[l] ^ k1;
            c1[l] = (uint32_t)p1;
            c3[l] = (uint32_t)p0;
            c0[l] = n0;
            c2[l] = n2;
        }
        k0 += PHILOX_W0;
        k1 += PHILOX_W1;
    }
    for (int l = 0; l < LANES; l++) {
        out[4 * l] = c0[l]; out[4 * l + 1] = c1[l]; out[4 * l + 2] = c2[l]; out[4 * l + 3] = c3[l];
    }
}

void ds_rng_fill(ds_rng *r, uint32_t *out, size_t n)
{
    size_t i = 0;
    while (i < n && r->used < 4) out[i++] = r->block[r->used++];
    for (; i + 4 * LANES <= n; i += 4 * LANES) {
        philox_lanes(r->counter, r->key, out + i);
        r->counter += LANES;
    }
    for (; i + 4 <= n; i += 4) { /* whole blocks straight into out */
        uint32_t ctr[4] = {(uint32_t)r->counter, (uint32_t)(r->counter >> 32), 0, 0};
        philox_block(ctr, r->key, out + i);
        r->counter++;
    }
    while (i < n) out[i++] = ds_rng_u32(r);
}

uint64_t ds_rng_u64(ds_rng *r)
{
    uint64_t hi = ds_rng_u32(r);
    return (hi << 32) | ds_rng_u32(r);
}

double ds_rng_uniform(ds_rng *r)
{
    return (double)(ds_rng_u64(r) >> 11) * 0x1.0p-53;
}

float ds_rng_uniformf(ds_rng *r)
{
    return (float)(ds_rng_u32(r) >> 8) * 0x1.0p-24f;
}

double ds_rng_normal(ds_rng *r)
{
    double u1 = 1.0 - ds_rng_uniform(r); /* (0, 1] */
    double u2 = ds_rng_uniform(r);
    return sqrt(-2.0 * log(u1)) * cos(2.0 * M_PI * u2);
}

uint32_t ds_rng_below(ds_rng *r, uint32_t n)
{
    /* Lemire's nearly-divisionless unbiased bounded integer. */
    uint64_t m = (uint64_t)ds_rng_u32(r) * n;
    uint32_t low = (uint32_t)m;
    if (low < n) {
        uint32_t t = (uint32_t)(-n) % n;
        while (low < t) {
            m = (uint64_t)ds_rng_u32(r) * n;
            low = (uint32_t)m;
        }
    }
    return (uint32_t)(m >> 32);
}

void ds_rng_shuffle(ds_rng *r, uint32_t *idx, size_t n)
{
    for (size_t i = n; i > 1; i--) {
        size_t j = ds_rng_below(r, (uint32_t)i);
        uint32_t t = idx[i - 1];
        idx[i - 1] = idx[j];
        idx[j] = t;
    }
}
