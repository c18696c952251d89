/* align.c - realigning a suspect layer to a white-box key's reference before
 * extraction (ds_wb_align_node, for ds_wb_extract), and the profiles both sides are described by.
 *
 * Function-preserving attacks keep a layer's function but rename its units: a
 * permutation reorders them, a positive per-unit scale across a ReLU multiplies
 * each unit's output by its own c > 0, dummy units widen the layer (cliques,
 * whose outgoing weights cancel; splits, which share one unit's outgoing
 * weights). The key's reference holds, for each unit, its activation averaged
 * over the layer's positions on P probe images, taken on the marked model. On
 * a suspect the same profiles are taken, then:
 *   1. Pearson correlation of every reference unit with every suspect unit
 *      (centred, normalised profiles: a positive scale does not change it);
 *   2. the one-to-one assignment of largest summed correlation (ds_assign_max);
 *      a pair is kept when its correlation reaches ALIGN_PAIR_MIN;
 *   3. a suspect unit left over whose best correlation with a reference unit
 *      reaches ALIGN_MERGE_MIN is merged into it (a split half is a positive
 *      multiple of its unit); the others are dummies and are left out;
 *   4. each kept unit's scale: least squares of its profile on the reference
 *      unit's, through the origin (<s, r> / <r, r>); a scale that is not
 *      positive leaves the unit out.
 * Reference units that are constant over the probes (dead ReLUs) cannot be
 * matched; they are counted apart and read 0, as they do on the marked model.
 */
#include "wm/align.h"

#include <cblas.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "deepsigns/progress.h" /* ds_now */
#include "deepsigns/stats.h"
#include "deepsigns/train.h"

#define ALIGN_PAIR_MIN 0.5   /* correlation of a kept pair */
#define ALIGN_MERGE_MIN 0.95 /* correlation of a merged split unit */
#define ALIGN_DEAD_VAR 1e-12 /* profile variance (per probe) under which a unit is dead */

void ds_wb_alignment_free(ds_wb_alignment *a)
{
    if (!a) return;
    free(a->map);
    free(a->scale);
    memset(a, 0, sizeof *a);
}

ds_status ds_wb_profiles_take(ds_model *m, int node, const ds_wm_key *k, float *prof, ds_err *err)
{
    const ds_node *nd = &m->nodes[node];
    const size_t P = (size_t)k->wb.probes, U = (size_t)nd->c, pos = (size_t)nd->h * nd->w,
                 M = nd->size;
    if (k->c != m->arch.in_c || k->h != m->arch.in_h || k->w != m->arch.in_w)
        return ds_err_set(err, DS_EKEY, "the key's probe images are %dx%dx%d but the model takes %dx%dx%d",
                          k->c, k->h, k->w, m->arch.in_c, m->arch.in_h, m->arch.in_w);
    float *act = malloc(sizeof *act * P * M);
    if (!act) return ds_err_set(err, DS_ENOMEM, "out of memory for the activations of %zu probes", P);
    ds_dataset d = {.n = P, .c = k->c, .h = k->h, .w = k->w, .num_classes = k->classes,
                    .x = k->wb.probe_x, .owns = 0};
    ds_status st = ds_model_run(m, &d, NULL, P, node, act, NULL, err);
    for (size_t u = 0; !st && u < U; u++)
        for (size_t p = 0; p < P; p++) {
            double sum = 0.0;
            for (size_t q = 0; q < pos; q++) sum += act[p * M + u * pos + q];
            prof[u * P + p] = (float)(sum / (double)pos);
        }
    free(act);
    return st;
}

/* z[U, P]: each row of prof centred and scaled to unit length; dead[u] when
 * the row is (nearly) constant, its z row then 0. */
static void profiles_standardise(const float *prof, size_t U, size_t P, double *z, unsigned char *dead)
{
    for (size_t u = 0; u < U; u++) {
        const float *x = prof + u * P;
        double mean = 0.0, ss = 0.0;
        for (size_t p = 0; p < P; p++) mean += x[p];
        mean /= (double)P;
        for (size_t p = 0; p < P; p++) ss += (x[p] - mean) * (x[p] - mean);
        dead[u] = !(ss / (double)P > ALIGN_DEAD_VAR);
        const double inv = dead[u] ? 0.0 : 1.0 / sqrt(ss);
        for (size_t p = 0; p < P; p++) z[u * P + p] = (x[p] - mean) * inv;
    }
}

/* corr[U, V] = zr[U, P] zs[V, P]^T (OpenBLAS dgemm). */
static void correlations(const double *zr, size_t U, const double *zs, size_t V, size_t P, double *corr)
{
    cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)U, (int)V, (int)P, 1.0, zr, (int)P, zs,
                (int)P, 0.0, corr, (int)V);
}

/* Steps 2 and 3: a->map from the correlations; pair[j] gets reference unit j's
 * partner (-1: none). */
static ds_status units_match(ds_wb_alignment *a, const double *corr, const unsigned char *rdead,
                             int *pair, ds_err *err)
{
    const int U = a->units, V = a->suspect_units;
    ds_status st = ds_assign_max(corr, U, V, pair, err);
    if (st) return st;
    for (int i = 0; i < V; i++) a->map[i] = -1;
    for (int j = 0; j < U; j++) {
        const int i = pair[j];
        if (i >= 0 && !rdead[j] && corr[(size_t)j * V + i] >= ALIGN_PAIR_MIN) a->map[i] = j;
        else pair[j] = -1;
    }
    for (int i = 0; i < V; i++) {
        if (a->map[i] >= 0) continue;
        int best = -1;
        for (int j = 0; j < U; j++)
            if (!rdead[j] && (best < 0 || corr[(size_t)j * V + i] > corr[(size_t)best * V + i])) best = j;
        if (best >= 0 && corr[(size_t)best * V + i] >= ALIGN_MERGE_MIN) {
            a->map[i] = best;
            if (pair[best] < 0) pair[best] = i;
        }
    }
    return DS_OK;
}

/* Step 4 and the counts. The identity: the layer as marked (every live
 * reference unit paired with its own index at scale 1, no other live unit). */
static void units_scale(ds_wb_alignment *a, const float *rprof, const float *sprof, size_t P,
                        const double *corr, const unsigned char *rdead, const unsigned char *sdead,
                        const int *pair)
{
    const int U = a->units, V = a->suspect_units;
    for (int i = 0; i < V; i++) {
        const int j = a->map[i];
        a->scale[i] = 0.0;
        if (j < 0) continue;
        double sr = 0.0, rr = 0.0;
        for (size_t p = 0; p < P; p++) {
            sr += (double)sprof[(size_t)i * P + p] * rprof[(size_t)j * P + p];
            rr += (double)rprof[(size_t)j * P + p] * rprof[(size_t)j * P + p];
        }
        const double c = rr > 0.0 ? sr / rr : 0.0;
        if (c > 0.0 && isfinite(c)) a->scale[i] = c;
        else a->map[i] = -1;
    }
    a->identity = U == V;
    a->corr_mean = 0.0;
    a->corr_min = 1.0;
    for (int j = 0; j < U; j++) {
        const int i = pair[j];
        if (i >= 0 && a->map[i] == j) {
            a->matched++;
            a->corr_mean += corr[(size_t)j * V + i];
            if (corr[(size_t)j * V + i] < a->corr_min) a->corr_min = corr[(size_t)j * V + i];
        } else {
            if (rdead[j]) a->dead++;
            else a->missing++;
        }
    }
    for (int i = 0; i < V; i++) {
        const int j = a->map[i];
        if (j < 0) a->dummies++;
        else if (pair[j] != i) a->merged++;
        const int same = j == i && fabs(a->scale[i] - 1.0) <= 1e-4;
        const int dead_here = j < 0 && sdead[i] && i < U && rdead[i];
        if (!same && !dead_here) a->identity = 0;
    }
    a->corr_mean = a->matched ? a->corr_mean / a->matched : 0.0;
    if (!a->matched) a->corr_min = 0.0;
    const int live = U - a->dead;
    a->trusted = a->identity || (a->corr_mean >= DS_WB_ALIGN_CORR_MIN &&
                                 a->matched >= DS_WB_ALIGN_MATCHED_MIN * live);
}

ds_status ds_wb_align_node(ds_model *m, int node, const ds_wm_key *k, ds_wb_alignment *out,
                           ds_err *err)
{
    memset(out, 0, sizeof *out);
    const ds_wb_key *w = &k->wb;
    if (w->probes <= 0 || !w->profiles || !w->probe_x)
        return ds_err_set(err, DS_EKEY, "the key holds no reference to realign layer %s with", w->layer);
    const ds_node *nd = &m->nodes[node];
    const size_t pos = (size_t)nd->h * nd->w, P = (size_t)w->probes;
    if ((size_t)w->M != (size_t)w->units * pos)
        return ds_err_set(err, DS_EKEY, "the key does not fit this model: layer %s has %dx%d positions "
                          "per unit, the key %d", w->layer, nd->h, nd->w, w->M / w->units);
    const double t0 = ds_now();
    const size_t U = (size_t)w->units, V = (size_t)nd->c;
    out->units = (int)U;
    out->suspect_units = (int)V;
    out->map = malloc(sizeof *out->map * V);
    out->scale = malloc(sizeof *out->scale * V);
    float *sprof = malloc(sizeof *sprof * V * P);
    double *zr = malloc(sizeof *zr * U * P), *zs = malloc(sizeof *zs * V * P);
    double *corr = malloc(sizeof *corr * U * V);
    unsigned char *rdead = malloc(U), *sdead = malloc(V);
    int *pair = malloc(sizeof *pair * U);
    ds_status st = DS_OK;
    if (!out->map || !out->scale || !sprof || !zr || !zs || !corr || !rdead || !sdead || !pair) {
        st = ds_err_set(err, DS_ENOMEM, "out of memory to align %zu units with %zu", V, U);
        goto done;
    }
    if ((st = ds_wb_profiles_take(m, node, k, sprof, err))) goto done;
    profiles_standardise(w->profiles, U, P, zr, rdead);
    profiles_standardise(sprof, V, P, zs, sdead);
    correlations(zr, U, zs, V, P, corr);
    if ((st = units_match(out, corr, rdead, pair, err))) goto done;
    units_scale(out, w->profiles, sprof, P, corr, rdead, sdead, pair);
    out->seconds = ds_now() - t0;
done:
    free(sprof); free(zr); free(zs); free(corr); free(rdead); free(sdead); free(pair);
    if (st) ds_wb_alignment_free(out);
    return st;
}

ds_status ds_wb_alignment_apply(const ds_wb_alignment *a, const float *act, size_t n, size_t pos,
                                float *out, ds_err *err)
{
    const size_t U = (size_t)a->units, V = (size_t)a->suspect_units;
    int *count = calloc(U ? U : 1, sizeof *count);
    if (!count) return ds_err_set(err, DS_ENOMEM, "out of memory to apply an alignment");
    for (size_t i = 0; i < V; i++)
        if (a->map[i] >= 0) count[a->map[i]]++;
    memset(out, 0, sizeof *out * n * U * pos);
    for (size_t b = 0; b < n; b++)
        for (size_t i = 0; i < V; i++) {
            const int j = a->map[i];
            if (j < 0) continue;
            const double f = 1.0 / (a->scale[i] * count[j]);
            const float *src = act + (b * V + i) * pos;
            float *dst = out + (b * U + (size_t)j) * pos;
            for (size_t q = 0; q < pos; q++) dst[q] += (float)(src[q] * f);
        }
    free(count);
    return DS_OK;
}
