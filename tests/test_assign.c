/* test_assign.c - the linear assignment solver (ds_assign_max) against brute
 * force over every injective map on small random matrices (square, wide and
 * tall), on ties and a planted permutation, plus its refusals. */
#include <math.h>
#include <string.h>

#include "check.h"
#include "deepsigns/rng.h"
#include "deepsigns/stats.h"

/* Best total over injective maps of rows r..n-1 into the columns not in
 * col_used, n <= m, by trying every one. */
static double brute_rows(const double *s, int n, int m, int r, unsigned col_used)
{
    if (r == n) return 0.0;
    double best = -INFINITY;
    for (int c = 0; c < m; c++) {
        if (col_used >> c & 1u) continue;
        double v = s[r * m + c] + brute_rows(s, n, m, r + 1, col_used | 1u << c);
        if (v > best) best = v;
    }
    return best;
}

/* The best total of score[n, m], the smaller side mapped into the larger. */
static double brute_best(const double *s, int n, int m)
{
    if (n <= m) return brute_rows(s, n, m, 0, 0);
    double t[36];
    for (int r = 0; r < n; r++)
        for (int c = 0; c < m; c++) t[c * n + r] = s[r * m + c];
    return brute_rows(t, m, n, 0, 0);
}

/* The solver's total, checking that its map is injective and complete. */
static double solver_total(const double *s, int n, int m, const int *rc)
{
    unsigned used = 0;
    int assigned = 0;
    double total = 0.0;
    for (int r = 0; r < n; r++) {
        if (rc[r] < 0) continue;
        CHECK(rc[r] < m, "row %d got column %d of %d", r, rc[r], m);
        CHECK(!(used >> rc[r] & 1u), "column %d given twice", rc[r]);
        used |= 1u << rc[r];
        assigned++;
        total += s[r * m + rc[r]];
    }
    CHECK(assigned == (n < m ? n : m), "%d of %d x %d assigned", assigned, n, m);
    return total;
}

static void test_against_brute_force(void)
{
    ds_rng r;
    ds_rng_init(&r, 7, 1);
    int cases = 0;
    for (int n = 1; n <= 6; n++)
        for (int m = 1; m <= 6; m++)
            for (int rep = 0; rep < 6; rep++) {
                double s[36];
                int rc[6];
                for (int i = 0; i < n * m; i++) s[i] = rep % 3 == 0 ? (double)(ds_rng_u32(&r) % 4)
                                                                 : ds_rng_normal(&r);
                ds_err err = {0};
                CHECK(ds_assign_max(s, n, m, rc, &err) == DS_OK, "%dx%d: %s", n, m, err.msg);
                const double want = brute_best(s, n, m), got = solver_total(s, n, m, rc);
                CHECK(fabs(want - got) < 1e-9, "%dx%d case %d: total %.12g, best %.12g", n, m, rep,
                      got, want);
                cases++;
            }
    CHECK(cases == 216, "%d cases", cases);
}

/* A planted permutation with strong diagonal scores is found exactly, at the
 * size realignment uses (512 reference units, 576 suspect units). */
static void test_planted(void)
{
    enum { N = 512, M = 576 };
    static double s[N * M];
    static int perm[M], rc[N];
    ds_rng r;
    ds_rng_init(&r, 11, 2);
    for (int j = 0; j < M; j++) perm[j] = j;
    for (int j = M - 1; j > 0; j--) {
        int k = (int)(ds_rng_u32(&r) % (uint32_t)(j + 1)), t = perm[j];
        perm[j] = perm[k];
        perm[k] = t;
    }
    for (int i = 0; i < N * M; i++) s[i] = 0.6 * ds_rng_uniformf(&r);
    for (int i = 0; i < N; i++) s[(size_t)i * M + perm[i]] = 0.9 + 0.1 * ds_rng_uniformf(&r);
    ds_err err = {0};
    CHECK(ds_assign_max(s, N, M, rc, &err) == DS_OK, "%s", err.msg);
    int right = 0;
    for (int i = 0; i < N; i++) right += rc[i] == perm[i];
    CHECK(right == N, "%d of %d planted pairs found", right, N);
}

static void test_refusals(void)
{
    double s[4] = {1, 2, NAN, 4};
    int rc[2] = {5, 5};
    ds_err err = {0};
    CHECK(ds_assign_max(s, 2, 2, rc, &err) == DS_EINVAL && strstr(err.msg, "not finite"),
          "a NaN score: %s", err.msg);
    CHECK(ds_assign_max(s, 0, 2, rc, &err) == DS_OK, "no rows");
    CHECK(ds_assign_max(s, 2, 0, rc, &err) == DS_OK && rc[0] == -1 && rc[1] == -1,
          "no columns: every row unassigned");
    CHECK(ds_assign_max(NULL, 2, 2, rc, &err) == DS_EINVAL, "no scores");
}

int main(void)
{
    RUN(test_against_brute_force);
    RUN(test_planted);
    RUN(test_refusals);
    TEST_MAIN_END();
}
