/* cmd_info.c - `deepsigns info`: the layers and tensors of a model file. */
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"
#include "cli/commands.h"
#include "deepsigns/model_file.h"

static const char info_usage[] =
    "usage: deepsigns info MODEL.h5 [--keras]\n"
    "\n"
    "List a model's layers (index, name, output shape) and parameter tensors.\n"
    "Layer names and indices are what --layer takes elsewhere.\n"
    "\n"
    "  --keras            MODEL.h5 is a Keras weight file (mnist-mlp or one of the CNNs)\n"
    "  -h, --help         this text\n";

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
    ds_model *m = keras ? ds_model_import_keras(path, NULL, &err) : ds_model_load_any(path, NULL, &err);
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
