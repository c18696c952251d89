/* test_rng.c - the Philox streams: known-answer vectors, bulk fill equal to
 * word-by-word draws, stream independence, bounded integers and shuffles. */
#include <string.h>

#include "check.h"
#include "deepsigns/rng.h"

/* Philox4x32-10 known-answer test from the Random123 distribution (kat_vectors):
 * counter {0,0,0,0}, key {0,0} -> 6627e8d5 e169c58d bc57ac4c 9b00dbd8. Our stream
 * with key 0 and counter 0 must produce it. */
static void test_known_answer(void)
{
    ds_rng r = {.key = {0, 0}, .counter = 0, .used = 4};
    uint32_t w[4];
    for (int i = 0; i < 4; i++) w[i] = ds_rng_u32(&r);
    CHECK(w[0] == 0x6627e8d5u && w[1] == 0xe169c58du && w[2] == 0xbc57ac4cu && w[3] == 0x9b00dbd8u,
          "Philox4x32-10 KAT: got %08x %08x %08x %08x", w[0], w[1], w[2], w[3]);
    ds_rng r2 = {.key = {0xa4093822u, 0x299f31d0u}, .counter = 0, .used = 4};
    CHECK(ds_rng_u32(&r2) != 0x6627e8d5u, "the key must change the stream");
}

static void test_fill_matches_words(void)
{
    for (size_t n = 0; n < 300; n += 37) {
        for (int skip = 0; skip < 6; skip++) {
            ds_rng a, b;
            ds_rng_init(&a, 42, 7);
            ds_rng_init(&b, 42, 7);
            for (int i = 0; i < skip; i++) { ds_rng_u32(&a); ds_rng_u32(&b); }
            uint32_t buf[300];
            ds_rng_fill(&a, buf, n);
            int bad = 0;
            for (size_t i = 0; i < n; i++) bad += buf[i] != ds_rng_u32(&b);
            CHECK(bad == 0, "fill of %zu after %d words differs in %d words", n, skip, bad);
            CHECK(ds_rng_u32(&a) == ds_rng_u32(&b), "streams out of step after fill of %zu", n);
        }
    }
}

/* every vector copy of the bulk generator this CPU can run gives the scalar words */
static void test_vector_copies(void)
{
    int copies = ds_rng_lanes_check();
    CHECK(copies >= 0, "%d vector Philox blocks differ from the scalar ones", -copies);
    printf("  (%d vector copies checked on this CPU)\n", copies);
}

static void test_streams_independent(void)
{
    ds_rng a, b, c;
    ds_rng_init(&a, 1, 1);
    ds_rng_init(&b, 1, 2);
    ds_rng_init(&c, 2, 1);
    int same_ab = 0, same_ac = 0;
    for (int i = 0; i < 1000; i++) {
        uint32_t x = ds_rng_u32(&a);
        same_ab += x == ds_rng_u32(&b);
        same_ac += x == ds_rng_u32(&c);
    }
    CHECK(same_ab < 3 && same_ac < 3, "streams collide: %d, %d", same_ab, same_ac);
    ds_rng d, e;
    ds_rng_init(&d, 9, 9);
    ds_rng_init(&e, 9, 9);
    for (int i = 0; i < 100; i++) CHECK(ds_rng_u64(&d) == ds_rng_u64(&e), "same stream differs");
}

static void test_distributions(void)
{
    ds_rng r;
    ds_rng_init(&r, 3, 3);
    enum { N = 200000 };
    double s = 0, s2 = 0, su = 0;
    int hist[10] = {0};
    for (int i = 0; i < N; i++) {
        double z = ds_rng_normal(&r);
        s += z;
        s2 += z * z;
        double u = ds_rng_uniform(&r);
        CHECK(u >= 0.0 && u < 1.0, "uniform out of [0,1): %g", u);
        su += u;
        hist[ds_rng_below(&r, 10)]++;
    }
    CHECK(fabs(s / N) < 0.01, "normal mean %g", s / N);
    CHECK(fabs(s2 / N - 1.0) < 0.02, "normal variance %g", s2 / N);
    CHECK(fabs(su / N - 0.5) < 0.005, "uniform mean %g", su / N);
    for (int k = 0; k < 10; k++) CHECK(abs(hist[k] - N / 10) < 800, "below(10) bucket %d: %d", k, hist[k]);
}

static void test_shuffle_is_permutation(void)
{
    enum { N = 1000 };
    uint32_t v[N];
    for (uint32_t i = 0; i < N; i++) v[i] = i;
    ds_rng r;
    ds_rng_init(&r, 5, 0);
    ds_rng_shuffle(&r, v, N);
    int seen[N] = {0}, fixed = 0;
    for (int i = 0; i < N; i++) {
        seen[v[i]]++;
        fixed += v[i] == (uint32_t)i;
    }
    for (int i = 0; i < N; i++) CHECK(seen[i] == 1, "value %d seen %d times", i, seen[i]);
    CHECK(fixed < 10, "%d fixed points: not shuffled", fixed);
}

int main(void)
{
    RUN(test_known_answer);
    RUN(test_fill_matches_words);
    RUN(test_vector_copies);
    RUN(test_streams_independent);
    RUN(test_distributions);
    RUN(test_shuffle_is_permutation);
    TEST_MAIN_END();
}
