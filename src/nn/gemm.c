/* gemm.c - the GEMM the dense layers run on, and the oneDNN thread pin.
 *
 * In a DNNL=1 build ds_sgemm is oneDNN's sgemm (its JIT picks the CPU's vector
 * width; measured faster than OpenBLAS here on the dense forward and weight-
 * gradient shapes of the benchmark architectures, even on the input gradient's;
 * and with every GEMM of a step on oneDNN's OpenMP pool, OpenBLAS's threads do
 * not spin against it at 2 threads), else OpenBLAS's. Which one
 * runs depends on the build only, never on timing, so results stay fixed for a
 * build, thread count and shape. ds_par_threads (parallel.h) sizes our own
 * passes to the same pool. */
#include <cblas.h>

#include "backend.h"
#include "deepsigns/kernels.h"
#include "nn/parallel.h"

#ifdef DS_DNNL
#include <dnnl.h>
#include <omp.h>

void ds_dnnl_pin_threads(void)
{
    int t = openblas_get_num_threads();
    if (t < 1) t = 1;
    if (omp_get_max_threads() != t) omp_set_num_threads(t);
}

/* C[M,N] = op(A)[M,K] op(B)[K,N] + beta C, row-major */
void ds_sgemm(int ta, int tb, int M, int N, int K, const float *A, int lda, const float *B,
              int ldb, float beta, float *C, int ldc)
{
    ds_dnnl_pin_threads();
    if (dnnl_sgemm(ta ? 'T' : 'N', tb ? 'T' : 'N', M, N, K, 1.0f, A, lda, B, ldb, beta, C, ldc) ==
        dnnl_success)
        return;
    cblas_sgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans, M,
                N, K, 1.0f, A, lda, B, ldb, beta, C, ldc);
}
#else
void ds_dnnl_pin_threads(void) {}

void ds_sgemm(int ta, int tb, int M, int N, int K, const float *A, int lda, const float *B,
              int ldb, float beta, float *C, int ldc)
{
    cblas_sgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans, M,
                N, K, 1.0f, A, lda, B, ldb, beta, C, ldc);
}
#endif

int ds_par_threads(size_t n, size_t cost)
{
#if defined(DS_DNNL) && defined(_OPENMP)
    if (n < 2 || omp_in_parallel()) return 1;
    ds_dnnl_pin_threads();
    size_t t = (size_t)omp_get_max_threads(), most = n * cost / DS_PAR_GRAIN;
    if (t > most) t = most;
    if (t > n) t = n;
    return t < 1 ? 1 : (int)t;
#else
    (void)n;
    (void)cost;
    return 1;
#endif
}
