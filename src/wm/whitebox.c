/* whitebox.c - DeepSigns white-box watermark: secrets, embedding through the
 * training hook, and extraction as a bit-error rate (METHOD.md section 2).
 *
 * Departure from METHOD section 2 (see wm/wb_loss.h for the loss): the bits are
 * trained on the batch mean of each target class's activations (L_mbits, weight
 * lambda2 = 0.003), the statistic extraction decodes, and the centre terms
 * (weight lambda1) are off by default. Measured on Fashion-MNIST, mnist-mlp,
 * 32 bits on 2 classes, 1 thread (unmarked: 0.8897 from scratch, 5 epochs SGD
 * lr 0.05 cosine; the same model P is the start of "on P", 3 epochs SGD 0.01):
 * - METHOD as written (sum L_centre, l1 = l2 = 0.01, centres by their own Adam
 *   lr 1e-3): from scratch the ReLU layer dies (accuracy 0.10, BER 0.48); on P
 *   accuracy 0.767, BER 0.36. The activations lag the moving centres
 *   (|mu - c| 4-10 against bit margins |a_j . c| < 1) and L_sep lets the
 *   centres' norm run away (8 -> 27 over 6 epochs).
 * - Mean L_centre, l1 = 0.01...1: from scratch 0.73-0.87 with BER 0.03-0.48
 *   (l1 = 1 dies again); on P BER 0.33-0.36. Any centre pull shrinks the
 *   within-class scatter and costs accuracy from scratch: the pull alone (no
 *   other term) at l1 = 0.1 gives 0.834, at 0.01 0.874 (0.882 with the centres'
 *   lr 1e-2), on the two target classes only at 0.1 0.866-0.870; centres
 *   projected on the sphere of their initial radius and the non-negative orthant
 *   with L_bits on them: BER 0, accuracy 0.842.
 * - L_mbits alone: from scratch l2 = 0.001 / 0.003 / 0.01 / 0.03 give accuracy
 *   0.8849 / 0.8846 / 0.8829 / 0.8551, all BER 0 with every bit margin
 *   |a_j . mu| >= 8; on P l2 = 0.003 / 0.01 give 0.8875 / 0.8874, BER 0.
 *   Adding the centre terms (mean L_centre, l1 = 0.01) keeps BER 0 but costs
 *   accuracy (0.873-0.876 from scratch, 0.880-0.882 on P); l1 = 0.001: 0.8825.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "deepsigns/optim.h"
#include "deepsigns/stats.h"
#include "deepsigns/wm.h"
#include "wm/align.h"
#include "wm/wb_loss.h"

enum { STREAM_WB_KEY = 0x57424B45, STREAM_WB_CENTRES = 0x57424345, GMM_INIT_SAMPLES = 5000 };
#define WB_CENTRE_LR 1e-3f

ds_wb_opts ds_wb_defaults(void)
{
    return (ds_wb_opts){.s = 2, .N = 32, .keys_per_class = 100, .lambda1 = 0.0f,
                        .lambda2 = 0.003f, .alpha = DS_WB_ALPHA, .probes = DS_WB_PROBES,
                        .seed = 1};
}

/* The feature vector feeding the output layer: walking back from the output,
 * the first ReLU or global-average-pool node with a 1x1 spatial shape. */
const char *ds_wb_default_layer(const ds_model *m)
{
    for (int i = ds_model_output_node(m) - 1; i > 0; i--) {
        const ds_node *nd = &m->nodes[i];
        if ((nd->op == DS_OP_RELU || nd->op == DS_OP_GAP) && nd->h == 1 && nd->w == 1)
            return nd->name;
    }
    return m->nodes[ds_model_output_node(m) - 1].name;
}

ds_status ds_wb_layer_find(const ds_model *m, const char *name, int *node, ds_err *err)
{
    *node = ds_model_find_node(m, name);
    if (*node <= 0 || *node >= ds_model_output_node(m))
        return ds_err_set(err, DS_EINVAL, "layer '%s' is not a hidden layer of %s (see deepsigns info)",
                          name, m->arch.name);
    return DS_OK;
}

static ds_status wb_targets(const ds_model *m, const ds_wb_opts *o, ds_rng *r, int *targets,
                            ds_err *err)
{
    const int C = m->arch.classes;
    if (o->s < 1 || o->s > C)
        return ds_err_set(err, DS_ERANGE, "target classes: %d is out of range [1, %d]", o->s, C);
    if (!o->targets) {
        uint32_t *perm = malloc(sizeof *perm * C);
        if (!perm) return ds_err_set(err, DS_ENOMEM, "out of memory");
        for (int k = 0; k < C; k++) perm[k] = (uint32_t)k;
        ds_rng_shuffle(r, perm, C);
        for (int t = 0; t < o->s; t++) targets[t] = (int)perm[t];
        free(perm);
        return DS_OK;
    }
    for (int t = 0; t < o->s; t++) {
        if (o->targets[t] < 0 || o->targets[t] >= C)
            return ds_err_set(err, DS_ERANGE, "target class %d is out of range [0, %d)", o->targets[t], C);
        for (int u = 0; u < t; u++)
            if (o->targets[u] == o->targets[t])
                return ds_err_set(err, DS_EINVAL, "target class %d given twice", o->targets[t]);
        targets[t] = o->targets[t];
    }
    return DS_OK;
}

/* The reference's probes: up to o->probes pool images of any class, from the
 * end of the seeded order, none of them a key image (used[i]: order[i] is). */
static int wb_is_target(const ds_wb_key *w, int label)
{
    for (int t = 0; t < w->s; t++)
        if (w->targets[t] == label) return 1;
    return 0;
}

static ds_status wb_probe_images(const ds_dataset *train, const uint32_t *order,
                                 const unsigned char *used, size_t npool, const ds_wb_opts *o,
                                 ds_wm_key *k, ds_err *err)
{
    ds_wb_key *w = &k->wb;
    if (o->probes <= 0) return DS_OK;
    size_t chw = (size_t)train->c * train->h * train->w;
    if (!(w->probe_x = malloc(chw * (size_t)o->probes)))
        return ds_err_set(err, DS_ENOMEM, "out of memory for %d probe images", o->probes);
    for (size_t i = npool; i-- > 0 && w->probes < o->probes;) {
        if (used[i] || wb_is_target(w, train->y[order[i]])) continue;
        memcpy(w->probe_x + (size_t)w->probes * chw, train->x + (size_t)order[i] * chw, chw);
        w->probes++;
    }
    if (w->probes < 2)
        return ds_err_set(err, DS_EINVAL, "the key pool leaves %d probe images beside the key images "
                          "(at least 2 are needed; or no reference: probes 0)", w->probes);
    return DS_OK;
}

/* Copy up to per_class pool images of each target class, in a seeded order,
 * then the probes. */
static ds_status wb_key_images(const ds_dataset *train, const uint32_t *pool, size_t npool,
                               const ds_wb_opts *o, const int *targets, ds_rng *r, ds_wm_key *k,
                               ds_err *err)
{
    uint32_t *order = malloc(sizeof *order * (npool ? npool : 1));
    unsigned char *used = calloc(npool ? npool : 1, 1);
    if (!order || !used) {
        free(order);
        free(used);
        return ds_err_set(err, DS_ENOMEM, "out of memory");
    }
    memcpy(order, pool, sizeof *order * npool);
    ds_rng_shuffle(r, order, npool);
    size_t chw = (size_t)train->c * train->h * train->w, cap = (size_t)o->s * o->keys_per_class;
    k->x = malloc(chw * (cap ? cap : 1));
    k->y = malloc(cap ? cap : 1);
    k->source_index = malloc(sizeof *k->source_index * (cap ? cap : 1));
    if (!k->x || !k->y || !k->source_index) {
        free(order);
        free(used);
        return ds_err_set(err, DS_ENOMEM, "out of memory for %zu key images", cap);
    }
    k->c = train->c; k->h = train->h; k->w = train->w;
    k->n = 0;
    for (int t = 0; t < o->s; t++) {
        int got = 0;
        for (size_t i = 0; i < npool && got < o->keys_per_class; i++) {
            if (train->y[order[i]] != targets[t]) continue;
            memcpy(k->x + k->n * chw, train->x + (size_t)order[i] * chw, chw);
            k->y[k->n] = (uint8_t)targets[t];
            k->source_index[k->n] = order[i];
            k->n++;
            used[i] = 1;
            got++;
        }
        if (got == 0) {
            free(order);
            free(used);
            return ds_err_set(err, DS_EINVAL, "the key pool holds no image of target class %d", targets[t]);
        }
    }
    ds_status st = wb_probe_images(train, order, used, npool, o, k, err);
    free(order);
    free(used);
    return st;
}

ds_status ds_wb_keygen(const ds_model *m, const ds_dataset *train, const uint32_t *pool,
                       size_t npool, const ds_wb_opts *o, ds_wm_key *k, ds_err *err)
{
    memset(k, 0, sizeof *k);
    if (o->N < 1 || o->N > 4096)
        return ds_err_set(err, DS_ERANGE, "bits per class: %d is out of range [1, 4096]", o->N);
    if (o->keys_per_class < 1)
        return ds_err_set(err, DS_ERANGE, "key images per class must be >= 1 (got %d)", o->keys_per_class);
    if (!(o->alpha > 0 && o->alpha < 1))
        return ds_err_set(err, DS_ERANGE, "claim level alpha %g is out of range (0, 1)", o->alpha);
    int node;
    ds_status st = ds_wb_layer_find(m, o->layer ? o->layer : ds_wb_default_layer(m), &node, err);
    if (st) return st;
    ds_rng r;
    ds_rng_init(&r, o->seed, STREAM_WB_KEY);
    k->scheme = DS_WM_WHITEBOX;
    snprintf(k->arch, sizeof k->arch, "%s", m->arch.name);
    k->classes = m->arch.classes;
    k->seed = o->seed;
    ds_wb_key *w = &k->wb;
    snprintf(w->layer, sizeof w->layer, "%s", m->nodes[node].name);
    w->M = (int)m->nodes[node].size;
    w->s = o->s;
    w->N = o->N;
    w->lambda1 = o->lambda1;
    w->lambda2 = o->lambda2;
    w->alpha = o->alpha;
    if (o->probes < 0 || o->probes > DS_WB_PROBES_MAX)
        return ds_err_set(err, DS_ERANGE, "probe images: %d is out of range [0, %d]", o->probes,
                          DS_WB_PROBES_MAX);
    w->units = o->probes > 0 ? m->nodes[node].c : 0;
    w->targets = malloc(sizeof *w->targets * o->s);
    w->bits = malloc((size_t)o->s * o->N);
    w->A = malloc(sizeof *w->A * (size_t)o->N * w->M);
    if (!w->targets || !w->bits || !w->A) {
        st = ds_err_set(err, DS_ENOMEM, "out of memory for white-box secrets");
        goto fail;
    }
    if ((st = wb_targets(m, o, &r, w->targets, err))) goto fail;
    for (int i = 0; i < o->s * o->N; i++) w->bits[i] = (uint8_t)(ds_rng_u32(&r) & 1u);
    for (size_t i = 0; i < (size_t)o->N * w->M; i++) w->A[i] = (float)ds_rng_normal(&r);
    if ((st = wb_key_images(train, pool, npool, o, w->targets, &r, k, err))) goto fail;
    return DS_OK;
fail:
    ds_wm_key_free(k);
    return st;
}

/* ---- embedding ---- */

typedef struct wb_hook_ctx {
    const ds_wm_key *key;
    int node;
    float *centres, *dC;   /* [C, M]; NULL when the centre terms are off */
    int *nearest;          /* [C] */
    double *mu, *g;        /* [M] scratch of L_mbits */
    ds_optim *opt;
    float lr;
} wb_hook_ctx;

/* After the forward pass: add the DeepSigns loss, its gradient into the marked
 * layer's activation gradient, and step the centres (if any). */
static double wb_hook(void *vctx, ds_model *m, const float *x, const int *y, int B)
{
    (void)x;
    wb_hook_ctx *h = vctx;
    const ds_wb_key *w = &h->key->wb;
    const int C = m->arch.classes;
    ds_wb_batch in = {.f = ds_model_act(m, h->node), .y = y, .B = B, .M = w->M,
                      .centres = h->centres, .C = C, .A = w->A, .bits = w->bits,
                      .targets = w->targets, .s = w->s, .N = w->N, .lambda1 = w->lambda1,
                      .lambda2 = w->lambda2,
                      .terms = h->centres ? DS_WB_TERM_ALL : DS_WB_TERM_MBITS};
    if (h->centres) memset(h->dC, 0, sizeof(float) * (size_t)C * w->M);
    double loss = ds_wb_loss(&in, ds_model_dact(m, h->node), h->dC, h->nearest, h->mu, h->g);
    if (h->centres) ds_optim_step(h->opt, h->centres, h->dC, 0, (size_t)C * w->M, h->lr);
    return loss;
}

/* Centres from a per-class Gaussian-mixture fit of the layer's activations on
 * (up to GMM_INIT_SAMPLES of) the training samples. */
static ds_status wb_centres_from_gmm(ds_model *m, int node, const ds_dataset *d,
                                     const uint32_t *idx, size_t n, uint64_t seed, float *centres,
                                     ds_err *err)
{
    const int C = m->arch.classes, M = (int)m->nodes[node].size;
    size_t ns = n < GMM_INIT_SAMPLES ? n : GMM_INIT_SAMPLES;
    float *act = malloc(sizeof *act * ns * M);
    int *labels = malloc(sizeof *labels * ns);
    ds_status st = DS_OK;
    if (!act || !labels) {
        st = ds_err_set(err, DS_ENOMEM, "out of memory for %zu activations", ns);
        goto done;
    }
    /* an evenly spaced subsample keeps every class */
    uint32_t *sub = malloc(sizeof *sub * ns);
    if (!sub) { st = ds_err_set(err, DS_ENOMEM, "out of memory"); goto done; }
    for (size_t i = 0; i < ns; i++) sub[i] = idx[i * n / ns];
    st = ds_model_run(m, d, sub, ns, node, act, NULL, err);
    for (size_t i = 0; i < ns; i++) labels[i] = d->y[sub[i]];
    free(sub);
    if (st) goto done;
    ds_gmm_opts go = ds_gmm_defaults(C);
    go.init = DS_GMM_INIT_LABELS;
    go.max_iter = 50;
    ds_rng r;
    ds_rng_init(&r, seed, STREAM_WB_CENTRES);
    ds_gmm *g = ds_gmm_fit(act, ns, M, labels, &go, &r, NULL, err);
    if (!g) { st = err ? err->code : DS_ELIB; goto done; }
    for (size_t i = 0; i < (size_t)C * M; i++) centres[i] = (float)g->mean[i];
    ds_gmm_free(g);
done:
    free(act);
    free(labels);
    return st;
}

/* The reference profiles of k, taken on m (the marked model). */
static ds_status wb_reference_take(ds_model *m, int node, ds_wm_key *k, ds_err *err)
{
    ds_wb_key *w = &k->wb;
    if (w->probes <= 0) return DS_OK;
    if (m->nodes[node].c != w->units)
        return ds_err_set(err, DS_EKEY, "layer %s has %d units but the key's reference %d", w->layer,
                          m->nodes[node].c, w->units);
    float *prof = malloc(sizeof *prof * (size_t)w->units * (size_t)w->probes);
    if (!prof) return ds_err_set(err, DS_ENOMEM, "out of memory for the reference profiles");
    ds_status st = ds_wb_profiles_take(m, node, k, prof, err);
    if (st) {
        free(prof);
        return st;
    }
    free(w->profiles);
    w->profiles = prof;
    return DS_OK;
}

ds_status ds_wb_reference_take(ds_model *m, ds_wm_key *k, ds_err *err)
{
    int node;
    ds_status st = ds_wb_layer_find(m, k->wb.layer, &node, err);
    if (st) return st;
    if (m->nodes[node].size != (size_t)k->wb.M)
        return ds_err_set(err, DS_EKEY, "layer %s has width %zu but the key expects %d", k->wb.layer,
                          m->nodes[node].size, k->wb.M);
    k->wb.units = m->nodes[node].c;
    return wb_reference_take(m, node, k, err);
}

ds_status ds_wb_embed(ds_model *m, ds_wm_key *k, const ds_dataset *train,
                      const uint32_t *idx, size_t n, const ds_train_cfg *cfg, int from_scratch,
                      ds_train_stats *stats, ds_err *err)
{
    if (k->scheme != DS_WM_WHITEBOX) return ds_err_set(err, DS_EINVAL, "not a white-box key");
    int node;
    ds_status st = ds_wb_layer_find(m, k->wb.layer, &node, err);
    if (st) return st;
    if ((int)m->nodes[node].size != k->wb.M)
        return ds_err_set(err, DS_EKEY, "layer %s has width %zu but the key expects %d",
                          k->wb.layer, m->nodes[node].size, k->wb.M);
    const int C = m->arch.classes, M = k->wb.M;
    wb_hook_ctx h = {.key = k, .node = node};
    h.mu = malloc(sizeof(double) * M);
    h.g = malloc(sizeof(double) * M);
    if (!h.mu || !h.g) {
        st = ds_err_set(err, DS_ENOMEM, "out of memory");
        goto done;
    }
    ds_train_hook hook = {.fn = wb_hook, .ctx = &h, .node = h.node};
    if (k->wb.lambda1 <= 0.0f) { /* no centre terms: L_mbits only */
        st = ds_train(m, train, idx, n, cfg, &hook, stats, err);
        goto done;
    }
    h.centres = malloc(sizeof(float) * (size_t)C * M);
    h.dC = malloc(sizeof(float) * (size_t)C * M);
    h.nearest = malloc(sizeof(int) * C);
    if (!h.centres || !h.dC || !h.nearest) {
        st = ds_err_set(err, DS_ENOMEM, "out of memory for class centres");
        goto done;
    }
    if (from_scratch) {
        ds_rng r;
        ds_rng_init(&r, k->seed, STREAM_WB_CENTRES);
        for (size_t i = 0; i < (size_t)C * M; i++) h.centres[i] = ds_rng_uniformf(&r);
    } else if ((st = wb_centres_from_gmm(m, node, train, idx, n, k->seed, h.centres, err))) {
        goto done;
    }
    /* The centres get their own Adam: its per-coordinate steps stay near lr
     * whatever the scale of the separation term (quartic in the centres' norm),
     * so L_norm can bring them to the unit sphere before L_sep runs away. */
    ds_optim_cfg ccfg = ds_optim_defaults(DS_OPT_ADAM);
    ccfg.lr = WB_CENTRE_LR;
    h.lr = ccfg.lr;
    if (!(h.opt = ds_optim_new(&ccfg, (size_t)C * M, err))) {
        st = err ? err->code : DS_ENOMEM;
        goto done;
    }
    st = ds_train(m, train, idx, n, cfg, &hook, stats, err);
done:
    if (!st) st = wb_reference_take(m, node, k, err);
    ds_optim_free(h.opt);
    free(h.centres);
    free(h.dC);
    free(h.nearest);
    free(h.mu);
    free(h.g);
    return st;
}

/* ---- extraction ---- */

void ds_wb_result_free(ds_wb_result *r)
{
    if (!r) return;
    ds_wb_alignment_free(&r->align);
    free(r->decoded);
    free(r->margins);
    free(r->ber_class);
    memset(r, 0, sizeof *r);
}

/* Decode the signature from act[n, M] (the key images' activations in the
 * key's order): the bits, their margins and the per-class BER where those are
 * non-NULL; *errors the wrong bits. */
static ds_status wb_decode(const ds_wm_key *k, const float *act, uint8_t *decoded, double *margins,
                           double *ber_class, int *errors, ds_err *err)
{
    const ds_wb_key *w = &k->wb;
    const size_t M = (size_t)w->M;
    double *mu = malloc(sizeof *mu * M);
    if (!mu) return ds_err_set(err, DS_ENOMEM, "out of memory for extraction");
    *errors = 0;
    for (int t = 0; t < w->s; t++) {
        /* mu_k: mean activation over the key images of target class k */
        memset(mu, 0, sizeof *mu * M);
        size_t cnt = 0;
        for (size_t i = 0; i < k->n; i++) {
            if (k->y[i] != w->targets[t]) continue;
            for (size_t j = 0; j < M; j++) mu[j] += act[i * M + j];
            cnt++;
        }
        if (!cnt) {
            free(mu);
            return ds_err_set(err, DS_EKEY, "the key holds no image of target class %d", w->targets[t]);
        }
        int wrong = 0;
        for (int j = 0; j < w->N; j++) {
            double z = 0.0;
            for (size_t i = 0; i < M; i++) z += (double)w->A[(size_t)j * M + i] * (mu[i] / cnt);
            uint8_t bit = z > 0.0;
            if (decoded) decoded[t * w->N + j] = bit;
            if (margins) margins[t * w->N + j] = fabs(z);
            wrong += bit != w->bits[t * w->N + j];
        }
        if (ber_class) ber_class[t] = (double)wrong / w->N;
        *errors += wrong;
    }
    free(mu);
    return DS_OK;
}

/* The key's layer of m and its suspect activations act[n, size] on the key
 * images (malloc'd). */
static ds_status wb_key_acts(ds_model *m, const ds_wm_key *k, int *node, float **act, ds_err *err)
{
    *act = NULL;
    if (ds_wb_layer_find(m, k->wb.layer, node, err)) return ds_err_prefix(err, "the key does not fit this model: ");
    if (k->c != m->arch.in_c || k->h != m->arch.in_h || k->w != m->arch.in_w)
        return ds_err_set(err, DS_EKEY, "the key images are %dx%dx%d but the model takes %dx%dx%d",
                          k->c, k->h, k->w, m->arch.in_c, m->arch.in_h, m->arch.in_w);
    ds_dataset imgs = ds_wm_key_images(k);
    const size_t size = m->nodes[*node].size;
    if (!(*act = malloc(sizeof **act * (k->n ? k->n : 1) * size)))
        return ds_err_set(err, DS_ENOMEM, "out of memory for extraction");
    ds_status st = ds_model_run(m, &imgs, NULL, k->n, *node, *act, NULL, err);
    if (st) {
        free(*act);
        *act = NULL;
    }
    return st;
}

ds_status ds_wb_extract(ds_model *m, const ds_wm_key *k, ds_wb_result *out, ds_err *err)
{
    memset(out, 0, sizeof *out);
    if (k->scheme != DS_WM_WHITEBOX) return ds_err_set(err, DS_EINVAL, "not a white-box key");
    const ds_wb_key *w = &k->wb;
    const int has_ref = w->probes > 0 && w->profiles;
    int node;
    float *act = NULL, *aligned = NULL;
    ds_status st = wb_key_acts(m, k, &node, &act, err);
    if (st) return st;
    const size_t size = m->nodes[node].size;
    out->raw_checkable = size == (size_t)w->M;
    if (!has_ref && !out->raw_checkable) {
        free(act);
        return ds_err_set(err, DS_EKEY, "the key does not fit this model: layer %s has width %zu, the key "
                          "expects %d (the key holds no reference to realign it with)", w->layer, size, w->M);
    }
    out->s = w->s;
    out->N = w->N;
    out->total = w->s * w->N;
    out->decoded = malloc((size_t)out->total);
    out->margins = malloc(sizeof *out->margins * out->total);
    out->ber_class = malloc(sizeof *out->ber_class * w->s);
    if (!out->decoded || !out->margins || !out->ber_class) {
        st = ds_err_set(err, DS_ENOMEM, "out of memory for extraction");
        goto done;
    }
    if (out->raw_checkable) {
        if ((st = wb_decode(k, act, out->decoded, out->margins, out->ber_class, &out->raw_errors, err)))
            goto done;
        out->raw_ber = (double)out->raw_errors / out->total;
        out->errors = out->raw_errors;
    }
    if (has_ref) {
        if ((st = ds_wb_align_node(m, node, k, &out->align, err))) goto done;
        out->align_tried = 1;
        const ds_wb_alignment *a = &out->align;
        out->aligned = a->trusted;
        if (!a->trusted && !out->raw_checkable) {
            st = ds_err_set(err, DS_EKEY, "the key does not fit this model: layer %s has width %zu, the "
                            "key expects %d, and realignment found no match to trust (%d of %d units "
                            "matched, mean correlation %.3f; it needs %.0f %% and %.2f)", w->layer, size,
                            w->M, a->matched, a->units - a->dead, a->corr_mean,
                            100.0 * DS_WB_ALIGN_MATCHED_MIN, DS_WB_ALIGN_CORR_MIN);
            goto done;
        }
        if (a->trusted && !a->identity) { /* the identity changes nothing: the raw figures stand */
            const size_t pos = (size_t)m->nodes[node].h * m->nodes[node].w;
            if (!(aligned = malloc(sizeof *aligned * (k->n ? k->n : 1) * (size_t)w->M))) {
                st = ds_err_set(err, DS_ENOMEM, "out of memory for the aligned activations");
                goto done;
            }
            if ((st = ds_wb_alignment_apply(&out->align, act, k->n, pos, aligned, err)) ||
                (st = wb_decode(k, aligned, out->decoded, out->margins, out->ber_class, &out->errors, err)))
                goto done;
        }
    }
    out->ber = (double)out->errors / out->total;
    out->p_value = ds_binom_cdf(out->errors, 0.5, out->total);
done:
    free(act);
    free(aligned);
    if (st) ds_wb_result_free(out);
    return st;
}
