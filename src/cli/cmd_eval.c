/* cmd_eval.c - `deepsigns eval`: test accuracy of a model file. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "cli/commands.h"
#include "deepsigns/model_file.h"
#include "deepsigns/train.h"
#include "io/h5util.h" /* ds_io_write_atomic */

static const char eval_usage[] =
    "usage: deepsigns eval MODEL [--data DIR] [--format F] [--keras] [--json] [--logits FILE]\n"
    "\n"
    "Test accuracy of a model, with the input preprocessing recorded in the model.\n"
    "MODEL is a deepsigns model file, a Keras weights file or an ONNX model (pixels/255),\n"
    "told apart by their content.\n"
    "\n"
    "  --data DIR     MNIST-format or CIFAR-10 directory (default " DS_DEFAULT_DATA_DIR ")\n"
    "  --format F     auto | idx | cifar10 (default auto)\n"
    "  --keras        MODEL.h5 is a Keras weight file (mnist-mlp, mnist-cnn, cifar10-cnn; pixels/255)\n"
    "  --threads N    BLAS threads\n"
    "  --json         print one JSON object\n"
    "  --logits FILE  also write the logits of every test sample to FILE: float32,\n"
    "                 little-endian, [samples, classes], in the data's order\n"
    "  -h, --help     this help\n";

enum { OPT_DATA = 256, OPT_FORMAT, OPT_KERAS, OPT_THREADS, OPT_JSON, OPT_LOGITS };

static const struct option eval_options[] = {
    {"data", required_argument, NULL, OPT_DATA},
    {"format", required_argument, NULL, OPT_FORMAT},
    {"keras", no_argument, NULL, OPT_KERAS},
    {"threads", required_argument, NULL, OPT_THREADS},
    {"json", no_argument, NULL, OPT_JSON},
    {"logits", required_argument, NULL, OPT_LOGITS},
    {"help", no_argument, NULL, 'h'},
    {NULL, 0, NULL, 0},
};

/* The output layer's activations (the logits) of every sample of d, as raw
 * float32 [d->n, classes], to path (atomically). */
static ds_status write_logits(ds_model *m, const ds_dataset *d, const char *path, ds_err *err)
{
    const int out = ds_model_output_node(m);
    const size_t per = m->nodes[out].size;
    if (d->n > ((size_t)1 << 40) / (per ? per : 1))
        return ds_err_set(err, DS_ERANGE, "%s: %zu samples of %zu logits are too many", path, d->n, per);
    size_t count = d->n * per;
    float *v = malloc(sizeof *v * (count ? count : 1));
    if (!v) return ds_err_set(err, DS_ENOMEM, "%s: out of memory for %zu logits", path, d->n * per);
    ds_status st = ds_model_run(m, d, NULL, d->n, out, v, NULL, err);
    if (!st) st = ds_io_write_atomic(path, v, sizeof *v * d->n * per, DS_IO_MODE_KEEP, err);
    free(v);
    return st;
}

int cmd_eval(int argc, char **argv)
{
    ds_err err = {0};
    const char *data = NULL, *logits = NULL;
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
        case OPT_LOGITS: logits = optarg; break;
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
    if (logits && write_logits(m, &test, logits, &err)) {
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
