/* distance.c - the L2 distance between the parameters of two models that may
 * differ in width (a dummy-neuron attack appends units) or in their tensors.
 *
 * Trainable tensors only (batch-norm running statistics are not parameters).
 * Tensors are matched by name; two of the same name and rank compare entry by
 * entry at equal multi-indices, and entries inside only one of the two shapes
 * count with their full value. A tensor only one model has (or of another rank)
 * counts with its full norm, whichever model has it. Sums are in double.
 */
#include <math.h>

#include "deepsigns/attack.h"

static double sumsq(const float *x, size_t n)
{
    double s = 0.0;
    for (size_t i = 0; i < n; i++) s += (double)x[i] * x[i];
    return s;
}

/* Dims of a tensor right-aligned into 4 (leading 1s). */
static void dims4(const ds_tensor *t, int d[4])
{
    for (int i = 0; i < 4; i++) d[i] = 1;
    for (int i = 0; i < t->ndim; i++) d[4 - t->ndim + i] = t->dims[i];
}

/* sum of squared differences over the union of the two shapes (same rank) */
static double tensor_sq(const ds_model *a, int ta, const ds_model *b, int tb)
{
    const float *x = ds_model_tensor_data(a, ta), *y = ds_model_tensor_data(b, tb);
    int da[4], db[4];
    dims4(&a->tensors[ta], da);
    dims4(&b->tensors[tb], db);
    int u[4];
    for (int i = 0; i < 4; i++) u[i] = da[i] > db[i] ? da[i] : db[i];
    double s = 0.0;
    for (int i0 = 0; i0 < u[0]; i0++)
        for (int i1 = 0; i1 < u[1]; i1++)
            for (int i2 = 0; i2 < u[2]; i2++) {
                int ina = i0 < da[0] && i1 < da[1] && i2 < da[2];
                int inb = i0 < db[0] && i1 < db[1] && i2 < db[2];
                /* rows x[i0, i1, i2, :] and y[i0, i1, i2, :] */
                const float *xr = ina ? x + (((size_t)i0 * da[1] + i1) * da[2] + i2) * da[3] : NULL;
                const float *yr = inb ? y + (((size_t)i0 * db[1] + i1) * db[2] + i2) * db[3] : NULL;
                int na = ina ? da[3] : 0, nb = inb ? db[3] : 0;
                int both = na < nb ? na : nb;
                for (int j = 0; j < both; j++) {
                    double d = (double)xr[j] - yr[j];
                    s += d * d;
                }
                if (na > both) s += sumsq(xr + both, (size_t)(na - both));
                if (nb > both) s += sumsq(yr + both, (size_t)(nb - both));
            }
    return s;
}

double ds_model_param_distance(const ds_model *a, const ds_model *b)
{
    double s = 0.0;
    for (int tb = 0; tb < b->ntensors; tb++) {
        const ds_tensor *t = &b->tensors[tb];
        if (!t->trainable) continue;
        int ta = ds_model_find_tensor(a, t->name);
        if (ta >= 0 && a->tensors[ta].trainable && a->tensors[ta].ndim == t->ndim)
            s += tensor_sq(a, ta, b, tb);
        else
            s += sumsq(ds_model_tensor_data(b, tb), t->size);
    }
    for (int ta = 0; ta < a->ntensors; ta++) {
        const ds_tensor *t = &a->tensors[ta];
        if (!t->trainable) continue;
        int tb = ds_model_find_tensor(b, t->name);
        if (!(tb >= 0 && b->tensors[tb].trainable && b->tensors[tb].ndim == t->ndim))
            s += sumsq(ds_model_tensor_data(a, ta), t->size);
    }
    return sqrt(s);
}
