/* permute.c - the function-preserving permutation attack: reorder the units of
 * hidden layers. Unit i of a permuted layer is old unit perm[i]: its incoming
 * weights, bias and batch-norm entries move with it, and the next layer's input
 * weights of unit i become those of old unit perm[i] (the inverse permutation
 * on that layer's input side), so every output is unchanged. */
#include <stdlib.h>
#include <string.h>

#include "attack/hidden.h"
#include "deepsigns/attack.h"

enum { STREAM_PERMUTE = 0x5045524D /* "PERM" */ };

/* In each view of h: unit i <- old unit perm[i]. tmp holds [units * max seg]. */
static void apply_perm(ds_model *m, const ds_hidden *h, const uint32_t *perm, float *tmp)
{
    const int units = h->units;
    for (int v = 0; v < h->nviews; v++) {
        const ds_unit_view *uv = &h->views[v];
        const size_t seg = uv->seg;
        for (size_t o = 0; o < uv->outer; o++) {
            /* block[units, seg] of outer index o */
            float *blk = ds_unit_entry(m, uv, units, o, 0, 0);
            for (int i = 0; i < units; i++)
                memcpy(tmp + (size_t)i * seg, blk + (size_t)perm[i] * seg, sizeof(float) * seg);
            memcpy(blk, tmp, sizeof(float) * seg * (size_t)units);
        }
    }
}

ds_status ds_attack_permute(ds_model *m, const char *layer, uint64_t seed, int *layers,
                            ds_err *err)
{
    if (layers) *layers = 0;
    ds_hidden *hs;
    int n;
    ds_status st = ds_hidden_select(m, layer, "permute", &hs, &n, err);
    if (st) return st;
    /* scratch: the largest [units * seg] block and one permutation */
    size_t tmp_len = 1;
    int max_units = 1;
    for (int k = 0; k < n; k++) {
        if (hs[k].units > max_units) max_units = hs[k].units;
        for (int v = 0; v < hs[k].nviews; v++) {
            size_t len = (size_t)hs[k].units * hs[k].views[v].seg;
            if (len > tmp_len) tmp_len = len;
        }
    }
    float *tmp = malloc(sizeof(float) * tmp_len);
    uint32_t *perm = malloc(sizeof(uint32_t) * (size_t)max_units);
    if (!tmp || !perm) {
        st = ds_err_set(err, DS_ENOMEM, "permute: out of memory");
    } else {
        for (int k = 0; k < n; k++) {
            /* each layer its own stream: its permutation does not depend on the others chosen */
            ds_rng r;
            ds_rng_init(&r, seed, ds_rng_mix(STREAM_PERMUTE, (uint64_t)hs[k].node));
            for (int i = 0; i < hs[k].units; i++) perm[i] = (uint32_t)i;
            ds_rng_shuffle(&r, perm, (size_t)hs[k].units);
            apply_perm(m, &hs[k], perm, tmp);
        }
        if (layers) *layers = n;
    }
    free(tmp);
    free(perm);
    free(hs);
    return st;
}
