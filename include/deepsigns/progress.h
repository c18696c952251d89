/* progress.h - progress of long work on stderr: a bar on a terminal, a plain
 * line every few seconds otherwise (batch logs). Wall time is read for display
 * only; it never feeds a computation. */
#ifndef DEEPSIGNS_PROGRESS_H
#define DEEPSIGNS_PROGRESS_H

#include <stddef.h>

typedef struct ds_progress {
    char label[64];
    size_t total;
    int enabled, tty;
    double t0, last;
} ds_progress;

/* Monotonic seconds. */
double ds_now(void);
void ds_progress_start(ds_progress *p, const char *label, size_t total, int enabled);
/* done of total; extra is a short suffix such as "loss 0.412" (may be NULL). */
void ds_progress_update(ds_progress *p, size_t done, const char *extra);
void ds_progress_finish(ds_progress *p, const char *extra);

#endif
