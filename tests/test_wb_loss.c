/* test_wb_loss.c - finite-difference checks of each term of the white-box
 * embedding loss (including L_mbits, the bits at the batch class means), for
 * both the activations and the class centres, and the no-NaN guarantee for a
 * batch without a target class. */
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "deepsigns/rng.h"
#include "wm/wb_loss.h"

enum { B = 6, M = 9, C = 4, S = 2, N = 5 };

typedef struct fixture {
    float f[B * M], centres[C * M], A[N * M];
    int y[B], targets[S];
    uint8_t bits[S * N];
    int nearest[C];
    double mu[M], g[M];
} fixture;

static void fixture_init(fixture *fx, uint64_t seed)
{
    ds_rng r;
    ds_rng_init(&r, seed, 0);
    for (int i = 0; i < B * M; i++) fx->f[i] = (float)ds_rng_normal(&r);
    for (int i = 0; i < C * M; i++) fx->centres[i] = 0.4f * (float)ds_rng_normal(&r);
    for (int i = 0; i < N * M; i++) fx->A[i] = (float)ds_rng_normal(&r);
    for (int b = 0; b < B; b++) fx->y[b] = b % C;
    fx->targets[0] = 1;
    fx->targets[1] = 3;
    for (int i = 0; i < S * N; i++) fx->bits[i] = (uint8_t)(ds_rng_u32(&r) & 1);
}

static ds_wb_batch batch_of(fixture *fx, int terms)
{
    return (ds_wb_batch){.f = fx->f, .y = fx->y, .B = B, .M = M, .centres = fx->centres, .C = C,
                         .A = fx->A, .bits = fx->bits, .targets = fx->targets, .s = S, .N = N,
                         .lambda1 = 0.7f, .lambda2 = 0.3f, .terms = terms};
}

/* Central differences of the loss in every entry of v[n] against grad[n]. */
static int fd_compare(fixture *fx, int terms, float *v, const float *grad, int n, const char *what)
{
    int bad = 0;
    const float eps = 1e-3f;
    for (int i = 0; i < n; i++) {
        float keep = v[i];
        ds_wb_batch in = batch_of(fx, terms);
        v[i] = keep + eps;
        double lp = ds_wb_loss(&in, NULL, NULL, fx->nearest, fx->mu, fx->g);
        v[i] = keep - eps;
        double lm = ds_wb_loss(&in, NULL, NULL, fx->nearest, fx->mu, fx->g);
        v[i] = keep;
        double num = (lp - lm) / (2.0 * eps);
        if (fabs(num - grad[i]) > 2e-3 + 1e-2 * fabs(num)) {
            if (bad < 3) fprintf(stderr, "%s[%d]: analytic %.6g numeric %.6g\n", what, i, grad[i], num);
            bad++;
        }
    }
    return bad;
}

static void check_term(int terms, const char *name)
{
    fixture fx;
    fixture_init(&fx, 11);
    float df[B * M] = {0}, dC[C * M] = {0};
    ds_wb_batch in = batch_of(&fx, terms);
    double loss = ds_wb_loss(&in, df, dC, fx.nearest, fx.mu, fx.g);
    CHECK(isfinite(loss), "%s: loss not finite", name);
    int bad_f = fd_compare(&fx, terms, fx.f, df, B * M, "df");
    int bad_c = fd_compare(&fx, terms, fx.centres, dC, C * M, "dC");
    CHECK(bad_f == 0, "%s: %d activation-gradient entries off", name, bad_f);
    CHECK(bad_c == 0, "%s: %d centre-gradient entries off", name, bad_c);
}

static void test_centre_gradient(void) { check_term(DS_WB_TERM_CENTRE, "L_centre"); }
static void test_sep_gradient(void) { check_term(DS_WB_TERM_SEP, "L_sep"); }
static void test_norm_gradient(void) { check_term(DS_WB_TERM_NORM, "L_norm"); }
static void test_bits_gradient(void) { check_term(DS_WB_TERM_BITS, "L_bits"); }
static void test_mbits_gradient(void) { check_term(DS_WB_TERM_MBITS, "L_mbits"); }
static void test_all_gradient(void) { check_term(DS_WB_TERM_ALL, "all terms"); }

/* A batch holding no sample of a target class contributes no centre term for
 * it: everything stays finite and that centre's L_centre gradient is zero. */
static void test_batch_without_target(void)
{
    fixture fx;
    fixture_init(&fx, 5);
    for (int b = 0; b < B; b++) fx.y[b] = b % 2 == 0 ? 0 : 2; /* targets are 1 and 3 */
    float df[B * M] = {0}, dC[C * M] = {0};
    ds_wb_batch in = batch_of(&fx, DS_WB_TERM_ALL);
    double loss = ds_wb_loss(&in, df, dC, fx.nearest, fx.mu, fx.g);
    int finite = isfinite(loss);
    for (int i = 0; i < B * M; i++) finite &= isfinite(df[i]);
    for (int i = 0; i < C * M; i++) finite &= isfinite(dC[i]);
    CHECK(finite, "NaN or Inf with no target class in the batch");
    float dc_centre[C * M] = {0};
    in.terms = DS_WB_TERM_CENTRE;
    ds_wb_loss(&in, NULL, dc_centre, fx.nearest, fx.mu, fx.g);
    for (int i = 0; i < M; i++)
        CHECK(dc_centre[1 * M + i] == 0.0f && dc_centre[3 * M + i] == 0.0f,
              "absent class got a centre gradient");
    float df_mbits[B * M] = {0};
    in.terms = DS_WB_TERM_MBITS;
    double lm = ds_wb_loss(&in, df_mbits, NULL, fx.nearest, fx.mu, fx.g);
    CHECK(lm == 0.0, "L_mbits of a batch without target classes is %g, not 0", lm);
    for (int i = 0; i < B * M; i++) CHECK(df_mbits[i] == 0.0f, "L_mbits gradient without target classes");
}

/* Bits decode from the batch class means once L_mbits is minimised by gradient
 * descent on the activations. */
static void test_mbits_descent_encodes_signature(void)
{
    fixture fx;
    fixture_init(&fx, 9);
    for (int it = 0; it < 500; it++) {
        float df[B * M] = {0};
        ds_wb_batch in = batch_of(&fx, DS_WB_TERM_MBITS);
        ds_wb_loss(&in, df, NULL, fx.nearest, fx.mu, fx.g);
        for (int i = 0; i < B * M; i++) fx.f[i] -= 0.05f * df[i];
    }
    int wrong = 0;
    for (int t = 0; t < S; t++)
        for (int j = 0; j < N; j++) {
            double z = 0;
            for (int b = 0; b < B; b++)
                if (fx.y[b] == fx.targets[t])
                    for (int i = 0; i < M; i++) z += fx.A[j * M + i] * fx.f[b * M + i];
            wrong += (z > 0) != fx.bits[t * N + j];
        }
    CHECK(wrong == 0, "%d bits not encoded in the class means after descent", wrong);
}

/* Bits decode from the centres once L_bits is minimised by gradient descent. */
static void test_bits_descent_encodes_signature(void)
{
    fixture fx;
    fixture_init(&fx, 8);
    for (int it = 0; it < 500; it++) {
        float dC[C * M] = {0};
        ds_wb_batch in = batch_of(&fx, DS_WB_TERM_BITS | DS_WB_TERM_NORM);
        ds_wb_loss(&in, NULL, dC, fx.nearest, fx.mu, fx.g);
        for (int i = 0; i < C * M; i++) fx.centres[i] -= 0.05f * dC[i];
    }
    int wrong = 0;
    for (int t = 0; t < S; t++)
        for (int j = 0; j < N; j++) {
            double z = 0;
            for (int i = 0; i < M; i++) z += fx.A[j * M + i] * fx.centres[fx.targets[t] * M + i];
            wrong += (z > 0) != fx.bits[t * N + j];
        }
    CHECK(wrong == 0, "%d bits not encoded after descent", wrong);
}

int main(void)
{
    RUN(test_centre_gradient);
    RUN(test_sep_gradient);
    RUN(test_norm_gradient);
    RUN(test_bits_gradient);
    RUN(test_mbits_gradient);
    RUN(test_all_gradient);
    RUN(test_batch_without_target);
    RUN(test_bits_descent_encodes_signature);
    RUN(test_mbits_descent_encodes_signature);
    TEST_MAIN_END();
}
