/* cache.h - private: the image cache of a sweep worker (and of the
 * coordinator when it runs the cells alone).
 *
 * A worker keeps the last DS_CACHE_SLOTS model and key images it read or
 * made, by (cell, kind), and at most `budget` bytes of them (sweep --cache-mb),
 * evicting the least recently used; the most recently used image is never
 * evicted (a cell's model stays while its key is read), so one image larger
 * than the budget is still held. An image not held is read from the blob
 * store, so the cache only saves reads: nobody else needs to know what it holds.
 */
#ifndef DEEPSIGNS_EXP_CACHE_H
#define DEEPSIGNS_EXP_CACHE_H

#include <stddef.h>

enum { DS_CACHE_SLOTS = 16 };

typedef struct ds_cache_slot {
    int cell;       /* -1: empty */
    int kind;       /* DS_IMAGE_MODEL or DS_IMAGE_KEY (exp/proto.h) */
    long used;      /* last use (a counter) */
    void *data;     /* the image */
    size_t len;
} ds_cache_slot;

typedef struct ds_cache {
    ds_cache_slot slot[DS_CACHE_SLOTS];
    long clock;
    size_t budget, bytes;  /* the most bytes to hold (0: no limit), the bytes held */
} ds_cache;

/* Every slot empty; hold at most budget bytes (0: only the slot count limits). */
void ds_cache_init(ds_cache *c, size_t budget);
/* Free the images held and empty the cache; accepts NULL. */
void ds_cache_free(ds_cache *c);
/* The slot holding (cell, kind), touched (now the most recently used); NULL if absent. */
ds_cache_slot *ds_cache_get(ds_cache *c, int cell, int kind);
/* Insert (cell, kind) with data[len] (taken) in the least recently used slot, after evicting (and freeing) the
 * least recently used images until it fits the budget. Returns the slot. */
ds_cache_slot *ds_cache_put(ds_cache *c, int cell, int kind, void *data, size_t len);

#endif
