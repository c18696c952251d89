/* cmd_eval.c - `deepsigns eval`: test accuracy of a model file. */
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

    ds_model *m = keras ? ds_model_import_keras(path, NULL, &err) : ds_model_load_any(path, NULL, &err);
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
