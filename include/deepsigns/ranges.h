/* ranges.h - the ranges of the settings, one table (src/core/ranges.c) that the
 * spec reader (docs/spec.md), the command line and the library's own checks
 * (ds_arch_validate) all read, so a setting has one range wherever it is given.
 * The limits themselves are the constants of the headers that own them
 * (DS_EPOCHS_MAX, DS_LR_MAX, DS_ARCH_DEPTH_MAX, ...).
 */
#ifndef DEEPSIGNS_RANGES_H
#define DEEPSIGNS_RANGES_H

#include <stddef.h>

typedef struct ds_range {
    double lo, hi;           /* hi = HUGE_VAL: no upper bound */
    int lo_open, hi_open;    /* lo < x (else lo <= x); x < hi (else x <= hi) */
    int integer;             /* whole numbers only */
} ds_range;

typedef enum ds_setting {
    DS_RANGE_EPOCHS,         /* training epochs, masked fine-tuning after pruning: 0..DS_EPOCHS_MAX */
    DS_RANGE_EPOCHS_POS,     /* embedding epochs, overwrite epochs: 1..DS_EPOCHS_MAX */
    DS_RANGE_BATCH,          /* 1..DS_BATCH_MAX */
    DS_RANGE_LR,             /* (0, DS_LR_MAX] */
    DS_RANGE_MOMENTUM,       /* [0, DS_MOMENTUM_MAX) */
    DS_RANGE_WEIGHT_DECAY,   /* [0, 1] */
    DS_RANGE_STEP_EVERY,     /* step schedule period: 1..100000 */
    DS_RANGE_GAMMA,          /* step schedule factor: (0, 1] */
    DS_RANGE_HIDDEN,         /* mnist-mlp width: DS_ARCH_HIDDEN_MIN..MAX */
    DS_RANGE_DEPTH,          /* cifar10-wrn depth: DS_ARCH_DEPTH_MIN..MAX (and 6n+4) */
    DS_RANGE_WIDEN,          /* cifar10-wrn widen: DS_ARCH_WIDEN_MIN..MAX */
    DS_RANGE_DROPOUT,        /* [0, 1) */
    DS_RANGE_LIMIT,          /* images used, 0 = all: 0..10^9 */
    DS_RANGE_NULLS,          /* null models per seed: 0..1000 */
    DS_RANGE_WB_BITS,        /* white-box bits per target class: 1..4096 */
    DS_RANGE_TARGETS,        /* white-box target classes: 1..1000 */
    DS_RANGE_LAMBDA,         /* white-box loss weights: >= 0 */
    DS_RANGE_KEYS_PER_CLASS, /* white-box key images per class: 1..100000 */
    DS_RANGE_BB_KEYS,        /* black-box keys: 1..10000 */
    DS_RANGE_ALPHA,          /* black-box false-claim level: (0, 1) */
    DS_RANGE_DATA_FRACTION,  /* attacker's share of the pool: (0, 1] */
    DS_RANGE_NEURONS,        /* dummy neurons: 1..65536 */
    DS_RANGE_SPREAD,         /* scale spread: [0, DS_ATTACK_SCALE_MAX_SPREAD] */
    DS_RANGE_COUNT
} ds_setting;

/* The range of setting s (s < DS_RANGE_COUNT; NULL otherwise). */
const ds_range *ds_range_of(ds_setting s);
/* 1 if x lies in r (and is whole when r->integer). */
int ds_range_holds(const ds_range *r, double x);
/* r as the messages write it: "[0, 1)", "[1, 65536]" (integers), "(expected >= 0)"
 * when unbounded above. */
const char *ds_range_text(const ds_range *r, char *buf, size_t size);

#endif
