/* scale.c - the function-preserving rescaling attack: multiply each unit of a
 * hidden layer by its own positive factor c_u and divide its outgoing weights by
 * it. ReLU, max pooling, dropout, average pooling and flattening are positively
 * homogeneous per unit (f(c x) = c f(x) for c > 0), so the next layer sees the
 * same input: the function is unchanged. The unit's output is scaled where it is
 * last made affinely: by the last batch norm on the way (gamma and beta), or, with
 * none, by the layer itself (incoming weights and bias). A per-unit scale defeats
 * a signature read as sign(A · mean activation) unless the verifier undoes it. */
#include <math.h>
#include <stdlib.h>

#include "attack/hidden.h"
#include "deepsigns/attack.h"

enum { STREAM_SCALE = 0x5343414C /* "SCAL" */ };

/* Multiply unit u's entries of view v by f. */
static void scale_unit(ds_model *m, const ds_hidden *h, const ds_unit_view *v, int u, float f)
{
    for (size_t o = 0; o < v->outer; o++) {
        float *e = ds_unit_entry(m, v, h->units, o, u, 0);
        for (size_t s = 0; s < v->seg; s++) e[s] *= f;
    }
}

/* Layer h: unit u scaled by c[u] (on the last batch norm, else on the layer) and
 * its outgoing weights by 1 / c[u]. */
static void apply_scale(ds_model *m, const ds_hidden *h, const float *c)
{
    int last_bn = -1;
    for (int v = 0; v < h->nviews; v++)
        if (h->views[v].role == DS_UNIT_BN_GAMMA) last_bn = v;
    for (int v = 0; v < h->nviews; v++) {
        const ds_unit_view *uv = &h->views[v];
        const int scaled = last_bn >= 0
                               ? (v == last_bn || (uv->role == DS_UNIT_BN_BETA && v == last_bn + 1))
                               : (uv->role == DS_UNIT_IN_W || uv->role == DS_UNIT_IN_B);
        const int inverse = uv->role == DS_UNIT_OUT_W;
        if (!scaled && !inverse) continue;
        for (int u = 0; u < h->units; u++) scale_unit(m, h, uv, u, inverse ? 1.0f / c[u] : c[u]);
    }
}

ds_status ds_attack_scale(ds_model *m, const char *layer, double spread, uint64_t seed, int *layers,
                          ds_err *err)
{
    if (layers) *layers = 0;
    if (!(spread >= 0.0 && spread <= DS_ATTACK_SCALE_MAX_SPREAD))
        return ds_err_set(err, DS_ERANGE, "scale: spread %g is out of range [0, %g]", spread,
                          (double)DS_ATTACK_SCALE_MAX_SPREAD);
    ds_hidden *hs;
    int n;
    ds_status st = ds_hidden_select(m, layer, "scale", &hs, &n, err);
    if (st) return st;
    int max_units = 1;
    for (int k = 0; k < n; k++)
        if (hs[k].units > max_units) max_units = hs[k].units;
    float *c = malloc(sizeof(float) * (size_t)max_units);
    if (!c) {
        free(hs);
        return ds_err_set(err, DS_ENOMEM, "scale: out of memory");
    }
    for (int k = 0; k < n; k++) {
        /* each layer its own stream, as for permute */
        ds_rng r;
        ds_rng_init(&r, seed, ds_rng_mix(STREAM_SCALE, (uint64_t)hs[k].node));
        for (int u = 0; u < hs[k].units; u++) /* log-uniform in [e^-spread, e^spread] */
            c[u] = (float)exp(spread * (2.0 * ds_rng_uniform(&r) - 1.0));
        apply_scale(m, &hs[k], c);
    }
    if (layers) *layers = n;
    free(c);
    free(hs);
    return DS_OK;
}
