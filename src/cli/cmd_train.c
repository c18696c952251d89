/* cmd_train.c - `deepsigns train`: train an architecture on a dataset. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "cli/commands.h"
#include "deepsigns/model_file.h"
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
    "  -o, --output FILE  model file to write (HDF5)\n"
    "  --data DIR         MNIST-format or CIFAR-10 directory (default " DS_DEFAULT_DATA_DIR ")\n"
    "  --format F         auto | idx | cifar10 (default auto)\n"
    "  --epochs N         epochs (default 5)\n"
    "  --batch B          batch size (default 128)\n"
    "  --opt O            sgd | adam | rmsprop (default sgd)\n"
    "  --lr X             learning rate (default: sgd 0.05, adam/rmsprop 0.001)\n"
    "  --momentum X       SGD momentum (default 0.9)\n"
    "  --nesterov         SGD with Nesterov momentum\n"
    "  --weight-decay X   L2 weight decay (default 0)\n"
    "  --sched S          const | step | cosine (default cosine)\n"
    "  --step-every N     step schedule: decay every N epochs (default 10)\n"
    "  --gamma X          step schedule: decay factor (default 0.1)\n"
    "  --hidden N         mnist-mlp hidden width (default 512)\n"
    "  --dropout X        dropout rate (architecture default)\n"
    "  --depth N          cifar10-wrn depth, 6n+4 (default 16)\n"
    "  --widen N          cifar10-wrn widen factor (default 4)\n"
    "  --augment on|off   pad-4 crop + flip (default: on for 3-channel data)\n"
    "  --seed S           training seed (default 1)\n"
    "  --split-seed S     seed of the validation/attacker/key-pool split (default 1)\n"
    "  --threads N        BLAS threads (default: OPENBLAS_NUM_THREADS or all cores)\n"
    "  --json             print one JSON object with the results\n"
    "  --quiet            no progress output\n"
    "  -h, --help         this help\n";

enum {
    OPT_ARCH = 256, OPT_DATA, OPT_FORMAT, OPT_EPOCHS, OPT_BATCH, OPT_OPT, OPT_LR, OPT_MOMENTUM,
    OPT_NESTEROV, OPT_WD, OPT_SCHED, OPT_STEP_EVERY, OPT_GAMMA, OPT_HIDDEN, OPT_DROPOUT,
    OPT_DEPTH, OPT_WIDEN, OPT_AUGMENT, OPT_SEED, OPT_SPLIT_SEED, OPT_THREADS, OPT_JSON, OPT_QUIET,
};

static const struct option train_options[] = {
    {"arch", required_argument, NULL, OPT_ARCH},
    {"output", required_argument, NULL, 'o'},
    {"data", required_argument, NULL, OPT_DATA},
    {"format", required_argument, NULL, OPT_FORMAT},
    {"epochs", required_argument, NULL, OPT_EPOCHS},
    {"batch", required_argument, NULL, OPT_BATCH},
    {"opt", required_argument, NULL, OPT_OPT},
    {"lr", required_argument, NULL, OPT_LR},
    {"momentum", required_argument, NULL, OPT_MOMENTUM},
    {"nesterov", no_argument, NULL, OPT_NESTEROV},
    {"weight-decay", required_argument, NULL, OPT_WD},
    {"sched", required_argument, NULL, OPT_SCHED},
    {"step-every", required_argument, NULL, OPT_STEP_EVERY},
    {"gamma", required_argument, NULL, OPT_GAMMA},
    {"hidden", required_argument, NULL, OPT_HIDDEN},
    {"dropout", required_argument, NULL, OPT_DROPOUT},
    {"depth", required_argument, NULL, OPT_DEPTH},
    {"widen", required_argument, NULL, OPT_WIDEN},
    {"augment", required_argument, NULL, OPT_AUGMENT},
    {"seed", required_argument, NULL, OPT_SEED},
    {"split-seed", required_argument, NULL, OPT_SPLIT_SEED},
    {"threads", required_argument, NULL, OPT_THREADS},
    {"json", no_argument, NULL, OPT_JSON},
    {"quiet", no_argument, NULL, OPT_QUIET},
    {"help", no_argument, NULL, 'h'},
    {NULL, 0, NULL, 0},
};

typedef struct train_args {
    const char *arch, *out, *data;
    ds_data_format format;
    long epochs, batch, hidden, depth, widen, threads, step_every;
    double lr, momentum, wd, dropout, gamma;
    int nesterov, json, quiet, augment; /* augment: -1 default */
    ds_opt_kind opt;
    ds_sched_kind sched;
    uint64_t seed, split_seed;
} train_args;

static ds_status train_parse(int argc, char **argv, train_args *a, int *help, ds_err *err)
{
    *a = (train_args){.epochs = 5, .batch = 128, .lr = -1, .momentum = 0.9, .dropout = -1,
                      .sched = DS_SCHED_COSINE,
                      .gamma = 0.1, .step_every = 10, .augment = -1, .seed = 1, .split_seed = 1};
    ds_status st = DS_OK;
    int c;
    optind = 1;
    opterr = 0;
    while (!st && (c = getopt_long(argc, argv, "o:h", train_options, NULL)) != -1) {
        switch (c) {
        case OPT_ARCH: a->arch = optarg; break;
        case 'o': a->out = optarg; break;
        case OPT_DATA: a->data = optarg; break;
        case OPT_FORMAT: st = ds_data_format_parse(optarg, &a->format, err); break;
        case OPT_EPOCHS: st = cli_parse_int("--epochs", optarg, 0, 100000, &a->epochs, err); break;
        case OPT_BATCH: st = cli_parse_int("--batch", optarg, 1, 65536, &a->batch, err); break;
        case OPT_OPT: st = ds_opt_kind_parse(optarg, &a->opt, err); break;
        case OPT_LR: st = cli_parse_float("--lr", optarg, 1e-12, 100, &a->lr, err); break;
        case OPT_MOMENTUM: st = cli_parse_float("--momentum", optarg, 0, 0.9999, &a->momentum, err); break;
        case OPT_NESTEROV: a->nesterov = 1; break;
        case OPT_WD: st = cli_parse_float("--weight-decay", optarg, 0, 1, &a->wd, err); break;
        case OPT_SCHED: st = ds_sched_kind_parse(optarg, &a->sched, err); break;
        case OPT_STEP_EVERY: st = cli_parse_int("--step-every", optarg, 1, 100000, &a->step_every, err); break;
        case OPT_GAMMA: st = cli_parse_float("--gamma", optarg, 0, 1, &a->gamma, err); break;
        case OPT_HIDDEN: st = cli_parse_int("--hidden", optarg, 1, 65536, &a->hidden, err); break;
        case OPT_DROPOUT: st = cli_parse_float("--dropout", optarg, 0, 0.99, &a->dropout, err); break;
        case OPT_DEPTH: st = cli_parse_int("--depth", optarg, 10, 202, &a->depth, err); break;
        case OPT_WIDEN: st = cli_parse_int("--widen", optarg, 1, 32, &a->widen, err); break;
        case OPT_AUGMENT:
            if (!strcmp(optarg, "on")) a->augment = 1;
            else if (!strcmp(optarg, "off")) a->augment = 0;
            else st = ds_err_set(err, DS_EINVAL, "--augment: expected on or off, got '%s'", optarg);
            break;
        case OPT_SEED: st = cli_parse_u64("--seed", optarg, &a->seed, err); break;
        case OPT_SPLIT_SEED: st = cli_parse_u64("--split-seed", optarg, &a->split_seed, err); break;
        case OPT_THREADS: st = cli_parse_int("--threads", optarg, 1, 1024, &a->threads, err); break;
        case OPT_JSON: a->json = 1; break;
        case OPT_QUIET: a->quiet = 1; break;
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
    return DS_OK;
}

int cmd_train(int argc, char **argv)
{
    ds_err err = {0};
    train_args a;
    int help = 0;
    if (train_parse(argc, argv, &a, &help, &err)) return cli_fail("train", &err);
    if (help) { fputs(train_usage, stdout); return CLI_EXIT_OK; }
    cli_set_threads((int)a.threads);

    ds_dataset train = {0}, test = {0};
    ds_split sp = {0};
    ds_model *m = NULL;
    uint32_t *idx = NULL;
    int rc = CLI_EXIT_ERROR;
    if (cli_load_data(a.data, a.format, &train, &test, &err)) goto fail;
    if (ds_split_make_default(train.n, a.split_seed, &sp, &err)) goto fail;

    ds_arch arch;
    if (ds_arch_defaults(a.arch, train.c, train.h, train.w, train.num_classes, &arch, &err)) goto fail;
    if (a.hidden) arch.hidden = (int)a.hidden;
    if (a.depth) arch.depth = (int)a.depth;
    if (a.widen) arch.widen = (int)a.widen;
    if (a.dropout >= 0) arch.dropout = (float)a.dropout;
    if (!(m = ds_model_build(&arch, &err))) goto fail;
    ds_model_init_params(m, a.seed);
    m->meta.preproc = train.c == 3 ? ds_preproc_default(&train) : ds_preproc_fit(&train, NULL, 0);
    snprintf(m->meta.dataset, sizeof m->meta.dataset, "%s", a.data ? a.data : DS_DEFAULT_DATA_DIR);

    ds_train_cfg cfg = {.epochs = (int)a.epochs, .batch = (int)a.batch, .seed = a.seed,
                        .progress = !a.quiet};
    cfg.opt = ds_optim_defaults(a.opt);
    if (a.opt == DS_OPT_SGD) cfg.opt.lr = 0.05f;
    if (a.lr > 0) cfg.opt.lr = (float)a.lr;
    cfg.opt.momentum = (float)a.momentum;
    cfg.opt.nesterov = a.nesterov;
    cfg.opt.weight_decay = (float)a.wd;
    cfg.opt.sched = a.sched;
    cfg.opt.step_every = (int)a.step_every;
    cfg.opt.gamma = (float)a.gamma;
    if (a.augment == 1 || (a.augment == -1 && train.c == 3)) cfg.aug = (ds_augment){.pad_crop = 4, .hflip = 1};

    size_t n;
    if (!(idx = ds_split_owner(&sp, &n))) {
        ds_err_set(&err, DS_ENOMEM, "out of memory");
        goto fail;
    }
    ds_train_stats ts;
    if (ds_train(m, &train, idx, n, &cfg, NULL, &ts, &err)) goto fail;
    double val_acc = 0, test_acc, test_loss;
    if (sp.n_val && ds_evaluate(m, &train, sp.val, sp.n_val, 256, &val_acc, NULL, &err)) goto fail;
    if (ds_evaluate(m, &test, NULL, test.n, 256, &test_acc, &test_loss, &err)) goto fail;
    m->meta.test_accuracy = test_acc;
    if (ds_model_save(m, a.out, &err)) goto fail;
    if (a.json) {
        printf("{\"arch\": ");
        cli_json_string(stdout, arch.name);
        printf(", \"epochs\": %ld, \"train_samples\": %zu, \"train_loss\": %.6f, "
               "\"val_accuracy\": %.6f, \"accuracy\": %.6f, \"test_loss\": %.6f, "
               "\"seconds\": %.3f, \"samples_per_second\": %.1f, \"model\": ",
               a.epochs, n, ts.loss, val_acc, test_acc, test_loss, ts.seconds,
               ts.seconds > 0 ? (double)n * a.epochs / ts.seconds : 0.0);
        cli_json_string(stdout, a.out);
        printf("}\n");
    } else {
        printf("trained %s for %ld epochs on %zu samples in %.1f s (%.0f samples/s)\n", arch.name,
               a.epochs, n, ts.seconds, ts.seconds > 0 ? (double)n * a.epochs / ts.seconds : 0.0);
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
