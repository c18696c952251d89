/* kinds.c - the table of attack kinds (ds_attack_info in attack.h): names, the
 * variant and strength axes, and how each kind runs. A new kind is one entry
 * here and the attack's own file. */
#include <stdio.h>
#include <string.h>

#include "attack/kinds.h"
#include "deepsigns/attack.h"
#include "deepsigns/rng.h"
#include "deepsigns/train.h"

#define NELEMS(a) (sizeof(a) / sizeof((a)[0]))

static const char *const prune_scopes[] = {"layer", "global"};     /* ds_prune_scope */
static const char *const ft_modes[] = {"ftll", "ftal", "rtll", "rtal"}; /* ds_ft_mode */
static const char *const dummy_kinds[] = {"clique", "split"};      /* ds_dummy_kind */

static const char *const prune_extra[] = {"finetune_epochs", "bias", "bn", "lr", "opt", "batch",
                                          "data_fraction", "labels", NULL};
static const char *const finetune_extra[] = {"lr", "opt", "batch", "data_fraction", "labels", NULL};
static const char *const overwrite_extra[] = {"targets", "epochs", "lr", "opt", "batch",
                                              "data_fraction", "layer", NULL};
static const char *const layer_extra[] = {"layer", NULL};
static const char *const chain_extra[] = {"steps", "spread", "neurons", "dummy", "layer", "lr", "opt",
                                          "batch", "data_fraction", "labels", NULL};
static const char *const no_extra[] = {NULL};

/* ---- setting and reading the axes ---- */

static void set_prune(ds_attack_cfg *c, int v, double x, ds_wm_scheme s)
{
    (void)s;
    c->scope = (ds_prune_scope)v;
    c->rate = x;
}
static void get_prune(const ds_attack_cfg *c, ds_wm_scheme s, int *v, double *x)
{
    (void)s;
    *v = (int)c->scope;
    *x = c->rate;
}
static void set_finetune(ds_attack_cfg *c, int v, double x, ds_wm_scheme s)
{
    (void)s;
    c->mode = (ds_ft_mode)v;
    c->epochs = (int)x;
}
static void get_finetune(const ds_attack_cfg *c, ds_wm_scheme s, int *v, double *x)
{
    (void)s;
    *v = (int)c->mode;
    *x = c->epochs;
}
/* the attacker's own mark is of the scheme it attacks: bits against white-box, keys against black-box */
static void set_overwrite(ds_attack_cfg *c, int v, double x, ds_wm_scheme s)
{
    (void)v;
    c->scheme = s;
    if (s == DS_WM_WHITEBOX) c->bits = (int)x;
    else c->keys = (int)x;
}
static void get_overwrite(const ds_attack_cfg *c, ds_wm_scheme s, int *v, double *x)
{
    *v = 0;
    *x = s == DS_WM_WHITEBOX ? c->bits : c->keys;
}
static void set_quantize(ds_attack_cfg *c, int v, double x, ds_wm_scheme s)
{
    (void)v, (void)s;
    c->bits = (int)x;
}
static void get_quantize(const ds_attack_cfg *c, ds_wm_scheme s, int *v, double *x)
{
    (void)s;
    *v = 0;
    *x = c->bits;
}
static void set_noise(ds_attack_cfg *c, int v, double x, ds_wm_scheme s)
{
    (void)v, (void)s;
    c->sigma = x;
}
static void get_noise(const ds_attack_cfg *c, ds_wm_scheme s, int *v, double *x)
{
    (void)s;
    *v = 0;
    *x = c->sigma;
}
static void set_none(ds_attack_cfg *c, int v, double x, ds_wm_scheme s) { (void)c, (void)v, (void)x, (void)s; }
static void get_none(const ds_attack_cfg *c, ds_wm_scheme s, int *v, double *x)
{
    (void)c, (void)s;
    *v = 0;
    *x = 0.0;
}
static void set_dummy(ds_attack_cfg *c, int v, double x, ds_wm_scheme s)
{
    (void)s;
    c->dummy = (ds_dummy_kind)v;
    c->neurons = (int)x;
}
static void get_dummy(const ds_attack_cfg *c, ds_wm_scheme s, int *v, double *x)
{
    (void)s;
    *v = (int)c->dummy;
    *x = c->neurons;
}
static void set_scale(ds_attack_cfg *c, int v, double x, ds_wm_scheme s)
{
    (void)v, (void)s;
    c->spread = x;
}
static void get_scale(const ds_attack_cfg *c, ds_wm_scheme s, int *v, double *x)
{
    (void)s;
    *v = 0;
    *x = c->spread;
}

static void set_chain(ds_attack_cfg *c, int v, double x, ds_wm_scheme s)
{
    (void)v, (void)s;
    c->epochs = (int)x;
}
static void get_chain(const ds_attack_cfg *c, ds_wm_scheme s, int *v, double *x)
{
    (void)s;
    *v = 0;
    *x = c->epochs;
}

/* ---- the attacks that do not train ---- */

static void realised(ds_attack_report *rep, double v, const char *what)
{
    rep->realised = v;
    snprintf(rep->realised_what, sizeof rep->realised_what, "%s", what);
}

static ds_status run_quantize(ds_model **m, const ds_attack_cfg *c, const ds_attack_data *d,
                              ds_attack_report *rep, ds_err *err)
{
    (void)d;
    realised(rep, c->bits, "bits");
    return ds_attack_quantize(*m, c->bits, err);
}

static ds_status run_noise(ds_model **m, const ds_attack_cfg *c, const ds_attack_data *d,
                           ds_attack_report *rep, ds_err *err)
{
    (void)d;
    realised(rep, c->sigma, "sigma");
    return ds_attack_noise(*m, c->sigma, c->seed, err);
}

static ds_status run_permute(ds_model **m, const ds_attack_cfg *c, const ds_attack_data *d,
                             ds_attack_report *rep, ds_err *err)
{
    (void)d;
    int layers = 0;
    ds_status st = ds_attack_permute(*m, c->layer, c->seed, &layers, err);
    realised(rep, layers, "layers");
    return st;
}

static ds_status run_dummy(ds_model **m, const ds_attack_cfg *c, const ds_attack_data *d,
                           ds_attack_report *rep, ds_err *err)
{
    (void)d;
    ds_model *wide = ds_attack_dummy(*m, c->dummy, c->layer, c->neurons, c->seed, err);
    if (!wide) return err ? err->code : DS_EINVAL;
    int added = 0;
    for (int i = 0; i < DS_ARCH_MAX_EXTRA; i++) added += wide->arch.extra[i] - (*m)->arch.extra[i];
    realised(rep, added, "units added");
    ds_model_free(*m);
    *m = wide;
    return DS_OK;
}

static ds_status run_scale(ds_model **m, const ds_attack_cfg *c, const ds_attack_data *d,
                           ds_attack_report *rep, ds_err *err)
{
    (void)d;
    int layers = 0;
    ds_status st = ds_attack_scale(*m, c->layer, c->spread, c->seed, &layers, err);
    realised(rep, layers, "layers");
    return st;
}

int ds_attack_step_ok(ds_attack_kind k)
{
    return k == DS_ATTACK_PERMUTE || k == DS_ATTACK_SCALE || k == DS_ATTACK_DUMMY;
}

/* Each step with the chain's knobs and a seed of its own, then FTAL for epochs. */
static ds_status run_chain(ds_model **m, const ds_attack_cfg *c, const ds_attack_data *d,
                           ds_attack_report *rep, ds_err *err)
{
    if (c->nsteps < 1 || c->nsteps > DS_ATTACK_MAX_STEPS)
        return ds_err_set(err, DS_ERANGE, "chain: %d steps (1 to %d)", c->nsteps, DS_ATTACK_MAX_STEPS);
    ds_status st = DS_OK;
    for (int k = 0; k < c->nsteps && !st; k++) {
        const ds_attack_info *info = ds_attack_info_of(c->steps[k]);
        if (!info || !ds_attack_step_ok(c->steps[k]))
            return ds_err_set(err, DS_EINVAL, "chain: step %d (%s) is not permute, scale or dummy", k + 1,
                              ds_attack_kind_name(c->steps[k]));
        ds_attack_cfg step = *c;
        step.kind = c->steps[k];
        step.seed = ds_rng_mix(c->seed, (uint64_t)k + 1);
        ds_attack_report r = *rep;
        st = info->run(m, &step, d, &r, err);
        if (st) (void)ds_err_prefix(err, "chain step %d (%s): ", k + 1, info->name);
    }
    if (!st && c->epochs > 0) {
        ds_attack_cfg ft = *c;
        ft.kind = DS_ATTACK_FINETUNE;
        ft.mode = DS_FT_FTAL;
        st = ds_attack_run_finetune(m, &ft, d, rep, err);
    }
    realised(rep, c->nsteps, "steps");
    return st;
}

/* ---- the table, in display order ---- */

static const ds_attack_info kinds[] = {
    {DS_ATTACK_PRUNE, "prune", "scope", "pruning scope", prune_scopes, NELEMS(prune_scopes),
     {"rate", 0.0, 1.0, 0, 1, 1}, {NULL, 0, 0, 0, 0, 0}, prune_extra,
     set_prune, get_prune, ds_attack_run_prune},
    {DS_ATTACK_FINETUNE, "finetune", "mode", "fine-tuning mode", ft_modes, NELEMS(ft_modes),
     {"epochs", 0, 100000, 1, 0, 1}, {NULL, 0, 0, 0, 0, 0}, finetune_extra,
     set_finetune, get_finetune, ds_attack_run_finetune},
    {DS_ATTACK_OVERWRITE, "overwrite", NULL, NULL, NULL, 0,
     {"keys", 1, 10000, 1, 0, 0}, {"bits", 1, 4096, 1, 0, 0}, overwrite_extra,
     set_overwrite, get_overwrite, ds_attack_run_overwrite},
    {DS_ATTACK_QUANTIZE, "quantize", NULL, NULL, NULL, 0,
     {"bits", 1, 32, 1, 0, 0}, {NULL, 0, 0, 0, 0, 0}, no_extra,
     set_quantize, get_quantize, run_quantize},
    {DS_ATTACK_NOISE, "noise", NULL, NULL, NULL, 0,
     {"sigma", 0.0, 1000.0, 0, 0, 0}, {NULL, 0, 0, 0, 0, 0}, no_extra,
     set_noise, get_noise, run_noise},
    {DS_ATTACK_PERMUTE, "permute", NULL, NULL, NULL, 0,
     {NULL, 0, 0, 0, 0, 0}, {NULL, 0, 0, 0, 0, 0}, layer_extra,
     set_none, get_none, run_permute},
    {DS_ATTACK_DUMMY, "dummy", "variant", "dummy-neuron kind", dummy_kinds, NELEMS(dummy_kinds),
     {"neurons", 1, 65536, 1, 0, 0}, {NULL, 0, 0, 0, 0, 0}, layer_extra,
     set_dummy, get_dummy, run_dummy},
    {DS_ATTACK_SCALE, "scale", NULL, NULL, NULL, 0,
     {"spread", 0.0, DS_ATTACK_SCALE_MAX_SPREAD, 0, 0, 0}, {NULL, 0, 0, 0, 0, 0}, layer_extra,
     set_scale, get_scale, run_scale},
    {DS_ATTACK_CHAIN, "chain", NULL, NULL, NULL, 0,
     {"epochs", 0, DS_EPOCHS_MAX, 1, 0, 0}, {NULL, 0, 0, 0, 0, 0}, chain_extra,
     set_chain, get_chain, run_chain},
};

int ds_attack_kind_count(void) { return (int)NELEMS(kinds); }

const ds_attack_info *ds_attack_info_at(int i)
{
    return i >= 0 && i < (int)NELEMS(kinds) ? &kinds[i] : NULL;
}

const ds_attack_info *ds_attack_info_of(ds_attack_kind k)
{
    for (size_t i = 0; i < NELEMS(kinds); i++)
        if (kinds[i].kind == k) return &kinds[i];
    return NULL;
}

/* "a, b or c" of names[n] into buf. */
static void name_list(const char *const *names, int n, char *buf, size_t cap)
{
    size_t len = 0;
    buf[0] = '\0';
    for (int i = 0; i < n && len < cap; i++) {
        int w = snprintf(buf + len, cap - len, "%s%s", i == 0 ? "" : i + 1 == n ? " or " : ", ", names[i]);
        if (w < 0) break;
        len += (size_t)w;
    }
}

static ds_status name_parse(const char *const *names, int n, const char *what, const char *s, int *out,
                            ds_err *err)
{
    for (int i = 0; s && i < n; i++)
        if (!strcmp(s, names[i])) {
            *out = i;
            return DS_OK;
        }
    char list[256];
    name_list(names, n, list, sizeof list);
    return ds_err_set(err, DS_EINVAL, "unknown %s '%.64s' (expected %s)", what, s ? s : "(null)", list);
}

const char *ds_attack_variant_name(const ds_attack_info *a, int v)
{
    return a && v >= 0 && v < a->nvariants ? a->variants[v] : "";
}

ds_status ds_attack_variant_parse(const ds_attack_info *a, const char *s, int *v, ds_err *err)
{
    if (!a || !a->nvariants)
        return ds_err_set(err, DS_EINVAL, "attack %s has no variants", a ? a->name : "?");
    return name_parse(a->variants, a->nvariants, a->variant_what, s, v, err);
}

const char *ds_attack_kind_name(ds_attack_kind k)
{
    const ds_attack_info *a = ds_attack_info_of(k);
    return a ? a->name : "?";
}

ds_status ds_attack_kind_parse(const char *s, ds_attack_kind *out, ds_err *err)
{
    const char *names[NELEMS(kinds)];
    for (size_t i = 0; i < NELEMS(kinds); i++) names[i] = kinds[i].name;
    int i = 0;
    ds_status st = name_parse(names, (int)NELEMS(kinds), "attack", s, &i, err);
    if (!st) *out = kinds[i].kind;
    return st;
}

const char *ds_ft_mode_name(ds_ft_mode m)
{
    const char *n = ds_attack_variant_name(ds_attack_info_of(DS_ATTACK_FINETUNE), (int)m);
    return n[0] ? n : "?";
}

ds_status ds_ft_mode_parse(const char *s, ds_ft_mode *out, ds_err *err)
{
    int v = 0;
    ds_status st = ds_attack_variant_parse(ds_attack_info_of(DS_ATTACK_FINETUNE), s, &v, err);
    if (!st) *out = (ds_ft_mode)v;
    return st;
}

const char *ds_dummy_kind_name(ds_dummy_kind k)
{
    const char *n = ds_attack_variant_name(ds_attack_info_of(DS_ATTACK_DUMMY), (int)k);
    return n[0] ? n : "?";
}

ds_status ds_dummy_kind_parse(const char *s, ds_dummy_kind *out, ds_err *err)
{
    int v = 0;
    ds_status st = ds_attack_variant_parse(ds_attack_info_of(DS_ATTACK_DUMMY), s, &v, err);
    if (!st) *out = (ds_dummy_kind)v;
    return st;
}
