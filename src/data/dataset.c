/* dataset.c - lifetime of a ds_dataset (the loaders live in idx.c and cifar.c). */
#include "deepsigns/data.h"

#include <stdlib.h>
#include <string.h>

void ds_dataset_free(ds_dataset *d)
{
    if (!d) return;
    if (d->owns) {
        free(d->x);
        free(d->y);
    }
    memset(d, 0, sizeof *d);
}
