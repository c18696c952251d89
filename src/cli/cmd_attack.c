/* cmd_attack.c - `deepsigns attack`: apply one attack to a model file, report
 * its cost, realised strength, parameter change and accuracy, and (with --key)
 * whether the owner's watermark survived. */
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "cli/commands.h"
#include "deepsigns/attack.h"
#include "deepsigns/model_file.h"
#include "deepsigns/outpath.h"
#include "deepsigns/wm.h"

static const char attack_usage[] =
    "usage: deepsigns attack --kind KIND MODEL.h5 -o OUT.h5 [options]\n"
    "\n"
    "Apply one attack to a (marked) model and write the result. Attacks that train use\n"
    "only the attacker's part of the training data (never the owner's key images nor\n"
    "the test set).\n"
    "\n"
    "  --kind K            prune | finetune | overwrite | quantize | noise | permute | dummy |\n"
    "                      scale | chain\n"
    "  -o, --output FILE   the attacked model (checked before any work; an existing\n"
    "                      key or results file there is refused)\n"
    "  --force             replace a key or results file at -o\n"
    "  --key FILE          the owner's key: verify the watermark after the attack (the\n"
    "                      key must fit the model and match the commitment)\n"
    "  --commitment HEX    the owner's published commitment: only with it is a present\n"
    "                      watermark \"owned\" (else \"unpublished\": the model's own)\n"
    "  --seed S            the attacker's seed (default 1)\n"
    " prune:\n"
    "  --rate R            fraction of weights to zero, 0 <= R < 1 (default 0.5)\n"
    "  --scope S           layer (each tensor to R) | global (one threshold; default layer)\n"
    "  --prune-bias        also prune dense/conv biases\n"
    "  --prune-bn          also prune batch-norm gamma and beta\n"
    "  --finetune-epochs E fine-tune afterwards, pruned weights held at zero (default 0)\n"
    " finetune:\n"
    "  --mode M            ftll | ftal | rtll | rtal (default ftal)\n"
    "  --epochs E          epochs (finetune default 10; overwrite default 2)\n"
    "  --lr X, --opt O, --batch B, --momentum X   the attacker's optimizer (SGD lr 0.01)\n"
    "  --data-fraction F   fraction of the attacker pool used, 0 < F <= 1 (default 1)\n"
    "  --labels L          true | predicted (the victim's own answers; default true)\n"
    " overwrite (the attacker embeds a watermark of their own):\n"
    "  --scheme S          whitebox | blackbox (default blackbox)\n"
    "  --keys K            black-box: the attacker's K (default 20)\n"
    "  --bits N            white-box: bits per class (default 32); quantize: bits (default 8)\n"
    "  --targets S         white-box: target classes (default 2)\n"
    "  --layer L           white-box layer; permute/dummy: the hidden layer (default: all)\n"
    " noise:\n"
    "  --sigma X           noise std relative to each layer's weight std (default 0.1)\n"
    " dummy:\n"
    "  --dummy D           clique | split (default clique)\n"
    "  --neurons N         units added per layer (default 8)\n"
    " scale (each unit times its own factor, its outgoing weights divided by it):\n"
    "  --strength S        the factors' log-range: exp(U(-S, S)), 0 <= S <= 20 (default 2)\n"
    "  --spread S          scale's log-range inside a chain (default 2)\n"
    " chain (function-preserving steps in a row, then optional fine-tuning):\n"
    "  --steps A,B,...     of permute, scale, dummy (default dummy,permute,scale: the\n"
    "                      dummy units at random positions, rescaled); each step takes\n"
    "                      the options above (--neurons, --dummy, --spread, --layer)\n"
    "  --epochs E          FTAL fine-tuning afterwards (default 0)\n"
    " any kind:\n"
    "  --strength X        the kind's strength (--rate, --epochs, --keys, --bits, --sigma,\n"
    "                      --neurons, --strength), checked against the spec's range\n"
    " common:\n"
    "  --data DIR, --format F   data (default " DS_DEFAULT_DATA_DIR ")\n"
    "  --split-seed S      the owner's split (default 1): the attacker pool is its attacker part\n"
    "  --threads N, --json, --quiet, -h/--help\n";

/* The data, optimizer and run options are the shared ones (cli.h), parsed by
 * cli_train_option into attack_args.t and applied to the attack once all are
 * read (attack_apply_train); the attack's own are numbered from CLI_OPT_OWN. */
enum {
    OPT_KIND = CLI_OPT_OWN, OPT_KEY, OPT_RATE, OPT_SCOPE, OPT_PBIAS, OPT_PBN, OPT_FTE, OPT_MODE,
    OPT_FRACTION, OPT_LABELS, OPT_SCHEME, OPT_KEYS, OPT_BITS, OPT_TARGETS, OPT_LAYER, OPT_SIGMA,
    OPT_DUMMY, OPT_NEURONS, OPT_COMMITMENT, OPT_FORCE, OPT_STRENGTH, OPT_STEPS, OPT_SPREAD,
};

static const struct option attack_options[] = {
    CLI_DATA_LONGOPTS, CLI_OPTIM_LONGOPTS, CLI_RUN_LONGOPTS,
    {"kind", required_argument, NULL, OPT_KIND}, {"output", required_argument, NULL, 'o'},
    {"out", required_argument, NULL, 'o'}, /* the spelling of older versions */
    {"key", required_argument, NULL, OPT_KEY},
    {"commitment", required_argument, NULL, OPT_COMMITMENT},
    {"rate", required_argument, NULL, OPT_RATE}, {"scope", required_argument, NULL, OPT_SCOPE},
    {"prune-bias", no_argument, NULL, OPT_PBIAS}, {"prune-bn", no_argument, NULL, OPT_PBN},
    {"finetune-epochs", required_argument, NULL, OPT_FTE},
    {"mode", required_argument, NULL, OPT_MODE},
    {"data-fraction", required_argument, NULL, OPT_FRACTION},
    {"labels", required_argument, NULL, OPT_LABELS},
    {"scheme", required_argument, NULL, OPT_SCHEME}, {"keys", required_argument, NULL, OPT_KEYS},
    {"bits", required_argument, NULL, OPT_BITS}, {"targets", required_argument, NULL, OPT_TARGETS},
    {"layer", required_argument, NULL, OPT_LAYER}, {"sigma", required_argument, NULL, OPT_SIGMA},
    {"dummy", required_argument, NULL, OPT_DUMMY},
    {"neurons", required_argument, NULL, OPT_NEURONS}, {"help", no_argument, NULL, 'h'},
    {"force", no_argument, NULL, OPT_FORCE},
    {"strength", required_argument, NULL, OPT_STRENGTH},
    {"steps", required_argument, NULL, OPT_STEPS},
    {"spread", required_argument, NULL, OPT_SPREAD},
    {NULL, 0, NULL, 0},
};

typedef struct attack_args {
    ds_attack_cfg c;
    cli_train_opts t;         /* the shared options; t.epochs < 0, t.momentum < 0: not given */
    int kind_given;
    int force; /* --force: -o may replace a key or results file */
    const char *in, *out, *key, *commitment;
    const char *strength;     /* --strength, applied once every option is known */
} attack_args;

static ds_status parse_scope(const char *s, ds_prune_scope *out, ds_err *err)
{
    if (!strcmp(s, "layer")) *out = DS_PRUNE_LAYER;
    else if (!strcmp(s, "global")) *out = DS_PRUNE_GLOBAL;
    else return ds_err_set(err, DS_EINVAL, "--scope: '%s' is not layer or global", s);
    return DS_OK;
}

/* --strength X: the kind's strength axis (ds_attack_info), in its range; applied
 * after every other option, so that overwrite's --scheme picks the axis (keys,
 * or bits against a white-box mark) whatever the order. */
static ds_status parse_strength(const char *arg, attack_args *a, ds_err *err)
{
    const ds_attack_info *info = ds_attack_info_of(a->c.kind);
    const ds_attack_axis *x = !info ? NULL
                              : a->c.scheme == DS_WM_WHITEBOX && info->strength_wb.key ? &info->strength_wb
                                                                                        : &info->strength;
    if (!x || !x->key) return ds_err_set(err, DS_EINVAL, "--strength: attack %s has no strength",
                                         info ? info->name : "?");
    double v;
    ds_status st = cli_parse_real("--strength", arg, x->lo, x->hi, 0, x->hi_open, &v, err);
    if (!st && x->integer && v != floor(v))
        st = ds_err_set(err, DS_EINVAL, "--strength: %s takes a whole number, got '%s'", info->name, arg);
    int variant;
    double old;
    if (!st) {
        info->get(&a->c, a->c.scheme, &variant, &old);
        info->set(&a->c, variant, v, a->c.scheme);
    }
    return st;
}

/* --steps permute,scale,...: a chain's steps, in order. */
static ds_status parse_steps(const char *arg, ds_attack_cfg *k, ds_err *err)
{
    char buf[256];
    if (strlen(arg) >= sizeof buf) return ds_err_set(err, DS_EINVAL, "--steps: too long");
    snprintf(buf, sizeof buf, "%s", arg);
    k->nsteps = 0;
    for (char *save = NULL, *t = strtok_r(buf, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
        ds_attack_kind kind;
        ds_status st = ds_attack_kind_parse(t, &kind, err);
        if (st) return ds_err_prefix(err, "--steps: ");
        if (!ds_attack_step_ok(kind))
            return ds_err_set(err, DS_EINVAL, "--steps: %s is not a step a chain takes (permute, scale, dummy)", t);
        if (k->nsteps == DS_ATTACK_MAX_STEPS)
            return ds_err_set(err, DS_EINVAL, "--steps: at most %d steps", DS_ATTACK_MAX_STEPS);
        k->steps[k->nsteps++] = kind;
    }
    if (!k->nsteps) return ds_err_set(err, DS_EINVAL, "--steps: no step given");
    return DS_OK;
}

/* The shared options' values into the attack: --opt gives that optimizer's
 * defaults (constant schedule), then --lr, --momentum, --epochs, --batch and
 * --seed override what they name. */
static void attack_apply_train(attack_args *a)
{
    ds_attack_cfg *k = &a->c;
    const cli_train_opts *t = &a->t;
    if (t->opt_given) {
        k->opt = ds_optim_defaults(t->opt);
        k->opt.sched = DS_SCHED_CONST;
    }
    if (t->lr_given) k->opt.lr = (float)t->lr;
    if (t->momentum >= 0) k->opt.momentum = (float)t->momentum;
    if (t->epochs >= 0) k->epochs = (int)t->epochs;
    k->batch = (int)t->batch;
    if (t->seed_given) k->seed = t->seed;
}

/* One of the attack's own options; its defaults are applied once --kind is known. */
static ds_status attack_option(int c, const char *arg, attack_args *a, ds_err *err)
{
    long v;
    ds_status st = DS_OK;
    ds_attack_cfg *k = &a->c;
    switch (c) {
    case 'o': a->out = arg; break;
    case OPT_FORCE: a->force = 1; break;
    case OPT_KEY: a->key = arg; break;
    case OPT_COMMITMENT: st = cli_parse_commitment("--commitment", arg, &a->commitment, err); break;
    case OPT_RATE: st = cli_parse_real("--rate", arg, 0.0, 1.0, 0, 1, &k->rate, err); break;
    case OPT_SCOPE: st = parse_scope(arg, &k->scope, err); break;
    case OPT_PBIAS: k->prune_bias = 1; break;
    case OPT_PBN: k->prune_bn = 1; break;
    case OPT_FTE:
        if (!(st = cli_parse_int_in("--finetune-epochs", arg, DS_RANGE_EPOCHS, &v, err))) k->epochs = (int)v;
        break;
    case OPT_MODE: st = ds_ft_mode_parse(arg, &k->mode, err); break;
    case OPT_FRACTION: st = cli_parse_real_in("--data-fraction", arg, DS_RANGE_DATA_FRACTION, &k->data_fraction, err); break;
    case OPT_LABELS:
        if (!strcmp(arg, "true")) k->predicted_labels = 0;
        else if (!strcmp(arg, "predicted")) k->predicted_labels = 1;
        else st = ds_err_set(err, DS_EINVAL, "--labels: '%s' is not true or predicted", arg);
        break;
    case OPT_SCHEME: st = ds_wm_scheme_parse(arg, &k->scheme, err); break;
    case OPT_KEYS: if (!(st = cli_parse_int_in("--keys", arg, DS_RANGE_BB_KEYS, &v, err))) k->keys = (int)v; break;
    case OPT_BITS: if (!(st = cli_parse_int("--bits", arg, 1, 65536, &v, err))) k->bits = (int)v; break;
    case OPT_TARGETS: if (!(st = cli_parse_int_in("--targets", arg, DS_RANGE_TARGETS, &v, err))) k->targets = (int)v; break;
    case OPT_LAYER: k->layer = arg; break;
    case OPT_SIGMA: st = cli_parse_float("--sigma", arg, 0.0, 1e6, &k->sigma, err); break;
    case OPT_DUMMY: st = ds_dummy_kind_parse(arg, &k->dummy, err); break;
    case OPT_NEURONS: if (!(st = cli_parse_int_in("--neurons", arg, DS_RANGE_NEURONS, &v, err))) k->neurons = (int)v; break;
    case OPT_STRENGTH: a->strength = arg; break;
    case OPT_STEPS: st = parse_steps(arg, k, err); break;
    case OPT_SPREAD: st = cli_parse_float("--spread", arg, 0.0, DS_ATTACK_SCALE_MAX_SPREAD, &k->spread, err); break;
    default: st = ds_err_set(err, DS_EINVAL, "unknown or incomplete option (see --help)");
    }
    return st;
}

static ds_status attack_parse(int argc, char **argv, attack_args *a, int *help, ds_err *err)
{
    memset(a, 0, sizeof *a);
    /* first pass: the kind, so that its defaults come before the other options */
    ds_attack_kind kind = 0;
    for (int i = 1; i < argc; i++) {
        const char *v = NULL;
        if (!strcmp(argv[i], "--kind") && i + 1 < argc) v = argv[i + 1];
        else if (!strncmp(argv[i], "--kind=", 7)) v = argv[i] + 7;
        if (v) {
            ds_status st = ds_attack_kind_parse(v, &kind, err);
            if (st) return st;
            a->kind_given = 1;
        }
        if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) *help = 1;
    }
    if (*help) return DS_OK;
    if (!a->kind_given) return ds_err_set(err, DS_EINVAL, "--kind is required (see --help)");
    a->c = ds_attack_defaults(kind);
    a->t = cli_train_defaults(-1, a->c.opt.lr, DS_SCHED_CONST);
    a->t.batch = a->c.batch;
    a->t.momentum = -1;
    optind = 1;
    opterr = 0;
    int c;
    while ((c = getopt_long(argc, argv, "o:h", attack_options, NULL)) != -1) {
        if (c == OPT_KIND) continue;
        if (c == '?' || c == ':')
            return ds_err_set(err, DS_EINVAL, "unknown or incomplete option '%s' (see --help)",
                              argv[optind - 1]);
        ds_status st;
        if (!cli_train_option(c, optarg, &a->t, &st, err)) st = attack_option(c, optarg, a, err);
        if (st) return st;
    }
    attack_apply_train(a);
    if (optind != argc - 1) return ds_err_set(err, DS_EINVAL, "expected one model file (see --help)");
    if (!a->out) return ds_err_set(err, DS_EINVAL, "-o OUT.h5 is required");
    a->in = argv[optind];
    a->c.progress = !a->t.quiet && !a->t.json;
    ds_status st = a->strength ? parse_strength(a->strength, a, err) : DS_OK;
    if (st) return st;
    return ds_outpath_check("-o", a->out, a->force, err);
}

/* The owner's check of key k on the attacked model m, as a JSON fragment; only
 * a published commitment (basis) makes a present watermark "owned". */
static ds_status verify_key(ds_model *m, const ds_wm_key *k, ds_claim_basis basis, char *buf,
                            size_t len, ds_err *err)
{
    ds_wm_check c = {0};
    ds_status st = ds_wm_check_run(m, k, 0, &c, err);
    const cli_verdict v = cli_claim_verdict(&c, basis);
    char tail[256];
    snprintf(tail, sizeof tail, "\"commitment\": \"%s\", \"watermark_present\": %s, "
             "\"verdict\": \"%s\", \"owned\": %s", cli_basis_name(basis), c.owned ? "true" : "false",
             cli_verdict_name(v), v == CLI_VERDICT_OWNED ? "true" : "false");
    char al[512];
    cli_alignment_json(&c, al, sizeof al);
    if (!st && k->scheme == DS_WM_WHITEBOX)
        snprintf(buf, len, "\"scheme\": \"whitebox\", \"ber\": %.6f, \"bit_errors\": %d, "
                 "\"bits\": %d, \"p_value\": %.6g%s, %s", c.wb.ber, c.wb.errors, c.wb.total,
                 c.wb.p_value, al, tail);
    else if (!st)
        snprintf(buf, len, "\"scheme\": \"blackbox\", \"mismatches\": %d, \"keys\": %d, "
                 "\"theta\": %d, \"p_value\": %.6g, %s", c.bb.mismatches, c.bb.K,
                 c.bb.theta, c.bb.p_value, tail);
    ds_wm_check_free(&c);
    return st;
}

/* Before any work: the key must load, fit the model as given and match its
 * commitment (published, or else stored), as for `deepsigns verify`. */
static ds_status owner_key(const attack_args *a, ds_model *m, ds_wm_key *k, ds_claim_basis *basis,
                           ds_err *err)
{
    ds_wm_check c = {0};
    ds_status st = cli_load_key("attack", a->key, k, err);
    if (!st) st = cli_check_claim(m, a->in, 0, k, a->key, a->commitment, 0, &c, basis, err);
    ds_wm_check_free(&c);
    return st;
}

int cmd_attack(int argc, char **argv)
{
    ds_err err = {0};
    attack_args a;
    int help = 0;
    if (attack_parse(argc, argv, &a, &help, &err)) return cli_fail("attack", &err);
    if (help) { fputs(attack_usage, stdout); return CLI_EXIT_OK; }
    cli_set_threads((int)a.t.threads);

    ds_dataset train = {0}, test = {0};
    ds_split sp = {0};
    ds_attack_report rep;
    char verdict[1536] = "";
    int rc = CLI_EXIT_ERROR;
    ds_wm_key key = {0};
    ds_claim_basis basis = DS_CLAIM_UNPUBLISHED;
    ds_model *m = ds_model_load_any(a.in, NULL, &err);
    if (!m) goto fail;
    if (a.key && owner_key(&a, m, &key, &basis, &err)) goto fail;
    if (cli_load_data(a.t.data, a.t.format, &train, &test, &err)) goto fail;
    if (ds_split_make_default(train.n, a.t.split_seed, &sp, &err)) goto fail;
    ds_attack_data d = {.train = &train, .pool = sp.attacker, .npool = sp.n_attacker, .test = &test};
    if (ds_attack_run(&m, &a.c, &d, &rep, &err)) goto fail;
    if (ds_model_save(m, a.out, &err)) goto fail;
    if (a.key) {
        /* an attack may leave a model the key no longer fits (dummy neurons widen
         * the marked layer): that is a result (no claim can be shown), not an error */
        ds_err ve = {0};
        if (verify_key(m, &key, basis, verdict, sizeof verdict, &ve)) {
            snprintf(verdict, sizeof verdict, "\"checkable\": false, \"owned\": false, \"reason\": ");
            size_t at = strlen(verdict);
            FILE *mem = fmemopen(verdict + at, sizeof verdict - at, "w");
            if (mem) {
                cli_json_string(mem, ve.msg);
                fclose(mem);
            }
        }
    }
    if (a.t.json) {
        printf("{\"kind\": \"%s\", \"model\": ", ds_attack_kind_name(a.c.kind));
        cli_json_string(stdout, a.out);
        printf(", \"seconds\": %.3f, \"realised\": %.6g, \"realised_what\": \"%s\", "
               "\"delta_l2\": %.6g, \"accuracy_before\": %.6f, \"accuracy\": %.6f, "
               "\"attacker_samples\": %zu",
               rep.seconds, rep.realised, rep.realised_what, rep.delta_l2, rep.acc_before,
               rep.acc_after, rep.used_samples);
        if (verdict[0]) printf(", \"watermark\": {%s}", verdict);
        printf("}\n");
    } else {
        printf("%s: %s in %.2f s, %s %.4g, |dtheta| %.4g, test accuracy %.4f -> %.4f\n", a.out,
               ds_attack_kind_name(a.c.kind), rep.seconds, rep.realised_what, rep.realised,
               rep.delta_l2, rep.acc_before, rep.acc_after);
        if (verdict[0]) printf("owner's watermark after the attack: {%s}\n", verdict);
    }
    rc = CLI_EXIT_OK;
    goto done;
fail:
    rc = cli_fail("attack", &err);
done:
    ds_wm_key_free(&key);
    ds_model_free(m);
    ds_split_free(&sp);
    ds_dataset_free(&train);
    ds_dataset_free(&test);
    return rc;
}
