/* cache.c - the workers' image cache and the coordinator's mirror of it (see cache.h). */
#include "exp/cache.h"

#include <stdlib.h>
#include <string.h>

void ds_cache_init(ds_cache *c, size_t budget)
{
    memset(c, 0, sizeof *c);
    c->budget = budget;
    for (int i = 0; i < DS_CACHE_SLOTS; i++) c->slot[i].cell = -1;
}

void ds_cache_free(ds_cache *c)
{
    if (!c) return;
    for (int i = 0; i < DS_CACHE_SLOTS; i++) free(c->slot[i].data);
    ds_cache_init(c, c->budget);
}

static void slot_empty(ds_cache *c, ds_cache_slot *s)
{
    free(s->data);
    c->bytes -= s->len;
    *s = (ds_cache_slot){.cell = -1};
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

/* The least recently used occupied slot other than the most recently used one; -1 if none. */
static int lru_victim(const ds_cache *c)
{
    int v = -1, mru = -1;
    for (int i = 0; i < DS_CACHE_SLOTS; i++)
        if (c->slot[i].cell >= 0 && (mru < 0 || c->slot[i].used > c->slot[mru].used)) mru = i;
    for (int i = 0; i < DS_CACHE_SLOTS; i++)
        if (c->slot[i].cell >= 0 && i != mru && (v < 0 || c->slot[i].used < c->slot[v].used)) v = i;
    return v;
}

ds_cache_slot *ds_cache_put(ds_cache *c, int cell, int kind, void *data, size_t len)
{
    for (int v; c->budget && c->bytes + len > c->budget && (v = lru_victim(c)) >= 0;)
        slot_empty(c, &c->slot[v]);
    int victim = 0; /* an empty slot, else the least recently used */
    for (int i = 1; i < DS_CACHE_SLOTS; i++) {
        const ds_cache_slot *a = &c->slot[i], *b = &c->slot[victim];
        if (b->cell >= 0 && (a->cell < 0 || a->used < b->used)) victim = i;
    }
    ds_cache_slot *s = &c->slot[victim];
    if (s->cell >= 0) slot_empty(c, s);
    *s = (ds_cache_slot){.cell = cell, .kind = kind, .used = ++c->clock, .data = data, .len = len};
    c->bytes += len;
    return s;
}
