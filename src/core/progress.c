/* progress.c - terminal bar or periodic log line on stderr. */
#include "deepsigns/progress.h"

#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

enum { BAR_WIDTH = 30 };
#define LOG_EVERY_S 5.0
#define TTY_EVERY_S 0.1

double ds_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

void ds_progress_start(ds_progress *p, const char *label, size_t total, int enabled)
{
    memset(p, 0, sizeof *p);
    snprintf(p->label, sizeof p->label, "%s", label);
    p->total = total ? total : 1;
    p->enabled = enabled;
    p->tty = isatty(STDERR_FILENO);
    p->t0 = p->last = ds_now();
}

static void progress_print(ds_progress *p, size_t done, const char *extra, int final)
{
    double el = ds_now() - p->t0;
    double frac = (double)done / p->total;
    double eta = done ? el * (p->total - done) / done : 0.0;
    if (p->tty) {
        char bar[BAR_WIDTH + 1];
        int fill = (int)(frac * BAR_WIDTH);
        for (int i = 0; i < BAR_WIDTH; i++) bar[i] = i < fill ? '#' : '.';
        bar[BAR_WIDTH] = '\0';
        fprintf(stderr, "\r%s [%s] %3.0f%% %.0fs eta %.0fs %s\033[K%s", p->label, bar, 100 * frac,
                el, eta, extra ? extra : "", final ? "\n" : "");
    } else {
        fprintf(stderr, "%s: %zu/%zu (%.0f%%) %.1fs elapsed, eta %.0fs %s\n", p->label, done,
                p->total, 100 * frac, el, eta, extra ? extra : "");
    }
    fflush(stderr);
}

void ds_progress_update(ds_progress *p, size_t done, const char *extra)
{
    if (!p->enabled) return;
    double now = ds_now();
    if (now - p->last < (p->tty ? TTY_EVERY_S : LOG_EVERY_S)) return;
    p->last = now;
    progress_print(p, done, extra, 0);
}

void ds_progress_finish(ds_progress *p, const char *extra)
{
    if (p->enabled) progress_print(p, p->total, extra, 1);
}
