/* parallel.h - the passes of our own (batch norm, ReLU, adds, pooling, zeroing)
 * split over the OpenMP pool that oneDNN's GEMMs and convolutions run on, in a
 * DNNL=1 build; serial otherwise (with DNNL=0 OpenBLAS owns the threads).
 *
 * Each thread takes one contiguous part of the items (elements, channels or
 * planes) and every item is computed by the same code whichever thread takes
 * it, so results do not depend on the thread count: only items are split,
 * never a reduction. Small passes stay on the calling thread (waking the pool
 * costs a few microseconds). Internal to the library (src/nn). */
#ifndef DEEPSIGNS_NN_PARALLEL_H
#define DEEPSIGNS_NN_PARALLEL_H

#include <stddef.h>

#include "backend.h"
#include "deepsigns/kernels.h"

/* A part of the pool's work worth waking it for: about 64 Ki floats touched. */
enum { DS_PAR_GRAIN = 1 << 16 };

/* The threads to split n items of `cost` floats each over: 1 when the pass is
 * small or the build is serial, else up to the pool's size (ds_dnnl_pin_threads). */
int ds_par_threads(size_t n, size_t cost);

/* Thread t of nt takes items [*lo, *hi) of n: contiguous parts, in multiples of
 * `align` items except the last. */
static inline void ds_par_part(size_t n, size_t align, int t, int nt, size_t *lo, size_t *hi)
{
    size_t blocks = (n + align - 1) / align, per = blocks / (size_t)nt, extra = blocks % (size_t)nt;
    size_t b0 = (size_t)t * per + ((size_t)t < extra ? (size_t)t : extra);
    size_t b1 = b0 + per + ((size_t)t < extra ? 1 : 0);
    *lo = b0 * align < n ? b0 * align : n;
    *hi = b1 * align < n ? b1 * align : n;
}

#if defined(DS_DNNL) && defined(_OPENMP)
#include <omp.h>
#define DS_PAR_PRAGMA(x) _Pragma(#x)
/* Run the statement BODY with size_t LO, HI bound to each thread's part of the
 * N items of COST floats each (parts aligned to ALIGN items). */
#define DS_PAR_RANGES(N, COST, ALIGN, LO, HI, BODY)                                   \
    do {                                                                              \
        const size_t ds_n_ = (N);                                                     \
        const int ds_nt_ = ds_par_threads(ds_n_, (COST));                             \
        if (ds_nt_ <= 1) {                                                            \
            const size_t LO = 0, HI = ds_n_;                                          \
            BODY;                                                                     \
        } else {                                                                      \
            DS_PAR_PRAGMA(omp parallel num_threads(ds_nt_))                           \
            {                                                                         \
                size_t LO, HI;                                                        \
                ds_par_part(ds_n_, (ALIGN), omp_get_thread_num(), ds_nt_, &LO, &HI);  \
                BODY;                                                                 \
            }                                                                         \
        }                                                                             \
    } while (0)
#else
#define DS_PAR_RANGES(N, COST, ALIGN, LO, HI, BODY)                                   \
    do {                                                                              \
        const size_t LO = 0, HI = (N);                                                \
        BODY;                                                                         \
    } while (0)
#endif

#endif
