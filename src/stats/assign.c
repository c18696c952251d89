/* assign.c - the linear assignment problem (ds_assign_max), for realigning a
 * suspect layer's units to a key's reference (src/wm/align.c).
 *
 * Shortest augmenting paths with row and column potentials (the Hungarian
 * method as Jonker and Volgenant phrase it): rows are added one at a time; for
 * each, Dijkstra over the reduced costs finds the cheapest alternating path to
 * a free column, the potentials absorb the path's length and the path is
 * flipped. Costs are -score, rows the smaller side.
 */
#include "deepsigns/stats.h"

#include <float.h>
#include <math.h>
#include <stdlib.h>

/* Minimise sum cost[r][c] over rows r < n of cost[n, m] (element (r, c) at
 * cost[r * rs + c * cs]), n <= m; row_col[n]. All arrays 1-based inside, as
 * the method is usually written: column 0 is the virtual start. */
static ds_status assign_min(const double *cost, size_t rs, size_t cs, int n, int m, int *row_col,
                            ds_err *err)
{
    double *u = calloc((size_t)n + 1, sizeof *u), *v = calloc((size_t)m + 1, sizeof *v);
    double *minv = malloc(sizeof *minv * ((size_t)m + 1));
    int *col_row = calloc((size_t)m + 1, sizeof *col_row);  /* 0: free */
    int *way = malloc(sizeof *way * ((size_t)m + 1));
    unsigned char *used = malloc((size_t)m + 1);
    ds_status st = DS_OK;
    if (!u || !v || !minv || !col_row || !way || !used) {
        st = ds_err_set(err, DS_ENOMEM, "out of memory for a %d x %d assignment", n, m);
        goto done;
    }
    for (int i = 1; i <= n; i++) {
        col_row[0] = i;
        int j0 = 0;
        for (int j = 0; j <= m; j++) {
            minv[j] = DBL_MAX;
            used[j] = 0;
        }
        do { /* grow the shortest-path tree until a free column is reached */
            used[j0] = 1;
            const int i0 = col_row[j0];
            double delta = DBL_MAX;
            int j1 = 0;
            for (int j = 1; j <= m; j++) {
                if (used[j]) continue;
                const double c = cost[(size_t)(i0 - 1) * rs + (size_t)(j - 1) * cs] - u[i0] - v[j];
                if (c < minv[j]) {
                    minv[j] = c;
                    way[j] = j0;
                }
                if (minv[j] < delta) {
                    delta = minv[j];
                    j1 = j;
                }
            }
            for (int j = 0; j <= m; j++) {
                if (used[j]) {
                    u[col_row[j]] += delta;
                    v[j] -= delta;
                } else {
                    minv[j] -= delta;
                }
            }
            j0 = j1;
        } while (col_row[j0] != 0);
        do { /* flip the path */
            const int j1 = way[j0];
            col_row[j0] = col_row[j1];
            j0 = j1;
        } while (j0);
    }
    for (int j = 1; j <= m; j++)
        if (col_row[j]) row_col[col_row[j] - 1] = j - 1;
done:
    free(u); free(v); free(minv); free(col_row); free(way); free(used);
    return st;
}

ds_status ds_assign_max(const double *score, int n, int m, int *row_col, ds_err *err)
{
    if (n < 0 || m < 0 || (n && m && !score) || (n && !row_col))
        return ds_err_set(err, DS_EINVAL, "ds_assign_max: bad arguments");
    for (int i = 0; i < n; i++) row_col[i] = -1;
    if (!n || !m) return DS_OK;
    const size_t nm = (size_t)n * (size_t)m;
    double *cost = malloc(sizeof *cost * nm);
    if (!cost) return ds_err_set(err, DS_ENOMEM, "out of memory for a %d x %d assignment", n, m);
    for (size_t i = 0; i < nm; i++) {
        if (!isfinite(score[i])) {
            free(cost);
            return ds_err_set(err, DS_EINVAL, "ds_assign_max: score %zu is not finite", i);
        }
        cost[i] = -score[i];
    }
    ds_status st;
    if (n <= m) {
        st = assign_min(cost, (size_t)m, 1, n, m, row_col, err);
    } else { /* columns as rows: the transpose, read in place */
        int *col_row = malloc(sizeof *col_row * (size_t)m);
        st = col_row ? assign_min(cost, 1, (size_t)m, m, n, col_row, err)
                     : ds_err_set(err, DS_ENOMEM, "out of memory for a %d x %d assignment", n, m);
        for (int j = 0; !st && j < m; j++) row_col[col_row[j]] = j;
        free(col_row);
    }
    free(cost);
    return st;
}
