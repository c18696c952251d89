/* split.c - disjoint train / validation / attacker / key-pool index sets.
 *
 * One permutation of 0..n-1 from the seed's "SPLIT" stream is cut into
 * val | attacker | keypool | train; each part is then sorted ascending, so the
 * order samples are visited in is left to the trainer's own shuffle.
 */
#include "deepsigns/data.h"

#include <stdlib.h>
#include <string.h>

#define SPLIT_STREAM 0x53504c4954ull /* "SPLIT" */

static int cmp_u32(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return (x > y) - (x < y);
}

/* *part = sorted copy of src[0..count); NULL when count is 0. */
static ds_status take_sorted(const uint32_t *src, size_t count, uint32_t **part, const char *name,
                             ds_err *err)
{
    *part = NULL;
    if (count == 0) return DS_OK;
    *part = malloc(count * sizeof **part);
    if (!*part)
        return ds_err_set(err, DS_ENOMEM, "ds_split_make: out of memory for %zu %s indices",
                          count, name);
    memcpy(*part, src, count * sizeof **part);
    qsort(*part, count, sizeof **part, cmp_u32);
    return DS_OK;
}

ds_status ds_split_make(size_t n, uint64_t seed, size_t n_val, size_t n_attacker,
                        size_t n_keypool, ds_split *out, ds_err *err)
{
    if (!out) return ds_err_set(err, DS_EINVAL, "ds_split_make: out is NULL");
    memset(out, 0, sizeof *out);
    if (n > UINT32_MAX)
        return ds_err_set(err, DS_EINVAL, "ds_split_make: %zu samples exceed 32-bit indices", n);
    if (n_val >= n || n_attacker >= n - n_val || n_keypool >= n - n_val - n_attacker)
        return ds_err_set(err, DS_EINVAL,
                          "ds_split_make: val %zu + attacker %zu + keypool %zu leave no training "
                          "samples out of %zu", n_val, n_attacker, n_keypool, n);
    uint32_t *perm = malloc(n * sizeof *perm);
    if (!perm)
        return ds_err_set(err, DS_ENOMEM, "ds_split_make: out of memory for %zu indices", n);
    for (size_t i = 0; i < n; i++) perm[i] = (uint32_t)i;
    ds_rng r;
    ds_rng_init(&r, seed, SPLIT_STREAM);
    ds_rng_shuffle(&r, perm, n);

    size_t off_att = n_val, off_key = off_att + n_attacker, off_train = off_key + n_keypool;
    ds_split s = {.n_val = n_val, .n_attacker = n_attacker, .n_keypool = n_keypool,
                  .n_train = n - off_train};
    ds_status st = take_sorted(perm, n_val, &s.val, "validation", err);
    if (!st) st = take_sorted(perm + off_att, n_attacker, &s.attacker, "attacker", err);
    if (!st) st = take_sorted(perm + off_key, n_keypool, &s.keypool, "key-pool", err);
    if (!st) st = take_sorted(perm + off_train, s.n_train, &s.train, "training", err);
    free(perm);
    if (st) {
        ds_split_free(&s);
        return st;
    }
    *out = s;
    return DS_OK;
}

ds_status ds_split_make_default(size_t n, uint64_t seed, ds_split *out, ds_err *err)
{
    return ds_split_make(n, seed, n / 12, n / 6, n / 12, out, err);
}

void ds_split_free(ds_split *s)
{
    if (!s) return;
    free(s->train);
    free(s->val);
    free(s->attacker);
    free(s->keypool);
    memset(s, 0, sizeof *s);
}

uint32_t *ds_split_owner(const ds_split *s, size_t *n)
{
    *n = s->n_train + s->n_attacker + s->n_keypool;
    uint32_t *idx = malloc(sizeof *idx * (*n ? *n : 1));
    if (!idx) return NULL;
    memcpy(idx, s->train, sizeof *idx * s->n_train);
    memcpy(idx + s->n_train, s->attacker, sizeof *idx * s->n_attacker);
    memcpy(idx + s->n_train + s->n_attacker, s->keypool, sizeof *idx * s->n_keypool);
    qsort(idx, *n, sizeof *idx, cmp_u32);
    return idx;
}
