/* bench_gemm.c - the GEMM and convolution backends side by side on deepsigns' own shapes.
 *
 *   bench_gemm [--reps N] [--time S] [--batch B] [--tsv FILE]
 *
 * Shapes: every dense and conv2d layer of mnist-mlp, mnist-cnn, cifar10-cnn
 * and cifar10-wrn (WRN-16-4), read from the models ds_model_build lays out
 * (identical layers once). A conv layer x[B,C,H,W] * W[F,C,K,K] -> y[B,F,Ho,Wo]
 * issues per image, with KK = C*K*K and P = Ho*Wo (src/nn/conv.c):
 *   fwd   y_n[F,P]   = W[F,KK] col_n[KK,P]          M=F  N=P  K=KK  (NN, beta 1)
 *   dW    dW[F,KK]  += dy_n[F,P] col_n[KK,P]^T      M=F  N=KK K=P   (NT, beta 1)
 *   dcol  dcol[KK,P] = W[F,KK]^T dy_n[F,P]          M=KK N=P  K=F   (TN, beta 0)
 * and a dense layer y[B,NO] = x[B,NI] W[NI,NO] at batch B (src/nn/dense.c):
 *   fwd   M=B N=NO K=NI (NN);  dx  M=B N=NI K=NO (NT);  dW  M=NI N=NO K=B (TN)
 * (no input gradient for a layer that reads the input). Each is timed with
 *   OpenBLAS  cblas_sgemm (linked, as the engine is)
 *   BLIS      cblas_sgemm of libblis.so.4, opened with dlopen(RTLD_LOCAL |
 *             RTLD_DEEPBIND): both libraries export the same names
 *   libxsmm   a JIT kernel from libxsmm_smmdispatch (column-major: C^T =
 *             op(B)^T op(A)^T); single-threaded by design, so only at 1 thread,
 *             and "-" where libxsmm declines the shape (it would fall back to BLAS)
 *   oneDNN    dnnl_sgemm
 * and each conv layer's forward at batch B as deepsigns runs it (ds_conv_forward:
 * im2col + OpenBLAS sgemm per image) against oneDNN's convolution primitive
 * (forward_inference, direct): with the layouts it picks (format_tag_any,
 * blocked; primitive alone) and on NCHW tensors (reorders of src and dst
 * included, weights reordered once).
 * Each measurement repeats the call for at least --time seconds (default 0.1);
 * --reps rounds (default 3) interleave the libraries; medians with min and max.
 * Threads: OPENBLAS_NUM_THREADS, OMP_NUM_THREADS (oneDNN, BLIS) as set by the caller.
 */
#include <cblas.h>
#include <dlfcn.h>
#include <libxsmm.h>
#include <oneapi/dnnl/dnnl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "deepsigns/kernels.h"
#include "deepsigns/model.h"
#include "deepsigns/progress.h"

enum { MAX_GEMMS = 256, MAX_CONVS = 64, MAX_REPS = 32, NLIB = 4 };
enum { LIB_OPENBLAS, LIB_BLIS, LIB_XSMM, LIB_DNNL };
static const char *lib_name[NLIB] = {"OpenBLAS", "BLIS", "libxsmm", "oneDNN"};

typedef struct gemm_case {
    char layer[64];   /* "cifar10-cnn conv2d_2 fwd" */
    int ta, tb;       /* row-major op(A), op(B): 0 no transpose, 1 transpose */
    int M, N, K;
    float beta;
    double gflops[NLIB][MAX_REPS]; /* < 0: not run */
} gemm_case;

typedef struct conv_case {
    char layer[64];
    ds_conv_shape s;  /* B filled at run time */
    int bias;
    double ms[3][MAX_REPS]; /* ours, oneDNN blocked, oneDNN nchw */
    char impl[64];
} conv_case;

typedef void (*cblas_sgemm_fn)(enum CBLAS_ORDER, enum CBLAS_TRANSPOSE, enum CBLAS_TRANSPOSE,
                               blasint, blasint, blasint, float, const float *, blasint,
                               const float *, blasint, float, float *, blasint);

static gemm_case gemms[MAX_GEMMS];
static int ngemms;
static conv_case convs[MAX_CONVS];
static int nconvs;

static void add_gemm(const char *arch, const char *node, const char *what, int ta, int tb, int M,
                     int N, int K, float beta)
{
    for (int i = 0; i < ngemms; i++) { /* one row per distinct shape */
        gemm_case *g = &gemms[i];
        if (g->ta == ta && g->tb == tb && g->M == M && g->N == N && g->K == K && g->beta == beta)
            return;
    }
    if (ngemms == MAX_GEMMS) return;
    gemm_case *g = &gemms[ngemms++];
    snprintf(g->layer, sizeof g->layer, "%s %s %s", arch, node, what);
    g->ta = ta; g->tb = tb; g->M = M; g->N = N; g->K = K; g->beta = beta;
}

/* The GEMMs and convs of one architecture's layers, at batch B. */
static int collect(const char *name, int c, int h, int w, int B)
{
    ds_err err = {0};
    ds_arch arch;
    if (ds_arch_defaults(name, c, h, w, 10, &arch, &err)) goto fail;
    ds_model *m = ds_model_build(&arch, &err);
    if (!m) goto fail;
    const char *tag = !strcmp(name, "cifar10-wrn") ? "wrn-16-4" : name;
    for (int i = 1; i < m->nnodes; i++) {
        const ds_node *nd = &m->nodes[i], *in = &m->nodes[nd->in0];
        int first = nd->in0 == 0 || (in->op == DS_OP_FLATTEN && in->in0 == 0);
        if (nd->op == DS_OP_DENSE) {
            int NI = (int)in->size, NO = nd->c;
            add_gemm(tag, nd->name, "fwd", 0, 0, B, NO, NI, 1.0f);
            if (!first) add_gemm(tag, nd->name, "dx", 0, 1, B, NI, NO, 1.0f);
            add_gemm(tag, nd->name, "dW", 1, 0, NI, NO, B, 1.0f);
        } else if (nd->op == DS_OP_CONV2D) {
            int KK = in->c * nd->k * nd->k, P = nd->h * nd->w;
            add_gemm(tag, nd->name, "fwd", 0, 0, nd->c, P, KK, 1.0f);
            add_gemm(tag, nd->name, "dW", 0, 1, nd->c, KK, P, 1.0f);
            if (!first) add_gemm(tag, nd->name, "dcol", 1, 0, KK, P, nd->c, 0.0f);
            ds_conv_shape s = {.B = B, .C = in->c, .H = in->h, .W = in->w, .F = nd->c,
                               .K = nd->k, .stride = nd->stride, .pad = nd->pad};
            if (ds_conv_shape_init(&s)) {
                fprintf(stderr, "bench_gemm: bad conv geometry in %s %s\n", tag, nd->name);
                ds_model_free(m);
                return 1;
            }
            int dup = 0;
            for (int j = 0; j < nconvs; j++)
                dup |= !memcmp(&convs[j].s, &s, sizeof s) && convs[j].bias == nd->bias;
            if (!dup && nconvs < MAX_CONVS) {
                conv_case *cc = &convs[nconvs++];
                snprintf(cc->layer, sizeof cc->layer, "%s %s", tag, nd->name);
                cc->s = s;
                cc->bias = nd->bias;
            }
        }
    }
    ds_model_free(m);
    return 0;
fail:
    fprintf(stderr, "bench_gemm: %s\n", err.msg);
    return 1;
}

/* ---- timing ---- */

static double g_min_time = 0.1;

static void pause_pools(void)
{
    /* let the previous library's spinning threads go to sleep before the next
     * one runs (two busy pools on two cores fight) */
    struct timespec ts = {0, 500 * 1000 * 1000}; /* OpenBLAS's threads spin ~0.1 s */
    nanosleep(&ts, NULL);
}

typedef struct gemm_bufs {
    float *A, *B, *C;
} gemm_bufs;

static cblas_sgemm_fn blis_sgemm;

/* One run of case g with library lib; returns 0, or -1 if the library declines. */
static int gemm_once(int lib, const gemm_case *g, const gemm_bufs *b, libxsmm_smmfunction xk)
{
    /* row-major leading dimensions of the stored operands */
    int lda = g->ta ? g->M : g->K, ldb = g->tb ? g->K : g->N, ldc = g->N;
    enum CBLAS_TRANSPOSE ta = g->ta ? CblasTrans : CblasNoTrans, tb = g->tb ? CblasTrans : CblasNoTrans;
    switch (lib) {
    case LIB_OPENBLAS:
        cblas_sgemm(CblasRowMajor, ta, tb, g->M, g->N, g->K, 1.0f, b->A, lda, b->B, ldb, g->beta,
                    b->C, ldc);
        return 0;
    case LIB_BLIS:
        if (!blis_sgemm) return -1;
        blis_sgemm(CblasRowMajor, ta, tb, g->M, g->N, g->K, 1.0f, b->A, lda, b->B, ldb, g->beta,
                   b->C, ldc);
        return 0;
    case LIB_XSMM:
        if (!xk) return -1;
        xk(b->B, b->A, b->C); /* column-major C^T[N,M] = op(B)^T[N,K] op(A)^T[K,M] */
        return 0;
    case LIB_DNNL:
        return dnnl_sgemm(g->ta ? 'T' : 'N', g->tb ? 'T' : 'N', g->M, g->N, g->K, 1.0f, b->A, lda,
                          b->B, ldb, g->beta, b->C, ldc) == dnnl_success ? 0 : -1;
    }
    return -1;
}

/* GFLOP/s of case g with lib, or -1 when not available. */
static double time_gemm(int lib, const gemm_case *g, const gemm_bufs *b, libxsmm_smmfunction xk)
{
    if (gemm_once(lib, g, b, xk)) return -1.0;
    long n = 0;
    double t0 = ds_now(), t;
    do {
        gemm_once(lib, g, b, xk);
        n++;
        t = ds_now() - t0;
    } while (t < g_min_time);
    return 2.0 * g->M * g->N * g->K * n / t / 1e9;
}

/* libxsmm's JIT kernel for row-major case g: column-major m = N, n = M, k = K,
 * a = B (transposed in the column-major view when B is not), b = A likewise. */
static libxsmm_smmfunction xsmm_kernel(const gemm_case *g)
{
    libxsmm_blasint m = g->N, n = g->M, k = g->K;
    libxsmm_blasint lda = g->tb ? g->K : g->N, ldb = g->ta ? g->M : g->K, ldc = g->N;
    int flags = (g->tb ? LIBXSMM_GEMM_FLAG_TRANS_A : 0) | (g->ta ? LIBXSMM_GEMM_FLAG_TRANS_B : 0);
    float alpha = 1.0f, beta = g->beta;
    return libxsmm_smmdispatch(m, n, k, &lda, &ldb, &ldc, &alpha, &beta, &flags, NULL);
}

/* ---- oneDNN convolution ---- */

typedef struct dnnl_conv {
    dnnl_primitive_t conv, rsrc, rdst;   /* reorders NULL when the layouts agree */
    dnnl_memory_t src, wei, bias, dst, usrc, udst;
    int nargs;
    dnnl_exec_arg_t args[4];
} dnnl_conv;

#define DNNL_OK(call)                                                                      \
    do {                                                                                   \
        dnnl_status_t st_ = (call);                                                        \
        if (st_ != dnnl_success) {                                                         \
            fprintf(stderr, "bench_gemm: %s failed (oneDNN status %d)\n", #call, (int)st_); \
            return -1;                                                                     \
        }                                                                                  \
    } while (0)

static dnnl_engine_t g_eng;
static dnnl_stream_t g_stream;

static int fill_memory(dnnl_memory_t mem, float v)
{
    const dnnl_memory_desc_t *md;
    void *p;
    DNNL_OK(dnnl_memory_get_memory_desc(mem, &md));
    DNNL_OK(dnnl_memory_get_data_handle(mem, &p));
    size_t n = dnnl_memory_desc_get_size(md) / sizeof(float);
    float *f = p;
    for (size_t i = 0; i < n; i++) f[i] = v * (float)(i % 13 + 1);
    return 0;
}

/* A reorder from memory `from` to a new memory of layout `to_md` (NULL prim if equal). */
static int make_reorder(dnnl_memory_t from, const dnnl_memory_desc_t *to_md, dnnl_primitive_t *prim,
                        dnnl_memory_t *to)
{
    const dnnl_memory_desc_t *from_md;
    DNNL_OK(dnnl_memory_get_memory_desc(from, &from_md));
    *prim = NULL;
    DNNL_OK(dnnl_memory_create(to, to_md, g_eng, DNNL_MEMORY_ALLOCATE));
    if (dnnl_memory_desc_equal(from_md, to_md)) return 0;
    dnnl_primitive_desc_t pd;
    DNNL_OK(dnnl_reorder_primitive_desc_create(&pd, from_md, g_eng, to_md, g_eng, NULL));
    dnnl_status_t st = dnnl_primitive_create(prim, pd);
    dnnl_primitive_desc_destroy(pd);
    return st == dnnl_success ? 0 : -1;
}

static int run_reorder(dnnl_primitive_t prim, dnnl_memory_t from, dnnl_memory_t to)
{
    if (!prim) return 0;
    dnnl_exec_arg_t a[2] = {{DNNL_ARG_FROM, from}, {DNNL_ARG_TO, to}};
    DNNL_OK(dnnl_primitive_execute(prim, g_stream, 2, a));
    return 0;
}

/* Build the forward-inference convolution of c; plain = 1: NCHW/OIHW tensors
 * with the layouts the primitive wants behind reorders. */
static int dnnl_conv_make(const conv_case *c, int plain, dnnl_conv *d, char *impl, size_t impl_len)
{
    memset(d, 0, sizeof *d);
    const ds_conv_shape *s = &c->s;
    dnnl_dims_t sd = {s->B, s->C, s->H, s->W}, wd = {s->F, s->C, s->K, s->K},
                dd = {s->B, s->F, s->Ho, s->Wo}, bd = {s->F};
    dnnl_dims_t strides = {s->stride, s->stride}, pl = {s->pad, s->pad},
                pr = {(s->Ho - 1) * s->stride + s->K - s->H - s->pad,
                      (s->Wo - 1) * s->stride + s->K - s->W - s->pad};
    dnnl_memory_desc_t smd, wmd, dmd, bmd, psmd, pwmd, pdmd;
    DNNL_OK(dnnl_memory_desc_init_by_tag(&smd, 4, sd, dnnl_f32, dnnl_format_tag_any));
    DNNL_OK(dnnl_memory_desc_init_by_tag(&wmd, 4, wd, dnnl_f32, dnnl_format_tag_any));
    DNNL_OK(dnnl_memory_desc_init_by_tag(&dmd, 4, dd, dnnl_f32, dnnl_format_tag_any));
    DNNL_OK(dnnl_memory_desc_init_by_tag(&bmd, 1, bd, dnnl_f32, dnnl_a));
    DNNL_OK(dnnl_memory_desc_init_by_tag(&psmd, 4, sd, dnnl_f32, dnnl_nchw));
    DNNL_OK(dnnl_memory_desc_init_by_tag(&pwmd, 4, wd, dnnl_f32, dnnl_oihw));
    DNNL_OK(dnnl_memory_desc_init_by_tag(&pdmd, 4, dd, dnnl_f32, dnnl_nchw));
    dnnl_convolution_desc_t cd;
    DNNL_OK(dnnl_convolution_forward_desc_init(&cd, dnnl_forward_inference, dnnl_convolution_direct,
                                               &smd, &wmd, c->bias ? &bmd : NULL, &dmd, strides,
                                               pl, pr));
    dnnl_primitive_desc_t pd;
    DNNL_OK(dnnl_primitive_desc_create(&pd, &cd, NULL, g_eng, NULL));
    const char *name = NULL;
    if (dnnl_primitive_desc_query(pd, dnnl_query_impl_info_str, 0, &name) == dnnl_success && name)
        snprintf(impl, impl_len, "%s", name);
    const dnnl_memory_desc_t *qs = dnnl_primitive_desc_query_md(pd, dnnl_query_src_md, 0);
    const dnnl_memory_desc_t *qw = dnnl_primitive_desc_query_md(pd, dnnl_query_weights_md, 0);
    const dnnl_memory_desc_t *qd = dnnl_primitive_desc_query_md(pd, dnnl_query_dst_md, 0);
    int rc = -1;
    if (!qs || !qw || !qd) goto done;
    if (dnnl_memory_create(&d->dst, qd, g_eng, DNNL_MEMORY_ALLOCATE)) goto done;
    if (plain) {
        /* src nchw -> the primitive's layout, dst back to nchw, at every call;
         * the weights once */
        dnnl_memory_t uwei = NULL;
        dnnl_primitive_t rw = NULL;
        if (dnnl_memory_create(&d->usrc, &psmd, g_eng, DNNL_MEMORY_ALLOCATE) ||
            make_reorder(d->usrc, qs, &d->rsrc, &d->src) ||
            make_reorder(d->dst, &pdmd, &d->rdst, &d->udst) || fill_memory(d->usrc, 0.01f))
            goto done;
        int bad = dnnl_memory_create(&uwei, &pwmd, g_eng, DNNL_MEMORY_ALLOCATE) ||
                  fill_memory(uwei, 0.001f) || make_reorder(uwei, qw, &rw, &d->wei) ||
                  fill_memory(d->wei, 0.001f) || run_reorder(rw, uwei, d->wei) ||
                  dnnl_stream_wait(g_stream) != dnnl_success;
        if (rw) dnnl_primitive_destroy(rw);
        if (uwei) dnnl_memory_destroy(uwei);
        if (bad) goto done;
    } else {
        if (dnnl_memory_create(&d->src, qs, g_eng, DNNL_MEMORY_ALLOCATE) ||
            dnnl_memory_create(&d->wei, qw, g_eng, DNNL_MEMORY_ALLOCATE) ||
            fill_memory(d->wei, 0.001f))
            goto done;
    }
    if (fill_memory(d->src, 0.01f)) goto done;
    if (c->bias && (dnnl_memory_create(&d->bias, &bmd, g_eng, DNNL_MEMORY_ALLOCATE) ||
                    fill_memory(d->bias, 0.0f)))
        goto done;
    if (dnnl_primitive_create(&d->conv, pd) != dnnl_success) goto done;
    d->args[0] = (dnnl_exec_arg_t){DNNL_ARG_SRC, d->src};
    d->args[1] = (dnnl_exec_arg_t){DNNL_ARG_WEIGHTS, d->wei};
    d->args[2] = (dnnl_exec_arg_t){DNNL_ARG_DST, d->dst};
    d->nargs = 3;
    if (c->bias) d->args[d->nargs++] = (dnnl_exec_arg_t){DNNL_ARG_BIAS, d->bias};
    rc = 0;
done:
    dnnl_primitive_desc_destroy(pd);
    if (rc) fprintf(stderr, "bench_gemm: oneDNN convolution for %s could not be set up\n", c->layer);
    return rc;
}

static void dnnl_conv_free(dnnl_conv *d)
{
    dnnl_primitive_t p[3] = {d->conv, d->rsrc, d->rdst};
    dnnl_memory_t mem[6] = {d->src, d->wei, d->bias, d->dst, d->usrc, d->udst};
    for (int i = 0; i < 3; i++)
        if (p[i]) dnnl_primitive_destroy(p[i]);
    for (int i = 0; i < 6; i++)
        if (mem[i]) dnnl_memory_destroy(mem[i]);
}

static int dnnl_conv_once(dnnl_conv *d)
{
    if (run_reorder(d->rsrc, d->usrc, d->src)) return -1;
    DNNL_OK(dnnl_primitive_execute(d->conv, g_stream, d->nargs, d->args));
    if (run_reorder(d->rdst, d->dst, d->udst)) return -1;
    DNNL_OK(dnnl_stream_wait(g_stream));
    return 0;
}

/* ms per forward of conv c: variant 0 ours, 1 oneDNN blocked, 2 oneDNN nchw; -1 on failure */
static double time_conv(conv_case *c, int variant)
{
    const ds_conv_shape *s = &c->s;
    double ms = -1.0;
    if (variant == 0) {
        size_t xs = (size_t)s->B * s->C * s->H * s->W, ys = (size_t)s->B * s->F * s->Ho * s->Wo;
        size_t ws = (size_t)s->F * s->C * s->K * s->K;
        float *x = malloc(sizeof *x * xs), *y = malloc(sizeof *y * ys), *w = malloc(sizeof *w * ws);
        float *b = malloc(sizeof *b * s->F), *col = malloc(sizeof *col * ds_conv_col_size(s));
        if (x && y && w && b && col) {
            for (size_t i = 0; i < xs; i++) x[i] = 0.01f * (float)(i % 13 + 1);
            for (size_t i = 0; i < ws; i++) w[i] = 0.001f * (float)(i % 13 + 1);
            memset(b, 0, sizeof *b * s->F);
            ds_conv_forward(y, x, w, c->bias ? b : NULL, s, col);
            long n = 0;
            double t0 = ds_now(), t;
            do {
                ds_conv_forward(y, x, w, c->bias ? b : NULL, s, col);
                n++;
                t = ds_now() - t0;
            } while (t < g_min_time);
            ms = t / n * 1e3;
        } else {
            fprintf(stderr, "bench_gemm: out of memory for %s\n", c->layer);
        }
        free(x); free(y); free(w); free(b); free(col);
        return ms;
    }
    dnnl_conv d;
    char impl[64] = "";
    if (dnnl_conv_make(c, variant == 2, &d, impl, sizeof impl) == 0 &&
        dnnl_conv_once(&d) == 0) {
        long n = 0;
        double t0 = ds_now(), t;
        do {
            if (dnnl_conv_once(&d)) break;
            n++;
            t = ds_now() - t0;
        } while (t < g_min_time);
        if (n) ms = (ds_now() - t0) / n * 1e3;
    }
    if (variant == 1 && impl[0]) snprintf(c->impl, sizeof c->impl, "%s", impl);
    dnnl_conv_free(&d);
    return ms;
}

/* ---- report ---- */

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* median, min and max of v[0..n) ignoring negatives; returns how many were valid */
static int stats(const double *v, int n, double *med, double *lo, double *hi)
{
    double s[MAX_REPS];
    int k = 0;
    for (int i = 0; i < n; i++)
        if (v[i] >= 0) s[k++] = v[i];
    if (!k) return 0;
    qsort(s, (size_t)k, sizeof *s, cmp_double);
    *med = k % 2 ? s[k / 2] : 0.5 * (s[k / 2 - 1] + s[k / 2]);
    *lo = s[0];
    *hi = s[k - 1];
    return k;
}

int main(int argc, char **argv)
{
    int reps = 3, batch = 128;
    const char *tsv_path = NULL;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--reps") && i + 1 < argc) reps = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--time") && i + 1 < argc) g_min_time = atof(argv[++i]);
        else if (!strcmp(argv[i], "--batch") && i + 1 < argc) batch = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--tsv") && i + 1 < argc) tsv_path = argv[++i];
        else {
            fprintf(stderr, "usage: bench_gemm [--reps N] [--time S] [--batch B] [--tsv FILE]\n");
            return 2;
        }
    }
    if (reps < 1 || reps > MAX_REPS || batch < 1 || !(g_min_time > 0)) {
        fprintf(stderr, "bench_gemm: --reps in [1, %d], --batch >= 1, --time > 0\n", MAX_REPS);
        return 2;
    }
    if (collect("mnist-mlp", 1, 28, 28, batch) || collect("mnist-cnn", 1, 28, 28, batch) ||
        collect("cifar10-cnn", 3, 32, 32, batch) || collect("cifar10-wrn", 3, 32, 32, batch))
        return 1;
    FILE *tsv = NULL;
    if (tsv_path && !(tsv = fopen(tsv_path, "w"))) {
        perror(tsv_path);
        return 1;
    }
    int threads = openblas_get_num_threads();
    /* BLIS: its own copy of the CBLAS names, kept apart from OpenBLAS's */
    void *blis = dlopen("libblis.so.4", RTLD_NOW | RTLD_LOCAL | RTLD_DEEPBIND);
    if (blis) {
        blis_sgemm = (cblas_sgemm_fn)dlsym(blis, "cblas_sgemm");
        void (*set_threads)(long) = (void (*)(long))dlsym(blis, "bli_thread_set_num_threads");
        if (set_threads) set_threads(threads);
    } else {
        fprintf(stderr, "bench_gemm: no BLIS (%s): its column stays empty\n", dlerror());
    }
    libxsmm_init();
    if (dnnl_engine_create(&g_eng, dnnl_cpu, 0) != dnnl_success ||
        dnnl_stream_create(&g_stream, g_eng, dnnl_stream_default_flags) != dnnl_success) {
        fprintf(stderr, "bench_gemm: no oneDNN CPU engine\n");
        return 1;
    }
    /* operand buffers for the largest case */
    size_t la = 1, lb = 1, lc = 1;
    for (int i = 0; i < ngemms; i++) {
        const gemm_case *g = &gemms[i];
        if ((size_t)g->M * g->K > la) la = (size_t)g->M * g->K;
        if ((size_t)g->K * g->N > lb) lb = (size_t)g->K * g->N;
        if ((size_t)g->M * g->N > lc) lc = (size_t)g->M * g->N;
    }
    gemm_bufs b = {malloc(sizeof(float) * la), malloc(sizeof(float) * lb), malloc(sizeof(float) * lc)};
    if (!b.A || !b.B || !b.C) {
        fprintf(stderr, "bench_gemm: out of memory\n");
        return 1;
    }
    for (size_t i = 0; i < la; i++) b.A[i] = 0.01f * (float)(i % 7 + 1);
    for (size_t i = 0; i < lb; i++) b.B[i] = 0.01f * (float)(i % 5 + 1);
    memset(b.C, 0, sizeof(float) * lc);
    libxsmm_smmfunction *xk = calloc((size_t)ngemms, sizeof *xk);
    if (!xk) return 1;
    for (int i = 0; i < ngemms; i++) xk[i] = threads == 1 ? xsmm_kernel(&gemms[i]) : NULL;

    /* every library must compute what OpenBLAS does (C zeroed: C = op(A) op(B));
     * one that does not is left out of that shape's row */
    float *ref = malloc(sizeof *ref * lc);
    if (!ref) return 1;
    int bad[MAX_GEMMS][NLIB] = {{0}};
    for (int i = 0; i < ngemms; i++) {
        const gemm_case *g = &gemms[i];
        size_t nc = (size_t)g->M * g->N;
        for (int l = 0; l < NLIB; l++) {
            memset(b.C, 0, sizeof(float) * nc);
            if (gemm_once(l, g, &b, xk[i])) continue;
            if (l == LIB_OPENBLAS) {
                memcpy(ref, b.C, sizeof(float) * nc);
                continue;
            }
            for (size_t j = 0; j < nc && !bad[i][l]; j++) {
                float d = b.C[j] - ref[j], tol = 1e-4f * (ref[j] > 0 ? ref[j] : -ref[j]) + 1e-5f;
                if (d > tol || d < -tol) {
                    bad[i][l] = 1;
                    fprintf(stderr, "bench_gemm: %s differs from OpenBLAS on %s (%g vs %g at %zu)\n",
                            lib_name[l], g->layer, b.C[j], ref[j], j);
                }
            }
        }
    }
    free(ref);
    memset(b.C, 0, sizeof(float) * lc);
    fprintf(stderr, "bench_gemm: %d GEMM shapes, %d conv layers, %d threads, %d reps\n", ngemms,
            nconvs, threads, reps);
    /* rounds interleave the libraries; within a round, one library runs all
     * its shapes in a row, so that no other pool is awake meanwhile */
    for (int r = 0; r < reps; r++) {
        for (int l = 0; l < NLIB; l++) {
            pause_pools();
            for (int i = 0; i < ngemms; i++)
                gemms[i].gflops[l][r] = bad[i][l] ? -1.0 : time_gemm(l, &gemms[i], &b, xk[i]);
        }
        for (int v = 0; v < 3; v++) {
            pause_pools();
            for (int i = 0; i < nconvs; i++) convs[i].ms[v][r] = time_conv(&convs[i], v);
        }
    }

    printf("## sgemm on deepsigns' shapes, %d thread%s (GFLOP/s: median [min, max] of %d)\n\n",
           threads, threads == 1 ? "" : "s", reps);
    printf("| layer | op | M | N | K | OpenBLAS | BLIS | libxsmm | oneDNN | best |\n");
    printf("| --- | --- | ---: | ---: | ---: | --- | --- | --- | --- | --- |\n");
    if (tsv) fprintf(tsv, "kind\tlayer\top\tM\tN\tK\tthreads\tlibrary\trep\tvalue\n");
    int wins[NLIB] = {0};
    for (int i = 0; i < ngemms; i++) {
        const gemm_case *g = &gemms[i];
        printf("| %s | %c%c | %d | %d | %d |", g->layer, g->ta ? 'T' : 'N', g->tb ? 'T' : 'N',
               g->M, g->N, g->K);
        int best = -1;
        double bestv = 0;
        for (int l = 0; l < NLIB; l++) {
            double med, lo, hi;
            if (stats(g->gflops[l], reps, &med, &lo, &hi)) {
                printf(" %.1f [%.1f, %.1f] |", med, lo, hi);
                if (med > bestv) bestv = med, best = l;
            } else {
                printf(" - |");
            }
            for (int r = 0; tsv && r < reps; r++)
                fprintf(tsv, "gemm\t%s\t%c%c\t%d\t%d\t%d\t%d\t%s\t%d\t%.3f\n", g->layer,
                        g->ta ? 'T' : 'N', g->tb ? 'T' : 'N', g->M, g->N, g->K, threads,
                        lib_name[l], r + 1, g->gflops[l][r]);
        }
        double ob, lo, hi;
        stats(g->gflops[LIB_OPENBLAS], reps, &ob, &lo, &hi);
        if (best >= 0) wins[best]++;
        printf(" %s %.2fx |\n", best >= 0 ? lib_name[best] : "-", ob > 0 ? bestv / ob : 0.0);
    }
    printf("\nshapes won: OpenBLAS %d, BLIS %d, libxsmm %d, oneDNN %d (best: median against OpenBLAS's)\n\n",
           wins[0], wins[1], wins[2], wins[3]);

    printf("## conv forward at batch %d, %d thread%s (ms per batch: median [min, max] of %d)\n\n",
           batch, threads, threads == 1 ? "" : "s", reps);
    printf("| layer | C,H,W -> F,Ho,Wo (k,s,p) | ours im2col+OpenBLAS | oneDNN blocked | oneDNN nchw+reorders | "
           "ours/blocked | ours/nchw | oneDNN impl |\n");
    printf("| --- | --- | --- | --- | --- | ---: | ---: | --- |\n");
    static const char *vname[3] = {"ours", "onednn-blocked", "onednn-nchw"};
    for (int i = 0; i < nconvs; i++) {
        const conv_case *c = &convs[i];
        const ds_conv_shape *s = &c->s;
        printf("| %s | %d,%d,%d -> %d,%d,%d (%d,%d,%d) |", c->layer, s->C, s->H, s->W, s->F,
               s->Ho, s->Wo, s->K, s->stride, s->pad);
        double med[3] = {-1, -1, -1}, lo, hi;
        for (int v = 0; v < 3; v++) {
            if (stats(c->ms[v], reps, &med[v], &lo, &hi))
                printf(" %.2f [%.2f, %.2f] |", med[v], lo, hi);
            else
                printf(" - |");
            for (int r = 0; tsv && r < reps; r++)
                fprintf(tsv, "conv\t%s\tfwd\t%d\t%d\t%d\t%d\t%s\t%d\t%.4f\n", c->layer, s->F,
                        s->Ho * s->Wo, s->C * s->K * s->K, threads, vname[v], r + 1, c->ms[v][r]);
        }
        printf(" %.2fx | %.2fx | %s |\n", med[1] > 0 ? med[0] / med[1] : 0.0,
               med[2] > 0 ? med[0] / med[2] : 0.0, c->impl[0] ? c->impl : "-");
    }
    printf("\n(ours/blocked > 1: oneDNN's convolution is that many times faster than ours)\n\n");
    if (tsv && fclose(tsv)) {
        perror(tsv_path);
        return 1;
    }
    free(xk);
    free(b.A); free(b.B); free(b.C);
    dnnl_stream_destroy(g_stream);
    dnnl_engine_destroy(g_eng);
    libxsmm_finalize();
    if (blis) dlclose(blis);
    return 0;
}
