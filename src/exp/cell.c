/* cell.c - run one cell of a plan: train, embed, attack or null check. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "deepsigns/attack.h"
#include "deepsigns/model_file.h"
#include "deepsigns/progress.h"
#include "deepsigns/sweep.h"
#include "deepsigns/train.h"
#include "deepsigns/wm.h"

enum { EVAL_BATCH = 0 /* ds_infer_batch */ };

/* Everything a cell holds while it runs; freed in one place. */
typedef struct cell_state {
    ds_model *m;
    ds_wm_key key;
    ds_split split;
    uint32_t *owner;
    size_t n_owner;
} cell_state;

static void state_free(cell_state *s)
{
    ds_model_free(s->m);
    ds_wm_key_free(&s->key);
    ds_split_free(&s->split);
    free(s->owner);
}

/* The owner's split of a replicate: seeded by the replicate seed. */
static ds_status make_split(const ds_cell *c, const ds_dataset *train, cell_state *s, ds_err *err)
{
    ds_status st = ds_split_make_default(train->n, c->rep_seed, &s->split, err);
    if (st) return st;
    if (!(s->owner = ds_split_owner(&s->split, &s->n_owner)))
        return ds_err_set(err, DS_ENOMEM, "out of memory for the training indices");
    return DS_OK;
}

static ds_status run_train(const ds_spec *spec, const ds_cell *c, const ds_dataset *train,
                           const ds_dataset *test, cell_state *s, ds_result_row *row, ds_err *err)
{
    /* an architecture is trained; a model file is the base model as it is, and
     * its null models are its architecture trained from the cell's seed, with
     * the file's preprocessing */
    if (!(s->m = ds_spec_model(spec, train, err))) return err->code;
    const int file = spec->model_file[0] != '\0';
    if (!file || c->is_null_model) ds_model_init_params(s->m, c->seed);
    if (!file) s->m->meta.preproc = train->c == 3 ? ds_preproc_default(train) : ds_preproc_fit(train, NULL, 0);
    snprintf(s->m->meta.dataset, sizeof s->m->meta.dataset, "%.255s", spec->data_dir);
    ds_status st = make_split(c, train, s, err);
    if (st) return st;
    if (file && !c->is_null_model)
        return ds_evaluate(s->m, test, NULL, test->n, EVAL_BATCH, &row->acc_after, NULL, err);
    ds_train_cfg cfg;
    memset(&cfg, 0, sizeof cfg);
    cfg.epochs = spec->train.epochs;
    cfg.batch = spec->train.batch;
    cfg.opt = spec->train.opt;
    cfg.seed = c->seed;
    if ((st = ds_train(s->m, train, s->owner, s->n_owner, &cfg, NULL, NULL, err))) return st;
    return ds_evaluate(s->m, test, NULL, test->n, EVAL_BATCH, &row->acc_after, NULL, err);
}

static ds_status run_embed(const ds_spec *spec, const ds_cell *c, const ds_dataset *train,
                           cell_state *s, ds_err *err)
{
    ds_status st = make_split(c, train, s, err);
    if (st) return st;
    if (c->scheme == DS_WM_WHITEBOX) {
        ds_wb_opts o = ds_wb_defaults();
        o.N = c->size;
        o.s = spec->wb.targets;
        o.lambda1 = spec->wb.lambda1;
        o.lambda2 = spec->wb.lambda;
        o.layer = spec->wb.layer[0] ? spec->wb.layer : NULL;
        o.keys_per_class = spec->wb.keys_per_class;
        o.seed = c->seed;
        if ((st = ds_wb_keygen(s->m, train, s->split.keypool, s->split.n_keypool, &o, &s->key, err)))
            return st;
        ds_train_cfg cfg;
        memset(&cfg, 0, sizeof cfg);
        cfg.epochs = spec->wb.epochs;
        cfg.batch = spec->train.batch;
        cfg.opt = ds_optim_defaults(DS_OPT_SGD);
        cfg.opt.lr = spec->wb.lr;
        cfg.opt.sched = DS_SCHED_CONST;
        cfg.seed = c->seed;
        st = ds_wb_embed(s->m, &s->key, train, s->owner, s->n_owner, &cfg, 0, NULL, err);
    } else {
        ds_bb_opts o = ds_bb_defaults();
        o.K = c->size;
        o.alpha = spec->bb.alpha;
        o.epochs = spec->bb.epochs;
        o.lr = spec->bb.lr;
        o.batch = spec->train.batch;
        o.seed = c->seed;
        st = ds_bb_embed(s->m, train, s->owner, s->n_owner, &o, &s->key, err);
    }
    return st;
}

/* The owner's check of key k on model m, into the row's metric columns. */
static ds_status check_key(ds_model *m, const ds_wm_key *k, ds_result_row *row, ds_err *err)
{
    ds_wm_check c;
    ds_status st = ds_wm_check_run(m, k, 0, &c, err);  /* the key's committed level */
    if (st == DS_OK && k->scheme == DS_WM_WHITEBOX) {
        row->ber = c.wb.ber;
        row->ber_p = c.wb.p_value;
        row->bit_errors = c.wb.errors;
        row->bits = c.wb.total;
        row->ber_unaligned = c.wb.raw_checkable ? c.wb.raw_ber : NAN;
        row->aligned = (int8_t)c.wb.aligned;
        row->align_corr = c.wb.align_tried ? c.wb.align.corr_mean : NAN;
    } else if (st == DS_OK) {
        row->mismatches = c.bb.mismatches;
        row->keys = c.bb.K;
        row->theta = c.bb.theta;
        row->bb_p = c.bb.p_value;
    }
    if (st == DS_OK) row->owned = c.owned;
    ds_wm_check_free(&c);
    return st;
}

static ds_status run_attack(const ds_cell *c, const ds_dataset *train, const ds_dataset *test,
                            cell_state *s, ds_result_row *row, ds_err *err)
{
    ds_status st = make_split(c, train, s, err);
    if (st) return st;
    ds_attack_cfg cfg = c->attack;
    cfg.seed = c->seed;
    cfg.progress = 0;
    ds_attack_data d = {.train = train, .pool = s->split.attacker, .npool = s->split.n_attacker,
                        .test = test};
    ds_attack_report rep;
    if ((st = ds_attack_run(&s->m, &cfg, &d, &rep, err))) return st;
    row->acc_before = rep.acc_before;
    row->acc_after = rep.acc_after;
    row->realised = rep.realised;
    row->delta_l2 = rep.delta_l2;
    return DS_OK;
}

static void set_failed(ds_result_row *row, const char *what, const ds_err *err)
{
    snprintf(row->status, sizeof row->status, "failed");
    snprintf(row->reason, sizeof row->reason, "%.40s%.119s", what, err->msg[0] ? err->msg : "unknown error");
}

void ds_cell_row_describe(const ds_spec *spec, const ds_plan *plan, int i, ds_result_row *row)
{
    const ds_cell *c = &plan->cells[i];
    ds_result_row_init(row);
    snprintf(row->id, sizeof row->id, "%s", c->id);
    snprintf(row->config, sizeof row->config, "%s", c->config);
    if (c->parent >= 0) snprintf(row->parent, sizeof row->parent, "%s", plan->cells[c->parent].id);
    if (c->key_cell >= 0) snprintf(row->key_id, sizeof row->key_id, "%s", plan->cells[c->key_cell].id);
    snprintf(row->kind, sizeof row->kind, "%s", ds_cell_kind_name(c->kind));
    snprintf(row->benchmark, sizeof row->benchmark, "%.15s", spec->arch.name);
    if (c->kind != DS_CELL_TRAIN) snprintf(row->scheme, sizeof row->scheme, "%s", ds_wm_scheme_name(c->scheme));
    if (c->kind == DS_CELL_ATTACK) snprintf(row->attack, sizeof row->attack, "%s", ds_attack_kind_name(c->attack.kind));
    snprintf(row->variant, sizeof row->variant, "%s", c->variant);
    row->strength = c->kind == DS_CELL_TRAIN ? NAN : c->strength;
    row->seed = (c->kind == DS_CELL_TRAIN || c->kind == DS_CELL_NULL ? c->model_seed : c->rep_seed);
}

ds_status ds_cell_run(const ds_spec *spec, const ds_plan *plan, int i, const ds_dataset *train,
                      const ds_dataset *test, ds_cell_io *io, ds_result_row *row, ds_err *err)
{
    if (i < 0 || i >= plan->n) return ds_err_set(err, DS_ERANGE, "cell %d is not in the plan", i);
    const ds_cell *c = &plan->cells[i];
    ds_cell_row_describe(spec, plan, i, row);
    snprintf(row->status, sizeof row->status, "done");
    io->out_model = io->out_key = NULL;
    io->out_model_len = io->out_key_len = 0;

    const double t0 = ds_now();
    cell_state s;
    memset(&s, 0, sizeof s);
    ds_err e = {0};
    ds_status st = DS_OK;
    if (c->kind != DS_CELL_TRAIN) {
        if (!io->model || !(s.m = ds_model_load_image(io->model, io->model_len, "parent model", &e))) {
            if (!io->model) ds_err_set(&e, DS_EINVAL, "the parent model is missing");
            set_failed(row, "", &e);
            goto done;
        }
        row->acc_before = s.m->meta.test_accuracy;
    }
    if (c->key_cell >= 0 &&
        (!io->key || ds_key_load_image(io->key, io->key_len, "owner key", &s.key, &e))) {
        if (!io->key) ds_err_set(&e, DS_EINVAL, "the owner's key is missing");
        set_failed(row, "", &e);
        goto done;
    }
    switch (c->kind) {
    case DS_CELL_TRAIN: st = run_train(spec, c, train, test, &s, row, &e); break;
    case DS_CELL_EMBED: st = run_embed(spec, c, train, &s, &e); break;
    case DS_CELL_ATTACK: st = run_attack(c, train, test, &s, row, &e); break;
    case DS_CELL_NULL: st = DS_OK; row->acc_after = row->acc_before; break;
    }
    if (st) {
        set_failed(row, "", &e);
        goto done;
    }
    if (c->kind == DS_CELL_EMBED &&
        ((st = ds_evaluate(s.m, test, NULL, test->n, EVAL_BATCH, &row->acc_after, NULL, &e)) ||
         (st = check_key(s.m, &s.key, row, &e)))) {
        set_failed(row, "", &e);
        goto done;
    }
    if ((c->kind == DS_CELL_ATTACK || c->kind == DS_CELL_NULL) && check_key(s.m, &s.key, row, &e)) {
        /* the attacked model no longer admits the owner's check (e.g. a widened
         * layer): the claim cannot be shown */
        row->owned = 0;
        snprintf(row->reason, sizeof row->reason, "check failed: %.140s", e.msg);
    }
    if (c->kind == DS_CELL_EMBED && (st = ds_key_commitment(&s.key, row->commitment, &e))) {
        set_failed(row, "the key's commitment: ", &e);
        goto done;
    }
    if (c->kind == DS_CELL_TRAIN || c->kind == DS_CELL_EMBED) {
        s.m->meta.test_accuracy = row->acc_after;
        if ((st = ds_model_save_image(s.m, &io->out_model, &io->out_model_len, &e))) {
            set_failed(row, "saving the model: ", &e);
            goto done;
        }
    }
    if (c->kind == DS_CELL_EMBED) { /* the marked model names its key, as embed's does */
        char attr[32];
        snprintf(attr, sizeof attr, "commitment_%s", ds_wm_scheme_name(c->scheme));
        if ((st = ds_model_image_set_attr_string(&io->out_model, &io->out_model_len, attr,
                                                 row->commitment, &e))) {
            free(io->out_model);
            io->out_model = NULL;
            io->out_model_len = 0;
            set_failed(row, "saving the model: ", &e);
            goto done;
        }
    }
    if (c->kind == DS_CELL_EMBED &&
        (st = ds_key_save_image(&s.key, &io->out_key, &io->out_key_len, &e))) {
        free(io->out_model);
        io->out_model = NULL;
        io->out_model_len = 0;
        set_failed(row, "saving the key: ", &e);
    }
done:
    if (strcmp(row->status, "done")) { /* a failed cell reports no metric */
        row->commitment[0] = '\0';
        row->acc_after = NAN;
        row->owned = -1;
    }
    row->seconds = ds_now() - t0;
    state_free(&s);
    (void)err;
    return DS_OK;
}
