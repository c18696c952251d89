/* elementwise.c - ReLU, inverted dropout, residual add, accumulation. */
#include <string.h>

#include "deepsigns/kernels.h"
#include "nn/clones.h"
#include "nn/parallel.h"

/* Each public pass runs its cloned part over the pool's ranges (parallel.h); parts
 * are aligned to 16 floats (a cache line). */

DS_CLONES static void relu_forward_part(float *y, const float *x, size_t n)
{
    for (size_t i = 0; i < n; i++) y[i] = x[i] > 0.0f ? x[i] : 0.0f;
}

void ds_relu_forward(float *y, const float *x, size_t n)
{
    DS_PAR_RANGES(n, 2, 16, lo, hi, relu_forward_part(y + lo, x + lo, hi - lo));
}

/* dx[n] += dy where the output was positive */
DS_CLONES static void relu_backward_part(float *dx, const float *dy, const float *y, size_t n)
{
    for (size_t i = 0; i < n; i++) dx[i] += y[i] > 0.0f ? dy[i] : 0.0f;
}

void ds_relu_backward(float *dx, const float *dy, const float *y, size_t n)
{
    DS_PAR_RANGES(n, 4, 16, lo, hi, relu_backward_part(dx + lo, dy + lo, y + lo, hi - lo));
}

/* mask[n] = 1/(1-p) with probability 1-p, else 0; y = x * mask. Each random
 * word decides two elements (its low then its high 16 bits), so p is exact to
 * 1/65536; mask and y are written in the same pass, a word at a time. */
DS_CLONES void ds_dropout_forward(float *y, float *mask, const float *x, size_t n, float p, ds_rng *rng)
{
    enum { WORDS = 256 };
    const float keep = 1.0f / (1.0f - p);
    const uint32_t thresh = (uint32_t)((double)p * 65536.0 + 0.5);
    uint32_t words[WORDS];
    for (size_t i0 = 0; i0 < n; i0 += 2 * WORDS) {
        const size_t m = n - i0 < 2 * WORDS ? n - i0 : 2 * WORDS, pairs = m / 2;
        ds_rng_fill(rng, words, (m + 1) / 2);
        float *mk = mask + i0, *yo = y + i0;
        const float *xi = x + i0;
        for (size_t k = 0; k < pairs; k++) {
            const float lo = (words[k] & 0xFFFFu) >= thresh ? keep : 0.0f;
            const float hi = (words[k] >> 16) >= thresh ? keep : 0.0f;
            mk[2 * k] = lo;
            mk[2 * k + 1] = hi;
            yo[2 * k] = xi[2 * k] * lo;
            yo[2 * k + 1] = xi[2 * k + 1] * hi;
        }
        if (m & 1) {
            mk[m - 1] = (words[pairs] & 0xFFFFu) >= thresh ? keep : 0.0f;
            yo[m - 1] = xi[m - 1] * mk[m - 1];
        }
    }
}

DS_CLONES static void dropout_backward_part(float *dx, const float *dy, const float *mask, size_t n)
{
    for (size_t i = 0; i < n; i++) dx[i] += dy[i] * mask[i];
}

void ds_dropout_backward(float *dx, const float *dy, const float *mask, size_t n)
{
    DS_PAR_RANGES(n, 4, 16, lo, hi, dropout_backward_part(dx + lo, dy + lo, mask + lo, hi - lo));
}

DS_CLONES static void add_forward_part(float *y, const float *a, const float *b, size_t n)
{
    for (size_t i = 0; i < n; i++) y[i] = a[i] + b[i];
}

void ds_add_forward(float *y, const float *a, const float *b, size_t n)
{
    DS_PAR_RANGES(n, 3, 16, lo, hi, add_forward_part(y + lo, a + lo, b + lo, hi - lo));
}

DS_CLONES static void accumulate_part(float *dst, const float *src, size_t n)
{
    for (size_t i = 0; i < n; i++) dst[i] += src[i];
}

void ds_accumulate(float *dst, const float *src, size_t n)
{
    DS_PAR_RANGES(n, 3, 16, lo, hi, accumulate_part(dst + lo, src + lo, hi - lo));
}

static void zero_part(float *v, size_t n) { memset(v, 0, sizeof(float) * n); }

void ds_zero(float *v, size_t n)
{
    DS_PAR_RANGES(n, 1, 16, lo, hi, zero_part(v + lo, hi - lo));
}

float ds_sum(const float *v, size_t n)
{
    float acc[8] = {0};
    size_t i = 0;
    for (; i + 8 <= n; i += 8)
        for (int l = 0; l < 8; l++) acc[l] += v[i + l];
    for (; i < n; i++) acc[i & 7] += v[i];
    return ((acc[0] + acc[4]) + (acc[1] + acc[5])) + ((acc[2] + acc[6]) + (acc[3] + acc[7]));
}
