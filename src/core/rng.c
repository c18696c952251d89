/* rng.c - Philox4x32-10 counter-based generator (Salmon et al., SC'11). */
#include "deepsigns/rng.h"

#include <math.h>
#include <string.h>

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
 * the same words as LANES calls of philox_block. One copy per vector width,
 * picked per call from cpuid (GCC's __builtin_cpu_supports), so the portable
 * x86-64-v2 build runs the AVX-512 or AVX2 one where the CPU has it. Integer
 * arithmetic: every copy gives the same words (test_rng checks them against
 * philox_block). */
enum { LANES = 16 };

static void philox_lanes_scalar(uint64_t ctr, const uint32_t key[2], uint32_t *out)
{
    for (int l = 0; l < LANES; l++) {
        uint32_t c[4] = {(uint32_t)(ctr + l), (uint32_t)((ctr + l) >> 32), 0, 0};
        philox_block(c, key, out + 4 * l);
    }
}

#if defined(__GNUC__) && defined(__x86_64__)
#include <immintrin.h>
#define DS_PHILOX_SIMD 1

/* the counters of blocks ctr .. ctr+15: low and high words */
static inline void lane_counters(uint64_t ctr, uint32_t lo[LANES], uint32_t hi[LANES])
{
    for (int l = 0; l < LANES; l++) {
        lo[l] = (uint32_t)(ctr + (uint64_t)l);
        hi[l] = (uint32_t)((ctr + (uint64_t)l) >> 32);
    }
}

/* w[j][l] (word j of block l) -> out[4 l + j] */
static inline void lane_store(uint32_t w[4][LANES], uint32_t *out)
{
    for (int l = 0; l < LANES; l++)
        for (int j = 0; j < 4; j++) out[4 * l + j] = w[j][l];
}

__attribute__((target("avx512f"))) static void philox_lanes_avx512(uint64_t ctr, const uint32_t key[2],
                                                                   uint32_t *out)
{
    uint32_t lo32[LANES], hi32[LANES], w[4][LANES];
    lane_counters(ctr, lo32, hi32);
    __m512i c0 = _mm512_loadu_si512(lo32), c1 = _mm512_loadu_si512(hi32);
    __m512i c2 = _mm512_setzero_si512(), c3 = _mm512_setzero_si512();
    const __m512i m0 = _mm512_set1_epi32((int)PHILOX_M0), m1 = _mm512_set1_epi32((int)PHILOX_M1);
    uint32_t k0 = key[0], k1 = key[1];
    for (int i = 0; i < PHILOX_ROUNDS; i++) {
        /* 32x32 -> 64 products of the even lanes and of the odd lanes */
        __m512i e0 = _mm512_mul_epu32(c0, m0), o0 = _mm512_mul_epu32(_mm512_srli_epi64(c0, 32), m0);
        __m512i e1 = _mm512_mul_epu32(c2, m1), o1 = _mm512_mul_epu32(_mm512_srli_epi64(c2, 32), m1);
        __m512i lo0 = _mm512_mask_blend_epi32(0xAAAA, e0, _mm512_slli_epi64(o0, 32));
        __m512i hi0 = _mm512_mask_blend_epi32(0xAAAA, _mm512_srli_epi64(e0, 32), o0);
        __m512i lo1 = _mm512_mask_blend_epi32(0xAAAA, e1, _mm512_slli_epi64(o1, 32));
        __m512i hi1 = _mm512_mask_blend_epi32(0xAAAA, _mm512_srli_epi64(e1, 32), o1);
        c0 = _mm512_xor_si512(_mm512_xor_si512(hi1, c1), _mm512_set1_epi32((int)k0));
        c1 = lo1;
        c2 = _mm512_xor_si512(_mm512_xor_si512(hi0, c3), _mm512_set1_epi32((int)k1));
        c3 = lo0;
        k0 += PHILOX_W0;
        k1 += PHILOX_W1;
    }
    _mm512_storeu_si512(w[0], c0);
    _mm512_storeu_si512(w[1], c1);
    _mm512_storeu_si512(w[2], c2);
    _mm512_storeu_si512(w[3], c3);
    lane_store(w, out);
}

/* high and low 32 bits of a[i] * m for the 8 lanes of a */
__attribute__((target("avx2"))) static inline void mul8(__m256i a, __m256i m, __m256i *hi, __m256i *lo)
{
    __m256i even = _mm256_mul_epu32(a, m);                       /* lanes 0,2,4,6 */
    __m256i odd = _mm256_mul_epu32(_mm256_srli_epi64(a, 32), m); /* lanes 1,3,5,7 */
    *lo = _mm256_blend_epi32(even, _mm256_slli_epi64(odd, 32), 0xAA);
    *hi = _mm256_blend_epi32(_mm256_srli_epi64(even, 32), odd, 0xAA);
}

__attribute__((target("avx2"))) static void philox_lanes_avx2(uint64_t ctr, const uint32_t key[2],
                                                              uint32_t *out)
{
    uint32_t lo32[LANES], hi32[LANES], w[4][LANES];
    lane_counters(ctr, lo32, hi32);
    const __m256i m0 = _mm256_set1_epi32((int)PHILOX_M0), m1 = _mm256_set1_epi32((int)PHILOX_M1);
    for (int h = 0; h < LANES; h += 8) { /* two halves of 8 blocks */
        __m256i c0 = _mm256_loadu_si256((const __m256i *)(lo32 + h));
        __m256i c1 = _mm256_loadu_si256((const __m256i *)(hi32 + h));
        __m256i c2 = _mm256_setzero_si256(), c3 = _mm256_setzero_si256();
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
        _mm256_storeu_si256((__m256i *)(w[0] + h), c0);
        _mm256_storeu_si256((__m256i *)(w[1] + h), c1);
        _mm256_storeu_si256((__m256i *)(w[2] + h), c2);
        _mm256_storeu_si256((__m256i *)(w[3] + h), c3);
    }
    lane_store(w, out);
}
#endif

static void philox_lanes(uint64_t ctr, const uint32_t key[2], uint32_t *out)
{
#ifdef DS_PHILOX_SIMD
    if (__builtin_cpu_supports("avx512f")) {
        philox_lanes_avx512(ctr, key, out);
        return;
    }
    if (__builtin_cpu_supports("avx2")) {
        philox_lanes_avx2(ctr, key, out);
        return;
    }
#endif
    philox_lanes_scalar(ctr, key, out);
}

int ds_rng_lanes_check(void)
{
    static const uint64_t ctrs[] = {0, 1, 0xFFFFFFF8ull, 0x123456789ull, ~0ull - 7};
    static const uint32_t keys[][2] = {{0, 0}, {0xDEADBEEFu, 0x01234567u}, {~0u, ~0u}};
    int copies = 0, bad = 0;
    for (size_t c = 0; c < sizeof ctrs / sizeof *ctrs; c++)
        for (size_t k = 0; k < sizeof keys / sizeof *keys; k++) {
            uint32_t want[4 * LANES], got[4 * LANES];
            philox_lanes_scalar(ctrs[c], keys[k], want);
            copies = 0;
#ifdef DS_PHILOX_SIMD
            if (__builtin_cpu_supports("avx512f")) {
                philox_lanes_avx512(ctrs[c], keys[k], got);
                bad += memcmp(want, got, sizeof got) != 0;
                copies++;
            }
            if (__builtin_cpu_supports("avx2")) {
                philox_lanes_avx2(ctrs[c], keys[k], got);
                bad += memcmp(want, got, sizeof got) != 0;
                copies++;
            }
#endif
        }
    return bad ? -bad : copies;
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
