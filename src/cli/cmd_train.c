/* cmd_train.c - `deepsigns train`: train an architecture on a dataset. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "cli/commands.h"
#include "deepsigns/model_file.h"
#include "deepsigns/outpath.h"
#include "deepsigns/train.h"

static const char train_usage[] =
    "usage: deepsigns train --arch NAME -o MODEL.h5 [options]\n"
    "\n"
    "Train a model from scratch on the owner's data (the training set less a\n"
    "1/12 validation split) and report validation and test accuracy.\n"
    "Inputs are standardised with the training set's per-channel mean and std\n"
    "(CIFAR-10: its published statistics); the model file records this.\n"
    "\n"
    "  --arch NAME        mnist-mlp | mnist-cnn | cifar10-cnn | cifar10-wrn\n"
    "  -o, --output FILE  model file to write (HDF5); checked before training, and\n"
    "                     an existing key or results file there is refused\n"
    "  --force            replace a key or results file at -o\n"
    "  --hidden N         mnist-mlp hidden width (default 512)\n"
    "  --dropout X        dropout rate (architecture default)\n"
    "  --depth N          cifar10-wrn depth, 6n+4 (default 16)\n"
    "  --widen N          cifar10-wrn widen factor (default 4)\n"
    "  --augment on|off   pad-4 crop + flip (default: on for 3-channel data)\n"
    CLI_TRAIN_HELP
    "Defaults here: 5 epochs, SGD lr 0.05 on a cosine schedule.\n"
    "  -h, --help         this help\n";

enum { OPT_ARCH = CLI_OPT_OWN, OPT_HIDDEN, OPT_DROPOUT, OPT_DEPTH, OPT_WIDEN, OPT_AUGMENT, OPT_FORCE };

static const struct option train_options[] = {
    {"arch", required_argument, NULL, OPT_ARCH},
    {"output", required_argument, NULL, 'o'},
    {"hidden", required_argument, NULL, OPT_HIDDEN},
    {"dropout", required_argument, NULL, OPT_DROPOUT},
    {"depth", required_argument, NULL, OPT_DEPTH},
    {"widen", required_argument, NULL, OPT_WIDEN},
    {"augment", required_argument, NULL, OPT_AUGMENT},
    {"force", no_argument, NULL, OPT_FORCE},
    {"help", no_argument, NULL, 'h'},
    CLI_TRAIN_LONGOPTS,
    {NULL, 0, NULL, 0},
};

typedef struct train_args {
    const char *arch, *out;
    long hidden, depth, widen;
    double dropout;
    int augment; /* -1: default */
    int force;   /* --force: -o may replace a key or results file */
    cli_train_opts t;
} train_args;

static ds_status train_parse(int argc, char **argv, train_args *a, int *help, ds_err *err)
{
    *a = (train_args){.dropout = -1, .augment = -1,
                      .t = cli_train_defaults(5, 0.05, DS_SCHED_COSINE)};
    ds_status st = DS_OK;
    int c;
    optind = 1;
    opterr = 0;
    while (!st && (c = getopt_long(argc, argv, "o:h", train_options, NULL)) != -1) {
        if (cli_train_option(c, optarg, &a->t, &st, err)) continue;
        switch (c) {
        case OPT_ARCH: a->arch = optarg; break;
        case 'o': a->out = optarg; break;
        case OPT_FORCE: a->force = 1; break;
        case OPT_HIDDEN: st = cli_parse_int_in("--hidden", optarg, DS_RANGE_HIDDEN, &a->hidden, err); break;
        case OPT_DROPOUT: st = cli_parse_float("--dropout", optarg, 0, 0.99, &a->dropout, err); break;
        case OPT_DEPTH: st = cli_parse_int_in("--depth", optarg, DS_RANGE_DEPTH, &a->depth, err); break;
        case OPT_WIDEN: st = cli_parse_int_in("--widen", optarg, DS_RANGE_WIDEN, &a->widen, err); break;
        case OPT_AUGMENT:
            if (!strcmp(optarg, "on")) a->augment = 1;
            else if (!strcmp(optarg, "off")) a->augment = 0;
            else st = ds_err_set(err, DS_EINVAL, "--augment: expected on or off, got '%s'", optarg);
            break;
        case 'h': *help = 1; return DS_OK;
        default:
            return ds_err_set(err, DS_EINVAL, "unknown or incomplete option '%s' (see --help)",
                              argv[optind - 1]);
        }
    }
    if (st) return st;
    if (optind < argc) return ds_err_set(err, DS_EINVAL, "unexpected argument '%s'", argv[optind]);
    if (!a->arch) return ds_err_set(err, DS_EINVAL, "--arch is required (see --help)");
    if (!a->out) return ds_err_set(err, DS_EINVAL, "-o MODEL.h5 is required (see --help)");
    return ds_outpath_check("-o", a->out, a->force, err);
}

int cmd_train(int argc, char **argv)
{
    ds_err err = {0};
    train_args a;
    int help = 0;
    if (train_parse(argc, argv, &a, &help, &err)) return cli_fail("train", &err);
    if (help) { fputs(train_usage, stdout); return CLI_EXIT_OK; }
    cli_set_threads((int)a.t.threads);

    ds_dataset train = {0}, test = {0};
    ds_split sp = {0};
    ds_model *m = NULL;
    uint32_t *idx = NULL;
    int rc = CLI_EXIT_ERROR;
    if (cli_load_data(a.t.data, a.t.format, &train, &test, &err)) goto fail;
    if (ds_split_make_default(train.n, a.t.split_seed, &sp, &err)) goto fail;

    ds_arch arch;
    if (ds_arch_defaults(a.arch, train.c, train.h, train.w, train.num_classes, &arch, &err)) goto fail;
    if (a.hidden) arch.hidden = (int)a.hidden;
    if (a.depth) arch.depth = (int)a.depth;
    if (a.widen) arch.widen = (int)a.widen;
    if (a.dropout >= 0) arch.dropout = (float)a.dropout;
    if (!(m = ds_model_build(&arch, &err))) goto fail;
    ds_model_init_params(m, a.t.seed);
    m->meta.preproc = cli_preproc(&a.t, &train);
    snprintf(m->meta.dataset, sizeof m->meta.dataset, "%s", a.t.data ? a.t.data : DS_DEFAULT_DATA_DIR);

    ds_train_cfg cfg = cli_train_cfg(&a.t);
    if (a.augment == 1 || (a.augment == -1 && train.c == 3)) cfg.aug = (ds_augment){.pad_crop = 4, .hflip = 1};
    size_t n;
    if (!(idx = ds_split_owner(&sp, &n))) {
        ds_err_set(&err, DS_ENOMEM, "out of memory");
        goto fail;
    }
    ds_train_stats ts;
    if (ds_train(m, &train, idx, n, &cfg, NULL, &ts, &err)) goto fail;
    double val_acc = 0, test_acc, test_loss;
    if (sp.n_val && ds_evaluate(m, &train, sp.val, sp.n_val, 0, &val_acc, NULL, &err)) goto fail;
    if (ds_evaluate(m, &test, NULL, test.n, 0, &test_acc, &test_loss, &err)) goto fail;
    m->meta.test_accuracy = test_acc;
    if (ds_model_save(m, a.out, &err)) goto fail;
    double rate = ts.seconds > 0 ? (double)n * a.t.epochs / ts.seconds : 0.0;
    if (a.t.json) {
        printf("{\"arch\": ");
        cli_json_string(stdout, arch.name);
        printf(", \"epochs\": %ld, \"train_samples\": %zu, \"train_loss\": %.6f, "
               "\"val_accuracy\": %.6f, \"accuracy\": %.6f, \"test_loss\": %.6f, "
               "\"seconds\": %.3f, \"samples_per_second\": %.1f, \"model\": ",
               a.t.epochs, n, ts.loss, val_acc, test_acc, test_loss, ts.seconds, rate);
        cli_json_string(stdout, a.out);
        printf("}\n");
    } else {
        printf("trained %s for %ld epochs on %zu samples in %.1f s (%.0f samples/s)\n", arch.name,
               a.t.epochs, n, ts.seconds, rate);
        printf("train loss %.4f  validation accuracy %.4f  test accuracy %.4f\n", ts.loss, val_acc,
               test_acc);
        printf("wrote %s\n", a.out);
    }
    rc = CLI_EXIT_OK;
    goto done;
fail:
    rc = cli_fail("train", &err);
done:
    free(idx);
    ds_model_free(m);
    ds_split_free(&sp);
    ds_dataset_free(&train);
    ds_dataset_free(&test);
    return rc;
}
