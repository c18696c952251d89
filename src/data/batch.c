/* batch.c - preprocessing and augmentation: uint8 samples -> float batches.
 *
 * x = (pixel * scale - mean[c]) / std[c], through a 256-entry table per channel.
 * Training augmentation (CIFAR style): pad by p with zeros and crop back at a
 * random offset, then flip horizontally with probability 1/2. The padding is
 * zero in the *normalised* space (0.0f, i.e. the dataset mean), not pixel 0,
 * matching torchvision's RandomCrop applied after Normalize.
 */
#include "deepsigns/data.h"

#include <math.h>
#include <string.h>


/* CIFAR-10 training-set channel statistics (pixels scaled to [0, 1]). */
static const float cifar_mean[3] = {0.4914f, 0.4822f, 0.4465f};
static const float cifar_std[3] = {0.2470f, 0.2435f, 0.2616f};

ds_preproc ds_preproc_default(const ds_dataset *d)
{
    ds_preproc p = {.scale = 1.0f / 255.0f, .channels = 1,
                    .mean = {0.0f, 0.0f, 0.0f}, .std = {1.0f, 1.0f, 1.0f}};
    if (d && d->c == 3) {
        p.channels = 3;
        memcpy(p.mean, cifar_mean, sizeof p.mean);
        memcpy(p.std, cifar_std, sizeof p.std);
    } else if (d && d->c == 2) {
        p.channels = 2;
    }
    return p;
}

/* out[n] = t[src[n]]: the table lookup of a plane without augmentation, with
 * AVX-512 gathers where the CPU has them (picked per call from cpuid, so the
 * portable build uses them too); the same floats either way. */
static void lut_plane_scalar(float *out, const float *t, const uint8_t *src, size_t n)
{
    for (size_t k = 0; k < n; k++) out[k] = t[src[k]];
}

#if defined(__GNUC__) && defined(__x86_64__)
#include <immintrin.h>
#define DS_LUT_SIMD 1
__attribute__((target("avx512f"))) static void lut_plane_avx512(float *out, const float *t,
                                                                const uint8_t *src, size_t n)
{
    size_t k = 0;
    for (; k + 16 <= n; k += 16) {
        __m512i idx = _mm512_cvtepu8_epi32(_mm_loadu_si128((const __m128i *)(src + k)));
        _mm512_storeu_ps(out + k, _mm512_i32gather_ps(idx, t, 4));
    }
    lut_plane_scalar(out + k, t, src + k, n - k);
}
#endif

static void lut_plane(float *out, const float *t, const uint8_t *src, size_t n)
{
#ifdef DS_LUT_SIMD
    if (__builtin_cpu_supports("avx512f")) {
        lut_plane_avx512(out, t, src, n);
        return;
    }
#endif
    lut_plane_scalar(out, t, src, n);
}

/* Per-channel lookup: lut[k][v] = (v * scale - mean[k]) / std[k], k < channels (1..3). */
static int build_lut(const ds_preproc *pp, float lut[3][256])
{
    int channels = pp->channels < 1 ? 1 : pp->channels > 3 ? 3 : pp->channels;
    for (int k = 0; k < channels; k++)
        for (int v = 0; v < 256; v++)
            lut[k][v] = ((float)v * pp->scale - pp->mean[k]) / pp->std[k];
    return channels;
}

/* One sample: src [c,h,w] -> out [c,h,w] with
 * out(ch, y, x) = lut(src(ch, y + dy, (flip ? w-1-x : x) + dx)), 0.0f outside the image.
 * Channel ch uses table min(ch, nlut-1), so a 1-channel preproc covers every channel. */
static void fill_sample(const uint8_t *src, int c, int h, int w, const float lut[3][256],
                        int nlut, int dy, int dx, int flip, float *out)
{
    for (int ch = 0; ch < c; ch++) {
        const float *t = lut[ch < nlut ? ch : nlut - 1];
        const uint8_t *plane = src + (size_t)ch * h * w;
        for (int y = 0; y < h; y++) {
            int sy = y + dy;
            float *row = out + ((size_t)ch * h + y) * w;
            for (int x = 0; x < w; x++) {
                int sx = (flip ? w - 1 - x : x) + dx;
                int inside = sy >= 0 && sy < h && sx >= 0 && sx < w;
                row[x] = inside ? t[plane[(size_t)sy * w + sx]] : 0.0f;
            }
        }
    }
}

/* The random draws of one sample, always in this order: crop dy, crop dx, flip. */
static void draw_augment(const ds_augment *aug, ds_rng *rng, int *dy, int *dx, int *flip)
{
    *dy = *dx = *flip = 0;
    if (aug->pad_crop > 0) {
        uint32_t span = 2u * (uint32_t)aug->pad_crop + 1u;
        *dy = (int)ds_rng_below(rng, span) - aug->pad_crop;
        *dx = (int)ds_rng_below(rng, span) - aug->pad_crop;
    }
    if (aug->hflip) *flip = (int)(ds_rng_u32(rng) & 1u);
}

/* x_out [b, c, h, w], y_out [b] (may be NULL). Augmentation needs aug active and rng != NULL. */
void ds_batch_fill(const ds_dataset *d, const uint32_t *idx, size_t b, const ds_preproc *pp,
                   const ds_augment *aug, ds_rng *rng, float *x_out, int *y_out)
{
    float lut[3][256];
    int nlut = build_lut(pp, lut);
    int augment = aug && rng && (aug->pad_crop > 0 || aug->hflip);
    size_t chw = (size_t)d->c * d->h * d->w;
    for (size_t i = 0; i < b; i++) {
        const uint8_t *src = d->x + idx[i] * chw;
        float *out = x_out + i * chw;
        if (augment) {
            int dy, dx, flip;
            draw_augment(aug, rng, &dy, &dx, &flip);
            fill_sample(src, d->c, d->h, d->w, lut, nlut, dy, dx, flip, out);
        } else {
            /* no augmentation: a straight table lookup per channel plane */
            size_t hw = (size_t)d->h * d->w;
            for (int ch = 0; ch < d->c; ch++) {
                const float *t = lut[ch < nlut ? ch : nlut - 1];
                lut_plane(out + ch * hw, t, src + ch * hw, hw);
            }
        }
        if (y_out) y_out[i] = d->y[idx[i]];
    }
}

ds_preproc ds_preproc_fit(const ds_dataset *d, const uint32_t *idx, size_t n)
{
    ds_preproc p = ds_preproc_default(d);
    if (!idx) n = d->n;
    const size_t hw = (size_t)d->h * d->w;
    const int channels = d->c < 3 ? d->c : 3;
    p.channels = channels;
    for (int ch = 0; ch < channels; ch++) {
        /* exact integer histogram of the channel's pixels, then moments in double */
        uint64_t hist[256] = {0};
        for (size_t i = 0; i < n; i++) {
            const uint8_t *plane = d->x + ((idx ? idx[i] : i) * (size_t)d->c + ch) * hw;
            for (size_t k = 0; k < hw; k++) hist[plane[k]]++;
        }
        double cnt = 0, s1 = 0, s2 = 0;
        for (int v = 0; v < 256; v++) {
            double x = v / 255.0;
            cnt += (double)hist[v];
            s1 += x * (double)hist[v];
            s2 += x * x * (double)hist[v];
        }
        double mean = cnt > 0 ? s1 / cnt : 0.0;
        double var = cnt > 0 ? s2 / cnt - mean * mean : 1.0;
        p.mean[ch] = (float)mean;
        p.std[ch] = var > 1e-12 ? (float)sqrt(var) : 1.0f;
    }
    return p;
}
