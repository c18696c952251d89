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
 *   as for train below, the share of the time in the GEMM kernels).
 * MODE info (no other argument): OpenBLAS's configuration and core.
 * MODE peak (bench_train peak N SECONDS): this machine's fp32 GEMM ceiling at
 *   this thread count: ds_sgemm (the dense layers' GEMM) and OpenBLAS's
 *   cblas_sgemm on N x N x N, the fastest of repeated calls within SECONDS
 *   each: "peak_gflops" (the better) and both.
 *   "The GEMM kernels" are every ds_sgemm (the dense layers: oneDNN's or
 *   OpenBLAS's sgemm), cblas_sgemm (im2col convolutions, the OpenBLAS build)
 *   and convolution plan call (oneDNN's primitives, reorders included) that
 *   libdeepsigns.a issues: the program is linked with -Wl,--wrap= for each, so
 *   they come here first and are timed (a call nested in another, such as
 *   ds_sgemm's OpenBLAS fallback, counts once). Printed: their share of the
 *   step and the step's GFLOP/s (GEMM and convolution flops only).
 * MODE gemm: train, and then those kernels alone on the very shapes one step
 *   issued (recorded from the warm-up step and replayed back to back: GEMMs
 *   on buffers of the same sizes, convolution plans on the operands they were
 *   called with; for SECONDS/2; the fastest replayed step): "gemm_alone_gflops".
 *   With BENCH_TRAIN_SHAPES set, each call's count, time and GFLOP/s on stderr.
 * DEPTH and WIDEN configure cifar10-wrn (default 16 4).
 * The thread count is OpenBLAS's own (OPENBLAS_NUM_THREADS), as in the CLI.
 */
#include <cblas.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "deepsigns/kernels.h"
#include "deepsigns/progress.h"
#include "deepsigns/train.h"

/* ---- the kernel interposer (linked with -Wl,--wrap=...) ---- */

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
void __real_ds_sgemm(int ta, int tb, int M, int N, int K, const float *A, int lda, const float *B,
                     int ldb, float beta, float *C, int ldc);
void __wrap_ds_sgemm(int ta, int tb, int M, int N, int K, const float *A, int lda, const float *B,
                     int ldb, float beta, float *C, int ldc);
void __real_ds_conv_plan_forward(ds_conv_plan *p, float *y, const float *x, const float *W,
                                 const float *b, float *scratch);
void __wrap_ds_conv_plan_forward(ds_conv_plan *p, float *y, const float *x, const float *W,
                                 const float *b, float *scratch);
void __real_ds_conv_plan_backward(ds_conv_plan *p, float *dx, float *dW, float *db, const float *dy,
                                  const float *x, const float *W, float *scratch);
void __wrap_ds_conv_plan_backward(ds_conv_plan *p, float *dx, float *dW, float *db, const float *dy,
                                  const float *x, const float *W, float *scratch);

/* (the library issues row-major GEMMs with alpha 1 only; the replay assumes it) */
typedef enum op_kind { OP_DS_SGEMM, OP_CBLAS_SGEMM, OP_CONV_FWD, OP_CONV_BWD } op_kind;

/* One distinct kernel call of a step and how often the step issued it. GEMMs
 * (row-major, alpha 1) by shape; convolution plans by plan and operands. */
typedef struct op_rec {
    op_kind kind;
    int ta, tb, M, N, K, lda, ldb, ldc, beta0;
    ds_conv_plan *plan;
    float *y, *dx, *dW, *db, *scratch;
    const float *x, *W, *b, *dy;
    double flops;
    long count;
} op_rec;

enum { MAX_OPS = 512 };

/* The interposer's state: one per process (the library issues its kernels from
 * the main thread only). */
static struct {
    int timing;          /* accumulate time and flops */
    int recording;       /* collect distinct calls */
    int depth;           /* kernel calls in progress (nested ones count once) */
    double seconds, flops;
    long calls;
    int nops, overflow;
    op_rec ops[MAX_OPS];
} g_wrap;

static int same_op(const op_rec *a, const op_rec *b)
{
    return a->kind == b->kind && a->ta == b->ta && a->tb == b->tb && a->M == b->M &&
           a->N == b->N && a->K == b->K && a->lda == b->lda && a->ldb == b->ldb &&
           a->ldc == b->ldc && a->beta0 == b->beta0 && a->plan == b->plan && a->y == b->y &&
           a->dx == b->dx && a->dW == b->dW && a->db == b->db && a->x == b->x && a->W == b->W &&
           a->b == b->b && a->dy == b->dy;
}

static void record_op(const op_rec *r)
{
    for (int i = 0; i < g_wrap.nops; i++)
        if (same_op(&g_wrap.ops[i], r)) {
            g_wrap.ops[i].count++;
            return;
        }
    if (g_wrap.nops == MAX_OPS) {
        g_wrap.overflow = 1;
        return;
    }
    g_wrap.ops[g_wrap.nops] = *r;
    g_wrap.ops[g_wrap.nops++].count = 1;
}

/* around every wrapped call: returns the start time (0 when not timed) */
static double op_begin(const op_rec *r)
{
    if (g_wrap.depth++ > 0) return 0.0;
    if (g_wrap.recording) record_op(r);
    return g_wrap.timing ? ds_now() : 0.0;
}

static void op_end(double t0, double flops)
{
    if (--g_wrap.depth > 0 || !g_wrap.timing) return;
    g_wrap.seconds += ds_now() - t0;
    g_wrap.flops += flops;
    g_wrap.calls++;
}

static double gemm_flops(int M, int N, int K) { return 2.0 * M * N * K; }

/* forward, or one of the two backward products: 2 B F Ho Wo C K K */
static double conv_flops(const ds_conv_plan *p)
{
    const ds_conv_shape *s = ds_conv_plan_shape(p);
    return 2.0 * s->B * s->F * s->Ho * s->Wo * s->C * s->K * s->K;
}

void __wrap_cblas_sgemm(const enum CBLAS_ORDER order, const enum CBLAS_TRANSPOSE ta,
                        const enum CBLAS_TRANSPOSE tb, const blasint M, const blasint N,
                        const blasint K, const float alpha, const float *A, const blasint lda,
                        const float *B, const blasint ldb, const float beta, float *C,
                        const blasint ldc)
{
    op_rec r = {.kind = OP_CBLAS_SGEMM, .ta = ta == CblasTrans, .tb = tb == CblasTrans, .M = M,
                .N = N, .K = K, .lda = lda, .ldb = ldb, .ldc = ldc, .beta0 = beta == 0.0f,
                .flops = gemm_flops(M, N, K)};
    double t0 = op_begin(&r);
    __real_cblas_sgemm(order, ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
    op_end(t0, r.flops);
}

void __wrap_ds_sgemm(int ta, int tb, int M, int N, int K, const float *A, int lda, const float *B,
                     int ldb, float beta, float *C, int ldc)
{
    op_rec r = {.kind = OP_DS_SGEMM, .ta = ta, .tb = tb, .M = M, .N = N, .K = K, .lda = lda,
                .ldb = ldb, .ldc = ldc, .beta0 = beta == 0.0f, .flops = gemm_flops(M, N, K)};
    double t0 = op_begin(&r);
    __real_ds_sgemm(ta, tb, M, N, K, A, lda, B, ldb, beta, C, ldc);
    op_end(t0, r.flops);
}

void __wrap_ds_conv_plan_forward(ds_conv_plan *p, float *y, const float *x, const float *W,
                                 const float *b, float *scratch)
{
    op_rec r = {.kind = OP_CONV_FWD, .plan = p, .y = y, .x = x, .W = W, .b = b,
                .scratch = scratch, .flops = conv_flops(p)};
    double t0 = op_begin(&r);
    __real_ds_conv_plan_forward(p, y, x, W, b, scratch);
    op_end(t0, r.flops);
}

void __wrap_ds_conv_plan_backward(ds_conv_plan *p, float *dx, float *dW, float *db, const float *dy,
                                  const float *x, const float *W, float *scratch)
{
    op_rec r = {.kind = OP_CONV_BWD, .plan = p, .dx = dx, .dW = dW, .db = db, .dy = dy, .x = x,
                .W = W, .scratch = scratch, .flops = conv_flops(p) * (dx ? 2 : 1)};
    double t0 = op_begin(&r);
    __real_ds_conv_plan_backward(p, dx, dW, db, dy, x, W, scratch);
    op_end(t0, r.flops);
}

/* Rows of a stored operand: row-major, op(X) is rows x cols; stored X is
 * rows x cols when not transposed, cols x rows when transposed. */
static size_t stored_len(int trans, int rows, int cols, int ld)
{
    return (size_t)(trans ? cols : rows) * (size_t)ld;
}

/* one recorded call again: GEMMs on A, B, C (large enough for every shape),
 * convolution plans on the operands they were recorded with */
static void replay_op(const op_rec *s, const float *A, const float *B, float *C)
{
    switch (s->kind) {
    case OP_DS_SGEMM:
        __real_ds_sgemm(s->ta, s->tb, s->M, s->N, s->K, A, s->lda, B, s->ldb, s->beta0 ? 0.0f : 1.0f,
                        C, s->ldc);
        break;
    case OP_CBLAS_SGEMM:
        __real_cblas_sgemm(CblasRowMajor, s->ta ? CblasTrans : CblasNoTrans,
                           s->tb ? CblasTrans : CblasNoTrans, s->M, s->N, s->K, 1.0f, A, s->lda, B,
                           s->ldb, s->beta0 ? 0.0f : 1.0f, C, s->ldc);
        break;
    case OP_CONV_FWD:
        __real_ds_conv_plan_forward(s->plan, s->y, s->x, s->W, s->b, s->scratch);
        break;
    case OP_CONV_BWD:
        __real_ds_conv_plan_backward(s->plan, s->dx, s->dW, s->db, s->dy, s->x, s->W, s->scratch);
        break;
    }
}

static const char *op_name(const op_rec *s)
{
    static const char *names[] = {"ds_sgemm", "cblas_sgemm", "conv_fwd", "conv_bwd"};
    return names[s->kind];
}

/* Replay the recorded calls of one step (each as often as the step issued it)
 * back to back, for at least `budget` seconds; returns the seconds of the
 * fastest replayed step, or -1 when out of memory. The model is not used
 * after this (convolution gradients accumulate further). */
static double replay_step(double budget, double *flops_per_step)
{
    size_t la = 1, lb = 1, lc = 1;
    double flops = 0.0;
    for (int i = 0; i < g_wrap.nops; i++) {
        const op_rec *s = &g_wrap.ops[i];
        flops += s->flops * s->count;
        if (s->kind != OP_DS_SGEMM && s->kind != OP_CBLAS_SGEMM) continue;
        size_t a = stored_len(s->ta, s->M, s->K, s->lda), b = stored_len(s->tb, s->K, s->N, s->ldb);
        size_t c = (size_t)s->M * s->ldc;
        if (a > la) la = a;
        if (b > lb) lb = b;
        if (c > lc) lc = c;
    }
    float *A = malloc(sizeof *A * la), *B = malloc(sizeof *B * lb), *C = malloc(sizeof *C * lc);
    if (!A || !B || !C) {
        free(A); free(B); free(C);
        return -1.0;
    }
    for (size_t i = 0; i < la; i++) A[i] = (float)(i % 7) * 0.01f;
    for (size_t i = 0; i < lb; i++) B[i] = (float)(i % 5) * 0.01f;
    memset(C, 0, sizeof *C * lc);
    if (getenv("BENCH_TRAIN_SHAPES")) /* each recorded call alone, on stderr */
        for (int i = 0; i < g_wrap.nops; i++) {
            const op_rec *s = &g_wrap.ops[i];
            double u0 = ds_now();
            for (long r = 0; r < s->count; r++) replay_op(s, A, B, C);
            double u = ds_now() - u0;
            if (s->kind == OP_CONV_FWD || s->kind == OP_CONV_BWD) {
                const ds_conv_shape *c = ds_conv_plan_shape(s->plan);
                fprintf(stderr, "%s B %d C %d H %d W %d F %d K %d stride %d pad %d%s x%ld: %.2f ms, %.1f GFLOP/s\n",
                        op_name(s), c->B, c->C, c->H, c->W, c->F, c->K, c->stride, c->pad,
                        s->kind == OP_CONV_BWD && !s->dx ? " (no dx)" : "", s->count, u * 1e3,
                        s->flops * s->count / u / 1e9);
            } else {
                fprintf(stderr, "%s %c%c M %d N %d K %d lda %d ldb %d ldc %d beta %d x%ld: %.2f ms, %.1f GFLOP/s\n",
                        op_name(s), s->ta ? 'T' : 'N', s->tb ? 'T' : 'N', s->M, s->N, s->K, s->lda,
                        s->ldb, s->ldc, !s->beta0, s->count, u * 1e3, s->flops * s->count / u / 1e9);
            }
        }
    /* the fastest replayed step: the ceiling, least disturbed by other load */
    double t0 = ds_now(), best = -1.0;
    do {
        double r0 = ds_now();
        for (int i = 0; i < g_wrap.nops; i++)
            for (long r = 0; r < g_wrap.ops[i].count; r++) replay_op(&g_wrap.ops[i], A, B, C);
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

/* SGD training of about `steps` steps of B samples over the first samples of d
 * (whole epochs of at most d->n samples, so the count is rounded up to whole
 * epochs of equal length); *ran gets the steps actually run. Returns the
 * seconds of the whole run, or < 0 on error. */
static double train_steps(ds_model *m, const ds_dataset *d, const uint32_t *idx, long steps, int B,
                          long *ran, ds_err *err)
{
    size_t per_epoch = d->n / B; /* whole batches in the data */
    if (per_epoch == 0) per_epoch = 1;
    int epochs = (int)(((size_t)steps + per_epoch - 1) / per_epoch);
    size_t per = ((size_t)steps + epochs - 1) / epochs, n = per * B;
    if (n > d->n) n = d->n;
    ds_train_cfg cfg = {.epochs = epochs, .batch = B, .seed = 1};
    cfg.opt = ds_optim_defaults(DS_OPT_SGD);
    cfg.opt.lr = 0.01f;
    cfg.opt.momentum = 0.9f;
    ds_train_stats st;
    if (ds_train(m, d, idx, n, &cfg, NULL, &st, err)) return -1.0;
    *ran = st.steps;
    return st.seconds;
}

static int run_train(ds_model *m, const ds_dataset *d, const uint32_t *idx, int B, double budget,
                     int gemm)
{
    ds_err err = {0};
    /* warm-up, and the step time to size the run: one step when that is slow
     * against the budget, three more otherwise */
    g_wrap.recording = gemm; /* the calls of one real step, for the replay */
    long ran = 0;
    double per = train_steps(m, d, idx, 1, B, &ran, &err);
    g_wrap.recording = 0;
    if (per < 0) return fail(&err);
    if (g_wrap.overflow) {
        fprintf(stderr, "bench_train: more than %d distinct kernel calls in one step\n", MAX_OPS);
        return 1;
    }
    if (per * 3 < budget) {
        double t3 = train_steps(m, d, idx, 3, B, &ran, &err);
        if (t3 < 0) return fail(&err);
        per = t3 / ran;
    }
    long want = (long)(budget / per);
    if (want < 2) want = 2;
    g_wrap.timing = 1; /* two clock reads per call: well under 0.1 % of any step */
    double t0 = ds_now(), c0 = cpu_now();
    if (train_steps(m, d, idx, want, B, &ran, &err) < 0) return fail(&err);
    double wall = ds_now() - t0, cpu = cpu_now() - c0;
    const long steps = ran; /* the rates count the steps that ran, whole epochs */
    printf("steps %ld\nseconds %.3f\nsamples_per_s %.2f\ncpu_samples_per_s %.2f\n", steps, wall,
           (double)steps * B / wall, cpu > 0 ? (double)steps * B / cpu : 0.0);
    g_wrap.timing = 0;
    double step = wall / steps, in_step = g_wrap.seconds / steps, flops = g_wrap.flops / steps;
    printf("step_ms %.3f\ngemm_ms_in_step %.3f\ngemm_share %.3f\ngemm_calls_per_step %.0f\n"
           "gemm_gflop_per_step %.4f\nstep_gflops %.2f\ngemm_in_step_gflops %.2f\n",
           step * 1e3, in_step * 1e3, in_step / step, (double)g_wrap.calls / steps, flops / 1e9,
           flops / step / 1e9, in_step > 0 ? flops / in_step / 1e9 : 0.0);
    if (gemm) {
        double flops_rec = 0.0, alone = replay_step(budget / 2, &flops_rec);
        if (alone < 0) {
            fprintf(stderr, "bench_train: out of memory for the kernel replay\n");
            return 1;
        }
        printf("gemm_alone_ms %.3f\ngemm_alone_gflops %.2f\ndistinct_calls %d\n", alone * 1e3,
               flops_rec / alone / 1e9, g_wrap.nops);
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
    printf("samples %zu\nseconds %.3f\nsamples_per_s %.2f\ncpu_samples_per_s %.2f\ngemm_share %.3f\n"
           "step_gflops %.2f\n", done, wall, done / wall, cpu > 0 ? done / cpu : 0.0, g_wrap.seconds / wall,
           g_wrap.flops / wall / 1e9);
    free(pred);
    return 0;
}

/* The fastest of repeated C[n,n] = A B within budget seconds (at least 3 calls), in
 * GFLOP/s: through ds_sgemm if lib is 0, else OpenBLAS's cblas_sgemm. */
static double peak_of(int lib, const float *A, const float *B, float *C, int n, double budget)
{
    double best = 0.0, t_end = ds_now() + budget;
    for (int calls = 0; calls < 3 || ds_now() < t_end; calls++) {
        double t0 = ds_now();
        if (lib)
            __real_cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, n, n, n, 1.0f, A, n, B, n,
                               0.0f, C, n);
        else
            __real_ds_sgemm(0, 0, n, n, n, A, n, B, n, 0.0f, C, n);
        double dt = ds_now() - t0, g = gemm_flops(n, n, n) / dt / 1e9;
        if (g > best) best = g;
    }
    return best;
}

static int run_peak(int n, double budget)
{
    size_t len = (size_t)n * n;
    float *A = malloc(sizeof *A * len), *B = malloc(sizeof *B * len), *C = malloc(sizeof *C * len);
    if (!A || !B || !C) {
        free(A), free(B), free(C);
        fprintf(stderr, "bench_train: out of memory for three %d x %d matrices\n", n, n);
        return 1;
    }
    for (size_t i = 0; i < len; i++) {
        A[i] = (float)((i * 7919u) % 1000u) / 1000.0f - 0.5f;
        B[i] = (float)((i * 104729u) % 1000u) / 1000.0f - 0.5f;
    }
    double ours = peak_of(0, A, B, C, n, budget), ob = peak_of(1, A, B, C, n, budget);
    printf("n %d\nds_sgemm_gflops %.2f\nopenblas_gflops %.2f\npeak_gflops %.2f\n", n, ours, ob,
           ours > ob ? ours : ob);
    free(A), free(B), free(C);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc == 4 && !strcmp(argv[1], "peak")) {
        int n = atoi(argv[2]);
        double budget = atof(argv[3]);
        if (n < 16 || n > 16384 || !(budget > 0)) {
            fprintf(stderr, "bench_train: peak N SECONDS: N in [16, 16384], SECONDS > 0\n");
            return 2;
        }
        return run_peak(n, budget);
    }
    if (argc == 2 && !strcmp(argv[1], "info")) { /* the BLAS this program runs on */
        printf("openblas %s\ncore %s\nthreads %d\n", openblas_get_config(),
               openblas_get_corename(), openblas_get_num_threads());
        return 0;
    }
    if (argc != 6 && argc != 8) {
        fprintf(stderr, "usage: bench_train train|infer|gemm ARCH DATA_DIR BATCH SECONDS [DEPTH WIDEN]\n"
                        "       bench_train peak N SECONDS | info\n");
        return 2;
    }
    const char *mode = argv[1], *arch_name = argv[2];
    int batch = atoi(argv[4]);
    double budget = atof(argv[5]);
    if (strcmp(mode, "train") && strcmp(mode, "infer") && strcmp(mode, "gemm")) {
        fprintf(stderr, "bench_train: unknown mode '%s' (train, infer or gemm)\n", mode);
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
                                    : run_train(m, &train, idx, batch, budget, !strcmp(mode, "gemm"));
    free(idx);
    ds_model_free(m);
    ds_dataset_free(&train);
    ds_dataset_free(&test);
    return rc;
}
