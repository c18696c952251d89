/* dummy.c - the function-preserving dummy-neuron attack: widen hidden layers by
 * units that leave every output unchanged (up to float rounding).
 *
 * The new model is built from the architecture with ds_arch.extra raised; the
 * old tensors are copied into it at the same multi-index, so the new units are
 * the last ones of their layer in every tensor (also behind a flatten, whose
 * rows are channel-major). Then, layer by layer in graph order:
 *   clique  groups of 2 (one group of 3 when `neurons` is odd) share random
 *           incoming weights and bias, hence the same activation a; their
 *           outgoing weights are w, -w (or w, w, -2w): the products a*w cancel
 *           exactly, only the order of the next layer's sums changes.
 *   split   `neurons` distinct units s get a copy (same incoming weights, bias,
 *           batch-norm entries); s keeps alpha*w of its outgoing weights, the
 *           copy gets w - alpha*w, alpha uniform in (0.2, 0.8) per unit.
 * A layer's incoming side is written for every row, including units its
 * predecessor has just added (whose outgoing side was written first); the
 * predecessor's rows towards the new units only feed units whose value is
 * cancelled or split away, so any value there is harmless.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "attack/hidden.h"
#include "deepsigns/attack.h"

enum { STREAM_DUMMY = 0x44554D59 /* "DUMY" */, DUMMY_MAX_NEURONS = 65536 };

/* dst[ddims] <- src[sdims] at the same multi-index where both exist (ndim <= 4). */
static void copy_aligned(float *dst, const int *ddims, const float *src, const int *sdims, int ndim)
{
    int d[4] = {1, 1, 1, 1}, s[4] = {1, 1, 1, 1};
    for (int i = 0; i < ndim; i++) {
        d[4 - ndim + i] = ddims[i];
        s[4 - ndim + i] = sdims[i];
    }
    int n[4];
    for (int i = 0; i < 4; i++) n[i] = d[i] < s[i] ? d[i] : s[i];
    for (int a = 0; a < n[0]; a++)
        for (int b = 0; b < n[1]; b++)
            for (int c = 0; c < n[2]; c++) {
                size_t di = (((size_t)a * d[1] + b) * d[2] + c) * d[3];
                size_t si = (((size_t)a * s[1] + b) * s[2] + c) * s[3];
                memcpy(dst + di, src + si, sizeof(float) * (size_t)n[3]);
            }
}

/* He-normal scale of a layer's weights from a view: fan-in = entries per output unit. */
static double he_std(const ds_model *m, int t, int units)
{
    size_t fan_in = m->tensors[t].size / (size_t)units;
    return sqrt(2.0 / (double)(fan_in ? fan_in : 1));
}

/* Units [first, first + neurons) of h (h->units counts them) as cliques. */
static void fill_clique(ds_model *m, const ds_hidden *h, int first, int neurons, ds_rng *r)
{
    const int U = h->units;
    const ds_node *q = &m->nodes[h->consumer];
    for (int g0 = first; g0 < first + neurons;) {
        int left = first + neurons - g0;
        int gsz = left == 3 ? 3 : 2;
        for (int v = 0; v < h->nviews; v++) {
            const ds_unit_view *uv = &h->views[v];
            double sd = uv->role == DS_UNIT_IN_W    ? he_std(m, uv->t, U)
                        : uv->role == DS_UNIT_OUT_W ? he_std(m, uv->t, q->c)
                                                    : 0.0;
            for (size_t o = 0; o < uv->outer; o++)
                for (size_t s = 0; s < uv->seg; s++) {
                    float val;
                    switch (uv->role) {
                    case DS_UNIT_IN_W: val = (float)(sd * ds_rng_normal(r)); break;
                    case DS_UNIT_IN_B: val = (float)(0.01 * ds_rng_normal(r)); break;
                    case DS_UNIT_BN_GAMMA: case DS_UNIT_BN_VAR: val = 1.0f; break;
                    case DS_UNIT_OUT_W: val = (float)(sd * ds_rng_normal(r)); break;
                    default: val = 0.0f; break;
                    }
                    for (int k = 0; k < gsz; k++) {
                        float x = val;
                        /* outgoing: w, -w  or  w, w, -2w (exact: doubling is exact in float) */
                        if (uv->role == DS_UNIT_OUT_W && k == gsz - 1) x = gsz == 2 ? -val : -2.0f * val;
                        *ds_unit_entry(m, uv, U, o, g0 + k, s) = x;
                    }
                }
        }
        g0 += gsz;
    }
}

/* Units [first, first + neurons) of h become copies of distinct random old units. */
static ds_status fill_split(ds_model *m, const ds_hidden *h, int first, int neurons, ds_rng *r,
                            ds_err *err)
{
    const int U = h->units;
    uint32_t *pick = malloc(sizeof(uint32_t) * (size_t)first);
    if (!pick) return ds_err_set(err, DS_ENOMEM, "dummy neurons: out of memory");
    for (int i = 0; i < first; i++) pick[i] = (uint32_t)i;
    ds_rng_shuffle(r, pick, (size_t)first);
    for (int j = 0; j < neurons; j++) {
        const int src = (int)pick[j], dst = first + j;
        float alpha;
        do alpha = 0.2f + 0.6f * ds_rng_uniformf(r);
        while (!(alpha > 0.2f && alpha < 0.8f));
        for (int v = 0; v < h->nviews; v++) {
            const ds_unit_view *uv = &h->views[v];
            for (size_t o = 0; o < uv->outer; o++)
                for (size_t s = 0; s < uv->seg; s++) {
                    float *ps = ds_unit_entry(m, uv, U, o, src, s);
                    float *pd = ds_unit_entry(m, uv, U, o, dst, s);
                    if (uv->role == DS_UNIT_OUT_W) {
                        float w = *ps;
                        *ps = alpha * w;
                        *pd = w - *ps;
                    } else {
                        *pd = *ps;
                    }
                }
        }
    }
    free(pick);
    return DS_OK;
}

/* The new model's tensors must be the old ones, some dims larger. */
static ds_status same_layout(const ds_model *a, const ds_model *b, ds_err *err)
{
    int ok = a->nnodes == b->nnodes && a->ntensors == b->ntensors;
    for (int t = 0; ok && t < a->ntensors; t++) {
        const ds_tensor *x = &a->tensors[t], *y = &b->tensors[t];
        ok = !strcmp(x->name, y->name) && x->ndim == y->ndim && x->trainable == y->trainable;
        for (int i = 0; ok && i < x->ndim; i++) ok = y->dims[i] >= x->dims[i];
    }
    return ok ? DS_OK
              : ds_err_set(err, DS_EINVAL, "dummy neurons: the widened %s model does not match "
                                           "the original layout", a->arch.name);
}

ds_model *ds_attack_dummy(const ds_model *m, ds_dummy_kind kind, const char *layer, int neurons,
                          uint64_t seed, ds_err *err)
{
    if (kind != DS_DUMMY_CLIQUE && kind != DS_DUMMY_SPLIT) {
        ds_err_set(err, DS_EINVAL, "dummy neurons: unknown kind %d (expected clique or split)", (int)kind);
        return NULL;
    }
    int lo = kind == DS_DUMMY_CLIQUE ? 2 : 1;
    if (neurons < lo || neurons > DUMMY_MAX_NEURONS) {
        ds_err_set(err, DS_ERANGE, "dummy neurons: %d %s neurons out of range [%d, %d]", neurons,
                   ds_dummy_kind_name(kind), lo, DUMMY_MAX_NEURONS);
        return NULL;
    }
    ds_hidden *hs;
    int n;
    if (ds_hidden_select(m, layer, "dummy neurons", &hs, &n, err)) return NULL;
    ds_arch arch = m->arch;
    ds_status st = DS_OK;
    for (int k = 0; !st && k < n; k++) {
        const char *name = m->nodes[hs[k].node].name;
        if (kind == DS_DUMMY_SPLIT && neurons > hs[k].units)
            st = ds_err_set(err, DS_ERANGE, "dummy neurons: cannot split %d units of layer %s, "
                            "which has %d", neurons, name, hs[k].units);
        else if (hs[k].index >= DS_ARCH_MAX_EXTRA)
            st = ds_err_set(err, DS_EINVAL, "dummy neurons: layer %s is hidden layer %d; the "
                            "architecture records extra units for the first %d only", name,
                            hs[k].index, DS_ARCH_MAX_EXTRA);
        else
            arch.extra[hs[k].index] += neurons; /* both <= 65536: no overflow; validated below */
    }
    if (!st && (st = ds_arch_validate(&arch, err)) != DS_OK)
        (void)ds_err_prefix(err, "dummy neurons: ");
    ds_model *nm = NULL;
    if (!st && (nm = ds_model_build(&arch, err)) == NULL) st = ds_err_prefix(err, "dummy neurons: ");
    if (!st) st = same_layout(m, nm, err);
    if (!st) {
        nm->meta = m->meta;
        for (int t = 0; t < m->ntensors; t++)
            copy_aligned(ds_model_tensor_data(nm, t), nm->tensors[t].dims, ds_model_tensor_data(m, t),
                         m->tensors[t].dims, m->tensors[t].ndim);
    }
    for (int k = 0; !st && k < n; k++) {
        ds_hidden h;
        st = ds_hidden_at(nm, hs[k].node, "dummy neurons", &h, err);
        if (st) break;
        ds_rng r;
        ds_rng_init(&r, seed, ds_rng_mix(STREAM_DUMMY, (uint64_t)hs[k].node));
        if (kind == DS_DUMMY_CLIQUE)
            fill_clique(nm, &h, hs[k].units, neurons, &r);
        else
            st = fill_split(nm, &h, hs[k].units, neurons, &r, err);
    }
    free(hs);
    if (st) {
        ds_model_free(nm);
        return NULL;
    }
    return nm;
}
