/* ranges.c - the ranges of the settings (ranges.h), one row each. */
#include "deepsigns/ranges.h"

#include <math.h>
#include <stdio.h>

#include "deepsigns/attack.h"
#include "deepsigns/model.h"
#include "deepsigns/optim.h"
#include "deepsigns/train.h"

#define INT_RANGE(lo, hi) {(lo), (hi), 0, 0, 1}

static const ds_range ranges[DS_RANGE_COUNT] = {
    [DS_RANGE_EPOCHS] = INT_RANGE(0, DS_EPOCHS_MAX),
    [DS_RANGE_EPOCHS_POS] = INT_RANGE(1, DS_EPOCHS_MAX),
    [DS_RANGE_BATCH] = INT_RANGE(1, DS_BATCH_MAX),
    [DS_RANGE_LR] = {0.0, DS_LR_MAX, 1, 0, 0},
    [DS_RANGE_MOMENTUM] = {0.0, DS_MOMENTUM_MAX, 0, 1, 0},
    [DS_RANGE_WEIGHT_DECAY] = {0.0, 1.0, 0, 0, 0},
    [DS_RANGE_STEP_EVERY] = INT_RANGE(1, 100000),
    [DS_RANGE_GAMMA] = {0.0, 1.0, 1, 0, 0},
    [DS_RANGE_HIDDEN] = INT_RANGE(DS_ARCH_HIDDEN_MIN, DS_ARCH_HIDDEN_MAX),
    [DS_RANGE_DEPTH] = INT_RANGE(DS_ARCH_DEPTH_MIN, DS_ARCH_DEPTH_MAX),
    [DS_RANGE_WIDEN] = INT_RANGE(DS_ARCH_WIDEN_MIN, DS_ARCH_WIDEN_MAX),
    [DS_RANGE_DROPOUT] = {0.0, 1.0, 0, 1, 0},
    [DS_RANGE_LIMIT] = INT_RANGE(0, 1000000000),
    [DS_RANGE_NULLS] = INT_RANGE(0, 1000),
    [DS_RANGE_WB_BITS] = INT_RANGE(1, 4096),
    [DS_RANGE_TARGETS] = INT_RANGE(1, 1000),
    [DS_RANGE_LAMBDA] = {0.0, HUGE_VAL, 0, 0, 0},
    [DS_RANGE_KEYS_PER_CLASS] = INT_RANGE(1, 100000),
    [DS_RANGE_BB_KEYS] = INT_RANGE(1, 10000),
    [DS_RANGE_ALPHA] = {0.0, 1.0, 1, 1, 0},
    [DS_RANGE_DATA_FRACTION] = {0.0, 1.0, 1, 0, 0},
    [DS_RANGE_NEURONS] = INT_RANGE(1, 65536),
    [DS_RANGE_SPREAD] = {0.0, DS_ATTACK_SCALE_MAX_SPREAD, 0, 0, 0},
};

const ds_range *ds_range_of(ds_setting s)
{
    return (unsigned)s < DS_RANGE_COUNT ? &ranges[s] : NULL;
}

int ds_range_holds(const ds_range *r, double x)
{
    if (!(x >= r->lo && x <= r->hi) || (r->lo_open && x == r->lo) || (r->hi_open && x == r->hi)) return 0;
    return !r->integer || x == floor(x);
}

const char *ds_range_text(const ds_range *r, char *buf, size_t size)
{
    if (r->integer)
        snprintf(buf, size, "[%.0f, %.0f]", r->lo, r->hi);
    else if (r->hi == HUGE_VAL)
        snprintf(buf, size, "(expected %s %g)", r->lo_open ? ">" : ">=", r->lo);
    else
        snprintf(buf, size, "%s%g, %g%s", r->lo_open ? "(" : "[", r->lo, r->hi, r->hi_open ? ")" : "]");
    return buf;
}
