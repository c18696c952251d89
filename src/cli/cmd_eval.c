/* cmd_eval.c - `deepsigns eval`: test accuracy of a model file, and
 * `deepsigns info`: the layers and tensors of a model file. */
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"
#include "cli/commands.h"
#include "deepsigns/model_file.h"
#include "deepsigns/train.h"

static const char eval_usage[] =
    "usage: deepsigns eval MODEL.h5 [--data DIR] [--format F] [--keras] [--json]\n"
    "\n"
    "Test accuracy of a model, with the input preprocessing recorded in the model.\n"
    "\n"
    "  --data DIR     MNIST-format or CIFAR-10 directory (default " DS_DEFAULT_DATA_DIR ")\n"
    "  --format F     auto | idx | cifar10 (default auto)\n"
    "  --keras        MODEL.h5 is a Keras weight file of an mnist-mlp (pixels/255)\n"
    "  --threads N    BLAS threads\n"
    "  --json         print one JSON object\n"
    "  -h, --help     this help\n";

enum { OPT_DATA = 256, OPT_FORMAT, OPT_KERAS, OPT_THREADS, OPT_JSON };

static const struct option eval_options[] = {
    {"data", required_argument, NULL, OPT_DATA},
    {"format", required_argument, NULL, OPT_FORMAT},
    {"keras", no_argument, NULL, OPT_KERAS},
    {"threads", required_argument, NULL, OPT_THREADS},
    {"json", no_argument, NULL, OPT_JSON},
    {"help", no_argument, NULL, 'h'},
    {NULL, 0, NULL, 0},
};

int cmd_eval(int argc, char **argv)
{
    ds_err err = {0};
    const char *data = NULL;
    ds_data_format fmt = DS_FORMAT_AUTO;
    int keras = 0, json = 0, c;
    long threads = 0;
    optind = 1;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "h", eval_options, NULL)) != -1) {
        ds_status st = DS_OK;
        switch (c) {
        case OPT_DATA: data = optarg; break;
        case OPT_FORMAT: st = ds_data_format_parse(optarg, &fmt, &err); break;
        case OPT_KERAS: keras = 1; break;
        case OPT_THREADS: st = cli_parse_int("--threads", optarg, 1, 1024, &threads, &err); break;
        case OPT_JSON: json = 1; break;
        case 'h': fputs(eval_usage, stdout); return CLI_EXIT_OK;
        default: return cli_failf("eval", "unknown or incomplete option '%s' (see --help)", argv[optind - 1]);
        }
        if (st) return cli_fail("eval", &err);
    }
    if (optind != argc - 1) return cli_failf("eval", "expected one model file (see --help)");
    const char *path = argv[optind];
    cli_set_threads((int)threads);

    ds_model *m = keras ? ds_model_import_keras(path, NULL, &err) : ds_model_load(path, &err);
    if (!m) return cli_fail("eval", &err);
    ds_dataset train = {0}, test = {0};
    int rc = CLI_EXIT_ERROR;
    double acc, loss;
    if (cli_load_data(data, fmt, &train, &test, &err)) {
        rc = cli_fail("eval", &err);
        goto done;
    }
    if (ds_evaluate(m, &test, NULL, test.n, 0, &acc, &loss, &err)) {
        (void)ds_err_prefix(&err, "%s on %s: ", path, data ? data : DS_DEFAULT_DATA_DIR);
        rc = cli_fail("eval", &err);
        goto done;
    }
    if (json) {
        printf("{\"model\": ");
        cli_json_string(stdout, path);
        printf(", \"arch\": ");
        cli_json_string(stdout, m->arch.name);
        printf(", \"samples\": %zu, \"accuracy\": %.6f, \"loss\": %.6f}\n", test.n, acc, loss);
    } else {
        printf("%s (%s): test accuracy %.4f, loss %.4f on %zu samples\n", path, m->arch.name, acc,
               loss, test.n);
    }
    rc = CLI_EXIT_OK;
done:
    ds_model_free(m);
    ds_dataset_free(&train);
    ds_dataset_free(&test);
    return rc;
}

static const char info_usage[] =
    "usage: deepsigns info MODEL.h5 [--keras]\n"
    "\n"
    "List a model's layers (index, name, output shape) and parameter tensors.\n"
    "Layer names and indices are what --layer takes elsewhere.\n";

int cmd_info(int argc, char **argv)
{
    ds_err err = {0};
    int keras = 0;
    const char *path = NULL;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) { fputs(info_usage, stdout); return CLI_EXIT_OK; }
        if (!strcmp(argv[i], "--keras")) keras = 1;
        else if (argv[i][0] == '-' || path) return cli_failf("info", "unexpected argument '%s' (see --help)", argv[i]);
        else path = argv[i];
    }
    if (!path) return cli_failf("info", "expected one model file (see --help)");
    ds_model *m = keras ? ds_model_import_keras(path, NULL, &err) : ds_model_load(path, &err);
    if (!m) return cli_fail("info", &err);
    printf("%s: %s, %zu parameters, source %s, trained %d epochs, test accuracy %.4f\n", path,
           m->arch.name, m->nparams, m->meta.source, m->meta.epochs, m->meta.test_accuracy);
    printf("%5s  %-14s %-8s %s\n", "index", "name", "op", "output (c x h x w)");
    for (int i = 0; i < m->nnodes; i++) {
        const ds_node *nd = &m->nodes[i];
        printf("%5d  %-14s %-8s %d x %d x %d\n", i, nd->name, ds_op_name(nd->op), nd->c, nd->h, nd->w);
    }
    for (int t = 0; t < m->ntensors; t++) {
        const ds_tensor *ts = &m->tensors[t];
        printf("  %-24s %s [", ts->name, ts->trainable ? "param" : "stat ");
        for (int d = 0; d < ts->ndim; d++) printf("%s%d", d ? " x " : "", ts->dims[d]);
        printf("]\n");
    }
    ds_model_free(m);
    return CLI_EXIT_OK;
}
