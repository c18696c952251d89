/* bench_train.c - one throughput measurement of the deepsigns engine, for tests/bench/run.sh.
 *
 *   bench_train MODE ARCH DATA_DIR BATCH SECONDS [DEPTH WIDEN]
 *
 * MODE train: SGD (lr 0.01, momentum 0.9) training steps of BATCH samples
 *   through ds_train, the library's own loop (batch fill, forward, loss,
 *   backward, optimizer), on the first training images of DATA_DIR. After a
 *   warm-up of 3 steps that also calibrates the step time, it runs as many
 *   steps as fit in SECONDS (at least 2) and prints "samples_per_s N".
 * MODE infer: the inference forward that eval and verify use (ds_model_run:
 *   batch fill, forward without gradients, argmax), over as many training
 *   images as fit in SECONDS after a warm-up; prints "samples_per_s N" (and,
 *   as for train below, the share of the time in sgemm and its GFLOP/s).
 * MODE info (no other argument): OpenBLAS's configuration and core.
 *   Every cblas_sgemm the library issues is timed (the program is linked with
 *   -Wl,--wrap=cblas_sgemm, so the calls of libdeepsigns.a come here first):
 *   it also prints the share of the step spent in sgemm and the step's GFLOP/s
 *   (GEMM flops only).
 * MODE sgemm: train, and then cblas_sgemm alone on the very shapes one step
 *   issued (recorded from the warm-up step, replayed back to back on buffers
 *   of the same sizes for SECONDS/2; the fastest replayed step): "sgemm_alone_gflops". With
 *   BENCH_TRAIN_SHAPES set, each shape's count, time and GFLOP/s on stderr.
 * DEPTH and WIDEN configure cifar10-wrn (default 16 4).
 * The thread count is OpenBLAS's own (OPENBLAS_NUM_THREADS), as in the CLI.
 */
#include <cblas.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "deepsigns/progress.h"
#include "deepsigns/train.h"

/* ---- the sgemm interposer (linked with -Wl,--wrap=cblas_sgemm) ---- */

void __real_cblas_sgemm(const enum CBLAS_ORDER order, const enum CBLAS_TRANSPOSE ta,
                        const enum CBLAS_TRANSPOSE tb, const blasint M, const blasint N,
                        const blasint K, const float alpha, const float *A, const blasint lda,
                        const float *B, const blasint ldb, const float beta, float *C,
                        const blasint ldc);
void __wrap_cblas_sgemm(const enum CBLAS_ORDER order, const enum CBLAS_TRANSPOSE ta,
                        const enum CBLAS_TRANSPOSE tb, const blasint M, const blasint N,
                        const blasint K, const float alpha, const float *A, const blasint lda,
                        const float *B, const blasint ldb, const float beta, float *C,
                        const blasint ldc);

/* One distinct GEMM shape of a step and how often the step issued it. */
typedef struct gemm_shape {
    int order, ta, tb, M, N, K, lda, ldb, ldc, beta0;
    long count;
} gemm_shape;

enum { MAX_SHAPES = 512 };

/* The interposer's state: one per process (this program is single-threaded
 * outside OpenBLAS, and sgemm is called from the main thread only). */
static struct {
    int timing;          /* accumulate time and flops */
    int recording;       /* collect distinct shapes */
    double seconds, flops;
    long calls;
    int nshapes, overflow;
    gemm_shape shapes[MAX_SHAPES];
} g_wrap;

static void record_shape(int order, int ta, int tb, int M, int N, int K, int lda, int ldb, int ldc,
                         int beta0)
{
    for (int i = 0; i < g_wrap.nshapes; i++) {
        gemm_shape *s = &g_wrap.shapes[i];
        if (s->order == order && s->ta == ta && s->tb == tb && s->M == M && s->N == N &&
            s->K == K && s->lda == lda && s->ldb == ldb && s->ldc == ldc && s->beta0 == beta0) {
            s->count++;
            return;
        }
    }
    if (g_wrap.nshapes == MAX_SHAPES) {
        g_wrap.overflow = 1;
        return;
    }
    g_wrap.shapes[g_wrap.nshapes++] = (gemm_shape){order, ta, tb, M, N, K, lda, ldb, ldc, beta0, 1};
}

void __wrap_cblas_sgemm(const enum CBLAS_ORDER order, const enum CBLAS_TRANSPOSE ta,
                        const enum CBLAS_TRANSPOSE tb, const blasint M, const blasint N,
                        const blasint K, const float alpha, const float *A, const blasint lda,
                        const float *B, const blasint ldb, const float beta, float *C,
                        const blasint ldc)
{
    if (g_wrap.recording)
        record_shape(order, ta, tb, M, N, K, lda, ldb, ldc, beta == 0.0f);
    if (!g_wrap.timing) {
        __real_cblas_sgemm(order, ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
        return;
    }
    double t0 = ds_now();
    __real_cblas_sgemm(order, ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
    g_wrap.seconds += ds_now() - t0;
    g_wrap.flops += 2.0 * M * N * K;
    g_wrap.calls++;
}

/* Rows of a stored operand: row-major, op(X) is rows x cols; stored X is
 * rows x cols when not transposed, cols x rows when transposed. */
static size_t stored_len(int trans, int rows, int cols, int ld)
{
    return (size_t)(trans == CblasTrans ? cols : rows) * (size_t)ld;
}

/* Replay the recorded shapes of one step (each as often as the step issued it)
 * back to back on buffers of the same sizes, for at least `budget` seconds;
 * returns the seconds of the fastest replayed step, or -1 when out of memory. */
static double replay_step(double budget, double *flops_per_step)
{
    size_t la = 1, lb = 1, lc = 1;
    double flops = 0.0;
    for (int i = 0; i < g_wrap.nshapes; i++) {
        const gemm_shape *s = &g_wrap.shapes[i];
        size_t a = stored_len(s->ta, s->M, s->K, s->lda), b = stored_len(s->tb, s->K, s->N, s->ldb);
        size_t c = (size_t)s->M * s->ldc;
        if (a > la) la = a;
        if (b > lb) lb = b;
        if (c > lc) lc = c;
        flops += 2.0 * s->M * s->N * s->K * s->count;
    }
    float *A = malloc(sizeof *A * la), *B = malloc(sizeof *B * lb), *C = malloc(sizeof *C * lc);
    if (!A || !B || !C) {
        free(A); free(B); free(C);
        return -1.0;
    }
    for (size_t i = 0; i < la; i++) A[i] = (float)(i % 7) * 0.01f;
    for (size_t i = 0; i < lb; i++) B[i] = (float)(i % 5) * 0.01f;
    memset(C, 0, sizeof *C * lc);
    if (getenv("BENCH_TRAIN_SHAPES")) /* each recorded shape alone, on stderr */
        for (int i = 0; i < g_wrap.nshapes; i++) {
            const gemm_shape *s = &g_wrap.shapes[i];
            double u0 = ds_now();
            for (long r = 0; r < s->count; r++)
                __real_cblas_sgemm((enum CBLAS_ORDER)s->order, (enum CBLAS_TRANSPOSE)s->ta,
                                   (enum CBLAS_TRANSPOSE)s->tb, s->M, s->N, s->K, 1.0f, A, s->lda,
                                   B, s->ldb, s->beta0 ? 0.0f : 1.0f, C, s->ldc);
            double u = ds_now() - u0;
            fprintf(stderr, "shape %c%c M %d N %d K %d lda %d ldb %d ldc %d beta %d x%ld: %.2f ms, %.1f GFLOP/s\n",
                    s->ta == CblasTrans ? 'T' : 'N', s->tb == CblasTrans ? 'T' : 'N', s->M, s->N,
                    s->K, s->lda, s->ldb, s->ldc, !s->beta0, s->count, u * 1e3,
                    2.0 * s->M * s->N * s->K * s->count / u / 1e9);
        }
    /* the fastest replayed step: the ceiling, least disturbed by other load */
    double t0 = ds_now(), best = -1.0;
    do {
        double r0 = ds_now();
        for (int i = 0; i < g_wrap.nshapes; i++) {
            const gemm_shape *s = &g_wrap.shapes[i];
            for (long r = 0; r < s->count; r++)
                __real_cblas_sgemm((enum CBLAS_ORDER)s->order, (enum CBLAS_TRANSPOSE)s->ta,
                                   (enum CBLAS_TRANSPOSE)s->tb, s->M, s->N, s->K, 1.0f, A, s->lda,
                                   B, s->ldb, s->beta0 ? 0.0f : 1.0f, C, s->ldc);
        }
        double r = ds_now() - r0;
        if (best < 0 || r < best) best = r;
    } while (ds_now() - t0 < budget);
    free(A); free(B); free(C);
    *flops_per_step = flops;
    return best;
}

/* ---- the measurements ---- */

/* CPU seconds of this process: on a machine shared with other work, samples per
 * CPU second move far less than samples per wall second (time spent descheduled
 * does not count). With one thread they are the same measure on an idle machine. */
static double cpu_now(void)
{
    struct timespec ts;
    if (clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts)) return 0.0;
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

static int fail(const ds_err *err)
{
    fprintf(stderr, "bench_train: %s\n", err->msg);
    return 1;
}

/* SGD training of `steps` steps of B samples over the first samples of d
 * (whole epochs of at most d->n samples); returns the seconds, or < 0 on error. */
static double train_steps(ds_model *m, const ds_dataset *d, const uint32_t *idx, long steps, int B,
                          ds_err *err)
{
    size_t want = (size_t)steps * B, per_epoch = d->n / B * B;
    if (per_epoch == 0) per_epoch = d->n;
    int epochs = 1;
    size_t n = want;
    if (want > per_epoch) {
        epochs = (int)((want + per_epoch - 1) / per_epoch);
        n = per_epoch;
    }
    ds_train_cfg cfg = {.epochs = epochs, .batch = B, .seed = 1};
    cfg.opt = ds_optim_defaults(DS_OPT_SGD);
    cfg.opt.lr = 0.01f;
    cfg.opt.momentum = 0.9f;
    ds_train_stats st;
    if (ds_train(m, d, idx, n, &cfg, NULL, &st, err)) return -1.0;
    return st.seconds / st.steps * steps;
}

static int run_train(ds_model *m, const ds_dataset *d, const uint32_t *idx, int B, double budget,
                     int sgemm)
{
    ds_err err = {0};
    /* warm-up, and the step time to size the run: one step when that is slow
     * against the budget, three more otherwise */
    g_wrap.recording = sgemm; /* the shapes of one real step, for the replay */
    double per = train_steps(m, d, idx, 1, B, &err);
    g_wrap.recording = 0;
    if (per < 0) return fail(&err);
    if (g_wrap.overflow) {
        fprintf(stderr, "bench_train: more than %d distinct GEMM shapes in one step\n", MAX_SHAPES);
        return 1;
    }
    if (per * 3 < budget) {
        double t3 = train_steps(m, d, idx, 3, B, &err);
        if (t3 < 0) return fail(&err);
        per = t3 / 3;
    }
    long steps = (long)(budget / per);
    if (steps < 2) steps = 2;
    g_wrap.timing = 1; /* two clock reads per call: well under 0.1 % of any step */
    double t0 = ds_now(), c0 = cpu_now();
    if (train_steps(m, d, idx, steps, B, &err) < 0) return fail(&err);
    double wall = ds_now() - t0, cpu = cpu_now() - c0;
    printf("steps %ld\nseconds %.3f\nsamples_per_s %.2f\ncpu_samples_per_s %.2f\n", steps, wall,
           (double)steps * B / wall, cpu > 0 ? (double)steps * B / cpu : 0.0);
    g_wrap.timing = 0;
    double step = wall / steps, in_step = g_wrap.seconds / steps, flops = g_wrap.flops / steps;
    printf("step_ms %.3f\nsgemm_ms_in_step %.3f\nsgemm_share %.3f\nsgemm_calls_per_step %.0f\n"
           "gemm_gflop_per_step %.4f\nstep_gflops %.2f\nsgemm_in_step_gflops %.2f\n",
           step * 1e3, in_step * 1e3, in_step / step, (double)g_wrap.calls / steps, flops / 1e9,
           flops / step / 1e9, in_step > 0 ? flops / in_step / 1e9 : 0.0);
    if (sgemm) {
        double flops_rec = 0.0, alone = replay_step(budget / 2, &flops_rec);
        if (alone < 0) {
            fprintf(stderr, "bench_train: out of memory for the sgemm replay\n");
            return 1;
        }
        printf("sgemm_alone_ms %.3f\nsgemm_alone_gflops %.2f\ndistinct_shapes %d\n", alone * 1e3,
               flops_rec / alone / 1e9, g_wrap.nshapes);
    }
    return 0;
}

static int run_infer(ds_model *m, const ds_dataset *d, double budget)
{
    ds_err err = {0};
    int *pred = malloc(sizeof *pred * d->n);
    if (!pred) {
        fprintf(stderr, "bench_train: out of memory for %zu predictions\n", d->n);
        return 1;
    }
    size_t n0 = d->n < 256 ? d->n : 256;
    if (ds_model_run(m, d, NULL, n0, 0, NULL, pred, &err)) return free(pred), fail(&err);
    double t0 = ds_now();
    if (ds_model_run(m, d, NULL, n0, 0, NULL, pred, &err)) return free(pred), fail(&err);
    double per = (ds_now() - t0) / n0;
    /* as many samples as fit in the budget: whole chunks of 256, whole passes of d */
    size_t want = (size_t)(budget / per);
    if (want < n0) want = n0;
    want = (want + 255) / 256 * 256;
    size_t done = 0;
    g_wrap.timing = 1;
    t0 = ds_now();
    double c0 = cpu_now();
    while (done < want) {
        size_t n = want - done < d->n ? want - done : d->n;
        if (ds_model_run(m, d, NULL, n, 0, NULL, pred, &err)) return free(pred), fail(&err);
        done += n;
    }
    double wall = ds_now() - t0, cpu = cpu_now() - c0;
    g_wrap.timing = 0;
    printf("samples %zu\nseconds %.3f\nsamples_per_s %.2f\ncpu_samples_per_s %.2f\nsgemm_share %.3f\n"
           "step_gflops %.2f\n", done, wall, done / wall, cpu > 0 ? done / cpu : 0.0, g_wrap.seconds / wall,
           g_wrap.flops / wall / 1e9);
    free(pred);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc == 2 && !strcmp(argv[1], "info")) { /* the BLAS this program runs on */
        printf("openblas %s\ncore %s\nthreads %d\n", openblas_get_config(),
               openblas_get_corename(), openblas_get_num_threads());
        return 0;
    }
    if (argc != 6 && argc != 8) {
        fprintf(stderr, "usage: bench_train train|infer|sgemm ARCH DATA_DIR BATCH SECONDS [DEPTH WIDEN]\n");
        return 2;
    }
    const char *mode = argv[1], *arch_name = argv[2];
    int batch = atoi(argv[4]);
    double budget = atof(argv[5]);
    if (strcmp(mode, "train") && strcmp(mode, "infer") && strcmp(mode, "sgemm")) {
        fprintf(stderr, "bench_train: unknown mode '%s' (train, infer or sgemm)\n", mode);
        return 2;
    }
    if (batch < 1 || !(budget > 0)) {
        fprintf(stderr, "bench_train: BATCH must be >= 1 and SECONDS > 0\n");
        return 2;
    }
    ds_err err = {0};
    ds_dataset train = {0}, test = {0};
    if (ds_data_load_dir(argv[3], DS_FORMAT_AUTO, &train, &test, &err)) return fail(&err);
    ds_arch arch;
    if (ds_arch_defaults(arch_name, train.c, train.h, train.w, train.num_classes, &arch, &err))
        return fail(&err);
    if (argc == 8) {
        arch.depth = atoi(argv[6]);
        arch.widen = atoi(argv[7]);
        if (ds_arch_validate(&arch, &err)) return fail(&err);
    }
    ds_model *m = ds_model_build(&arch, &err);
    if (!m) return fail(&err);
    ds_model_init_params(m, 1);
    printf("params %zu\n", m->nparams);
    uint32_t *idx = malloc(sizeof *idx * train.n);
    if (!idx) {
        fprintf(stderr, "bench_train: out of memory\n");
        return 1;
    }
    for (size_t i = 0; i < train.n; i++) idx[i] = (uint32_t)i;
    int rc = !strcmp(mode, "infer") ? run_infer(m, &train, budget)
                                    : run_train(m, &train, idx, batch, budget, !strcmp(mode, "sgemm"));
    free(idx);
    ds_model_free(m);
    ds_dataset_free(&train);
    ds_dataset_free(&test);
    return rc;
}
