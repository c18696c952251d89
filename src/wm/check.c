/* check.c - the owner's check of a key on a model, one call for both schemes
 * (what `deepsigns verify`, `deepsigns attack --key` and the sweep's cells
 * report), and the commitment a claim's key must match.
 */
#include "deepsigns/wm.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "deepsigns/model_file.h"

ds_status ds_wm_check_run(ds_model *m, const ds_wm_key *k, double alpha, ds_wm_check *out,
                          ds_err *err)
{
    if (!out) return ds_err_set(err, DS_EINVAL, "ds_wm_check_run: no result");
    memset(out, 0, sizeof *out);
    if (!m || !k) return ds_err_set(err, DS_EINVAL, "ds_wm_check_run: no model or no key");
    const double committed = ds_wm_key_alpha(k);
    if (alpha == 0) alpha = committed;
    if (!(alpha > 0 && alpha < 1))
        return ds_err_set(err, DS_ERANGE, "claim level alpha %g is out of range (0, 1)", alpha);
    if (alpha > committed)
        return ds_err_set(err, DS_ERANGE,
                          "alpha %g is looser than the claim level %g committed in the key "
                          "(a check may be stricter, never looser)", alpha, committed);
    out->scheme = k->scheme;
    out->alpha = alpha;
    ds_status st;
    if (k->scheme == DS_WM_WHITEBOX) {
        st = ds_wb_extract(m, k, &out->wb, err);
        out->p_value = out->wb.p_value;
        out->owned = st == DS_OK && out->wb.p_value < alpha;
    } else {
        ds_wm_key strict = *k;  /* shares k's arrays; only the threshold's level differs */
        strict.bb.alpha = alpha;
        st = ds_bb_detect(m, &strict, &out->bb, err);
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

ds_status ds_key_check_commitment(const char *model_path, const ds_wm_key *k, const char *given,
                                  ds_claim_basis *basis, ds_err *err)
{
    char mine[DS_COMMIT_HEX], stored[DS_COMMIT_HEX + 64] = "", attr[64];
    ds_status st = ds_key_commitment(k, mine, err);
    if (st) return st;
    if (given) {
        /* the published commitment alone decides: the suspect file is never asked */
        if (strcasecmp(given, mine))
            return ds_err_set(err, DS_EKEY,
                              "the key's commitment %s matches no commitment: not the one given "
                              "with --commitment (%s); refusing the claim (a key must be committed "
                              "to before the dispute)", mine, given);
        *basis = DS_CLAIM_PUBLISHED;
        return DS_OK;
    }
    int found = 0;
    snprintf(attr, sizeof attr, "commitment_%s", ds_wm_scheme_name(k->scheme));
    if (model_path &&
        (st = ds_model_file_get_attr_string(model_path, attr, stored, sizeof stored, &found, err)))
        return st;
    if (found && !strcmp(stored, mine)) {
        *basis = DS_CLAIM_UNPUBLISHED;
        return DS_OK;
    }
    return ds_err_set(err, DS_EKEY,
                      "the key's commitment %s matches no commitment: %s and none was given with "
                      "--commitment; refusing the claim (give the one you published before the "
                      "dispute with --commitment)", mine,
                      found ? "not the one stored in the model" : "none is stored in the model");
}
