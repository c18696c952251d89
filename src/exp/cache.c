/* cache.c - the workers' image cache and the coordinator's mirror of it (see cache.h). */
#include "exp/cache.h"

#include <stdlib.h>
#include <string.h>

void ds_cache_init(ds_cache *c)
{
    memset(c, 0, sizeof *c);
    for (int i = 0; i < DS_CACHE_SLOTS; i++) c->slot[i].cell = -1;
}

void ds_cache_free(ds_cache *c)
{
    if (!c) return;
    for (int i = 0; i < DS_CACHE_SLOTS; i++) free(c->slot[i].data);
    ds_cache_init(c);
}

ds_cache_slot *ds_cache_get(ds_cache *c, int cell, int kind)
{
    for (int i = 0; i < DS_CACHE_SLOTS; i++)
        if (c->slot[i].cell == cell && c->slot[i].kind == kind) {
            c->slot[i].used = ++c->clock;
            return &c->slot[i];
        }
    return NULL;
}

ds_cache_slot *ds_cache_put(ds_cache *c, int cell, int kind, void *data, size_t len)
{
    int victim = 0;
    for (int i = 1; i < DS_CACHE_SLOTS; i++)
        if (c->slot[i].used < c->slot[victim].used) victim = i;
    ds_cache_slot *s = &c->slot[victim];
    free(s->data);
    *s = (ds_cache_slot){.cell = cell, .kind = kind, .used = ++c->clock, .data = data, .len = len};
    return s;
}
