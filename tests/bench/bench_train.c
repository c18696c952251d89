/* bench_train.c - training throughput of one architecture, for tests/bench/run.sh.
 *
 *   bench_train ARCH DATA_DIR SAMPLES EPOCHS BATCH
 * trains ARCH with SGD (lr 0.01, momentum 0.9) on the first SAMPLES training
 * images of DATA_DIR (after one warm-up epoch on 8 batches) and prints
 * "samples_per_s N". With ARCH = sgemm-mlp it instead prints the GFLOP/s of a
 * full mnist-mlp training step next to cblas_sgemm alone on the same shapes. */
#include <cblas.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "deepsigns/kernels.h"
#include "deepsigns/progress.h"
#include "deepsigns/train.h"

static int fail(const ds_err *err)
{
    fprintf(stderr, "bench_train: %s\n", err->msg);
    return 1;
}

/* FLOPs of one mnist-mlp training step at batch B (the GEMMs only). */
static double mlp_step_flops(int B)
{
    const double fwd = 784.0 * 512 + 512.0 * 512 + 512.0 * 10;
    const double dx = 512.0 * 512 + 512.0 * 10; /* no input gradient for layer 1 */
    return 2.0 * B * (2 * fwd + dx);
}

/* The eight GEMMs of an mnist-mlp step, as ds_dense_forward/backward issue them. */
static void mlp_gemms(float *a, float *b, float *c, int B)
{
    const int dims[4] = {784, 512, 512, 10};
    for (int l = 0; l < 3; l++) { /* forward y = x W */
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, B, dims[l + 1], dims[l], 1.0f, a,
                    dims[l], b, dims[l + 1], 1.0f, c, dims[l + 1]);
    }
    for (int l = 2; l >= 0; l--) { /* dW = x^T dy; dx = dy W^T */
        cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, dims[l], dims[l + 1], B, 1.0f, a,
                    dims[l], b, dims[l + 1], 1.0f, c, dims[l + 1]);
        if (l > 0)
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, B, dims[l], dims[l + 1], 1.0f, a,
                        dims[l + 1], b, dims[l + 1], 1.0f, c, dims[l]);
    }
}

static int bench_sgemm(int B, double step_seconds)
{
    size_t n = 784 * 512;
    float *a = calloc(n, 4), *b = calloc(n, 4), *c = calloc(n, 4);
    if (!a || !b || !c) return 1;
    for (size_t i = 0; i < n; i++) { a[i] = (float)(i % 7) * 0.01f; b[i] = (float)(i % 5) * 0.01f; }
    int reps = 200;
    mlp_gemms(a, b, c, B);
    double t0 = ds_now();
    for (int r = 0; r < reps; r++) mlp_gemms(a, b, c, B);
    double t = (ds_now() - t0) / reps;
    double f = mlp_step_flops(B);
    printf("mlp_step_gflops %.1f\nsgemm_gflops %.1f\n", f / step_seconds / 1e9, f / t / 1e9);
    free(a); free(b); free(c);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc != 6) {
        fprintf(stderr, "usage: bench_train ARCH|sgemm-mlp DATA_DIR SAMPLES EPOCHS BATCH\n");
        return 2;
    }
    const char *arch_name = argv[1];
    int sgemm = !strcmp(arch_name, "sgemm-mlp");
    size_t samples = strtoul(argv[3], NULL, 10);
    int epochs = atoi(argv[4]), batch = atoi(argv[5]);
    ds_err err = {0};
    ds_dataset train = {0}, test = {0};
    if (ds_data_load_dir(argv[2], DS_FORMAT_AUTO, &train, &test, &err)) return fail(&err);
    if (samples > train.n) samples = train.n;
    ds_arch arch;
    if (ds_arch_defaults(sgemm ? "mnist-mlp" : arch_name, train.c, train.h, train.w,
                         train.num_classes, &arch, &err))
        return fail(&err);
    ds_model *m = ds_model_build(&arch, &err);
    if (!m) return fail(&err);
    ds_model_init_params(m, 1);
    uint32_t *idx = malloc(sizeof *idx * samples);
    if (!idx) return 1;
    for (size_t i = 0; i < samples; i++) idx[i] = (uint32_t)i;
    ds_train_cfg cfg = {.epochs = 1, .batch = batch, .seed = 1};
    cfg.opt = ds_optim_defaults(DS_OPT_SGD);
    ds_train_stats st;
    if (ds_train(m, &train, idx, (size_t)batch * 8 < samples ? (size_t)batch * 8 : samples, &cfg,
                 NULL, &st, &err))
        return fail(&err);
    cfg.epochs = epochs;
    if (ds_train(m, &train, idx, samples, &cfg, NULL, &st, &err)) return fail(&err);
    int rc = 0;
    if (sgemm)
        rc = bench_sgemm(batch, st.seconds / st.steps);
    else
        printf("samples_per_s %.1f\nloss %.4f\n", (double)samples * epochs / st.seconds, st.loss);
    free(idx);
    ds_model_free(m);
    ds_dataset_free(&train);
    ds_dataset_free(&test);
    return rc;
}
