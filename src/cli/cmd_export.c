/* cmd_export.c - `deepsigns export`: a model as an ONNX file. */
#include <getopt.h>
#include <stdio.h>

#include "cli/cli.h"
#include "cli/commands.h"
#include "deepsigns/model_file.h"
#include "deepsigns/outpath.h"

static const char export_usage[] =
    "usage: deepsigns export MODEL -o OUT.onnx [--force]\n"
    "\n"
    "Write a model (a deepsigns model file, a Keras weights file or an ONNX model) as\n"
    "an ONNX model (opset 13) that PyTorch or onnxruntime can run: one node per layer,\n"
    "named as the layer, one initializer per tensor, named as the tensor; its input\n"
    "preprocessing is kept in the metadata property " DS_ONNX_PREPROC_KEY ". Reading\n"
    "the file back (any command takes it) gives the same layers and parameters.\n"
    "\n"
    "  -o, --output FILE  ONNX file to write (atomically)\n"
    "  --force            replace a key or results file at -o\n"
    "  -h, --help         this help\n";

enum { OPT_FORCE = 256 };

static const struct option export_options[] = {
    {"output", required_argument, NULL, 'o'},
    {"force", no_argument, NULL, OPT_FORCE},
    {"help", no_argument, NULL, 'h'},
    {NULL, 0, NULL, 0},
};

int cmd_export(int argc, char **argv)
{
    ds_err err = {0};
    const char *out = NULL;
    int force = 0, c;
    optind = 1;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "ho:", export_options, NULL)) != -1) {
        switch (c) {
        case 'o': out = optarg; break;
        case OPT_FORCE: force = 1; break;
        case 'h': fputs(export_usage, stdout); return CLI_EXIT_OK;
        default: return cli_failf("export", "unknown or incomplete option '%s' (see --help)", argv[optind - 1]);
        }
    }
    if (optind != argc - 1) return cli_failf("export", "expected one model file (see --help)");
    if (!out) return cli_failf("export", "-o OUT.onnx is required (see --help)");
    if (ds_outpath_check("-o", out, force, &err)) return cli_fail("export", &err);
    const char *path = argv[optind];
    ds_model *m = ds_model_load_any(path, NULL, &err);
    if (!m) return cli_fail("export", &err);
    int rc = CLI_EXIT_OK;
    if (ds_model_export_onnx(m, out, &err))
        rc = cli_fail("export", &err);
    else
        printf("wrote %s (%s, %d layers, %zu parameters)\n", out, m->arch.name, m->nnodes - 1, m->nparams);
    ds_model_free(m);
    return rc;
}
