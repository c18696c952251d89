/* check.c - the owner's check of a key on a model, one call for both schemes:
 * what `deepsigns verify`, `deepsigns attack --key` and the sweep's cells report.
 */
#include "deepsigns/wm.h"

#include <string.h>

ds_status ds_wm_check_run(ds_model *m, const ds_wm_key *k, double wb_alpha, ds_wm_check *out,
                          ds_err *err)
{
    if (!out) return ds_err_set(err, DS_EINVAL, "ds_wm_check_run: no result");
    memset(out, 0, sizeof *out);
    if (!m || !k) return ds_err_set(err, DS_EINVAL, "ds_wm_check_run: no model or no key");
    if (!(wb_alpha > 0 && wb_alpha < 1))
        return ds_err_set(err, DS_ERANGE, "white-box alpha %g is out of range (0, 1)", wb_alpha);
    out->scheme = k->scheme;
    ds_status st;
    if (k->scheme == DS_WM_WHITEBOX) {
        st = ds_wb_extract(m, k, &out->wb, err);
        out->p_value = out->wb.p_value;
        out->owned = st == DS_OK && out->wb.p_value < wb_alpha;
    } else {
        st = ds_bb_detect(m, k, &out->bb, err);
        out->p_value = out->bb.p_value;
        out->owned = st == DS_OK && out->bb.owned;
    }
    return st;
}

void ds_wm_check_free(ds_wm_check *c)
{
    if (!c) return;
    ds_wb_result_free(&c->wb);
    memset(c, 0, sizeof *c);
}
