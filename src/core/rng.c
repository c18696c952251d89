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

/* LANES consecutive blocks from counter ctr, written to out[4*LANES] in order;
 * the same words as LANES calls of philox_block. */
enum { LANES = 8 };
#if defined(__AVX2__)
#include <immintrin.h>
/* high and low 32 bits of a[i] * m for the 8 lanes of a */
static inline void mul8(__m256i a, __m256i m, __m256i *hi, __m256i *lo)
{
    __m256i even = _mm256_mul_epu32(a, m);                                   /* lanes 0,2,4,6 */
    __m256i odd = _mm256_mul_epu32(_mm256_srli_epi64(a, 32), m);             /* lanes 1,3,5,7 */
    *lo = _mm256_blend_epi32(even, _mm256_slli_epi64(odd, 32), 0xAA);
    *hi = _mm256_blend_epi32(_mm256_srli_epi64(even, 32), odd, 0xAA);
}

static void philox_lanes(uint64_t ctr, const uint32_t key[2], uint32_t *out)
{
    uint32_t lo32[LANES], hi32[LANES];
    for (int l = 0; l < LANES; l++) {
        lo32[l] = (uint32_t)(ctr + l);
        hi32[l] = (uint32_t)((ctr + l) >> 32);
    }
    __m256i c0 = _mm256_loadu_si256((const __m256i *)lo32);
    __m256i c1 = _mm256_loadu_si256((const __m256i *)hi32);
    __m256i c2 = _mm256_setzero_si256(), c3 = _mm256_setzero_si256();
    const __m256i m0 = _mm256_set1_epi32((int)PHILOX_M0), m1 = _mm256_set1_epi32((int)PHILOX_M1);
    uint32_t k0 = key[0], k1 = key[1];
    for (int i = 0; i < PHILOX_ROUNDS; i++) {
        __m256i hi0, lo0, hi1, lo1;
        mul8(c0, m0, &hi0, &lo0);
        mul8(c2, m1, &hi1, &lo1);
        c0 = _mm256_xor_si256(_mm256_xor_si256(hi1, c1), _mm256_set1_epi32((int)k0));
        c1 = lo1;
        c2 = _mm256_xor_si256(_mm256_xor_si256(hi0, c3), _mm256_set1_epi32((int)k1));
        c3 = lo0;
        k0 += PHILOX_W0;
        k1 += PHILOX_W1;
    }
    uint32_t w[4][LANES];
    _mm256_storeu_si256((__m256i *)w[0], c0);
    _mm256_storeu_si256((__m256i *)w[1], c1);
    _mm256_storeu_si256((__m256i *)w[2], c2);
    _mm256_storeu_si256((__m256i *)w[3], c3);
    for (int l = 0; l < LANES; l++)
        for (int j = 0; j < 4; j++) out[4 * l + j] = w[j][l];
}
#else
static void philox_lanes(uint64_t ctr, const uint32_t key[2], uint32_t *out)
{
    for (int l = 0; l < LANES; l++) {
        uint32_t c[4] = {(uint32_t)(ctr + l), (uint32_t)((ctr + l) >> 32), 0, 0};
        philox_block(c, key, out + 4 * l);
    }
}
#endif

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
