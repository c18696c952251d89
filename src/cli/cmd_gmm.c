/* cmd_gmm.c - `deepsigns gmm`: fit a Gaussian mixture to a layer's activations
 * on training images and report how well it fits. */
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "cli/commands.h"
#include "deepsigns/model_file.h"
#include "deepsigns/stats.h"
#include "deepsigns/train.h"
#include "deepsigns/wm.h"

enum { OPT_LAYER = CLI_OPT_OWN, OPT_COMPONENTS, OPT_COV, OPT_SAMPLES };

static const char gmm_usage[] =
    "usage: deepsigns gmm MODEL.h5 [--layer L] [--components C] [--cov diag|full] [--json]\n"
    "\n"
    "Fit a Gaussian mixture by EM (k-means++ start) to a layer's activations on\n"
    "training images and report how well they fit: mean log-likelihood per\n"
    "sample, iterations, the weight of each component, and the separation of the\n"
    "components (nearest-mean distance over the mean standard deviation).\n"
    "\n"
    "  --layer L          layer by name or index (default: the feature layer before the output)\n"
    "  --components C     components (default: the number of classes)\n"
    "  --cov diag|full    covariance (default diag)\n"
    "  --samples N        training images used (default 5000)\n"
    "  --data DIR, --format F   training data (default " DS_DEFAULT_DATA_DIR ")\n"
    "  --seed S           the k-means++ start (default 1)\n"
    "  --threads N        BLAS threads\n"
    "  --json             one JSON object\n";

static const struct option gmm_options[] = {
    {"layer", required_argument, NULL, OPT_LAYER},
    {"components", required_argument, NULL, OPT_COMPONENTS},
    {"cov", required_argument, NULL, OPT_COV},
    {"samples", required_argument, NULL, OPT_SAMPLES},
    {"data", required_argument, NULL, CLI_OPT_DATA},
    {"format", required_argument, NULL, CLI_OPT_FORMAT},
    {"seed", required_argument, NULL, CLI_OPT_SEED},
    {"threads", required_argument, NULL, CLI_OPT_THREADS},
    {"json", no_argument, NULL, CLI_OPT_JSON},
    {"help", no_argument, NULL, 'h'},
    {NULL, 0, NULL, 0},
};

/* min over components of the distance to the nearest other mean, divided by the
 * mean per-dimension standard deviation */
static double gmm_separation(const ds_gmm *g)
{
    double sd = 0.0;
    for (int k = 0; k < g->k; k++)
        for (int j = 0; j < g->d; j++)
            sd += sqrt(g->cov == DS_GMM_DIAG ? g->var[(size_t)k * g->d + j]
                                             : g->var[((size_t)k * g->d + j) * g->d + j]);
    sd /= (double)g->k * g->d;
    double best = INFINITY;
    for (int a = 0; a < g->k; a++)
        for (int b = a + 1; b < g->k; b++) {
            double d2 = 0.0;
            for (int j = 0; j < g->d; j++) {
                double d = g->mean[(size_t)a * g->d + j] - g->mean[(size_t)b * g->d + j];
                d2 += d * d;
            }
            best = fmin(best, sqrt(d2));
        }
    return sd > 0 ? best / sd : 0.0;
}

int cmd_gmm(int argc, char **argv)
{
    ds_err err = {0};
    const char *layer = NULL;
    long comps = 0, samples = 5000;
    ds_gmm_cov cov = DS_GMM_DIAG;
    cli_train_opts t = cli_train_defaults(0, 0, DS_SCHED_CONST);
    int c;
    optind = 1;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "h", gmm_options, NULL)) != -1) {
        ds_status st = DS_OK;
        if (cli_train_option(c, optarg, &t, &st, &err)) {
            if (st) return cli_fail("gmm", &err);
            continue;
        }
        switch (c) {
        case OPT_LAYER: layer = optarg; break;
        case OPT_COMPONENTS: st = cli_parse_int("--components", optarg, 1, 10000, &comps, &err); break;
        case OPT_SAMPLES: st = cli_parse_int("--samples", optarg, 2, 10000000, &samples, &err); break;
        case OPT_COV:
            if (!strcmp(optarg, "diag")) cov = DS_GMM_DIAG;
            else if (!strcmp(optarg, "full")) cov = DS_GMM_FULL;
            else return cli_failf("gmm", "--cov: expected diag or full, got '%s'", optarg);
            break;
        case 'h': fputs(gmm_usage, stdout); return CLI_EXIT_OK;
        default: return cli_failf("gmm", "unknown or incomplete option '%s' (see --help)", argv[optind - 1]);
        }
        if (st) return cli_fail("gmm", &err);
    }
    if (optind != argc - 1) return cli_failf("gmm", "expected one model file (see --help)");
    const char *path = argv[optind];
    cli_set_threads((int)t.threads);
    ds_model *m = ds_model_load_any(path, NULL, &err);
    if (!m) return cli_fail("gmm", &err);
    ds_dataset train = {0}, test = {0};
    float *act = NULL;
    uint32_t *idx = NULL;
    ds_gmm *g = NULL;
    int rc = CLI_EXIT_ERROR;
    if (!layer) layer = ds_wb_default_layer(m);
    int node = ds_model_find_node(m, layer); /* node 0, the input (preprocessed pixels), too */
    if (node < 0) {
        ds_err_set(&err, DS_EINVAL, "no layer '%s' in %s (see deepsigns info)", layer, path);
        goto fail;
    }
    if (cli_load_data(t.data, t.format, &train, &test, &err)) goto fail;
    size_t n = (size_t)samples < train.n ? (size_t)samples : train.n, M = m->nodes[node].size;
    act = malloc(sizeof *act * n * M);
    idx = malloc(sizeof *idx * n);
    if (!act || !idx) {
        ds_err_set(&err, DS_ENOMEM, "out of memory for %zu x %zu activations", n, M);
        goto fail;
    }
    for (size_t i = 0; i < n; i++) idx[i] = (uint32_t)(i * train.n / n);
    if (ds_model_run(m, &train, idx, n, node, act, NULL, &err)) goto fail;
    ds_gmm_opts go = ds_gmm_defaults(comps ? (int)comps : m->arch.classes);
    go.cov = cov;
    ds_rng r;
    ds_rng_init(&r, t.seed, 0x474D4D /* "GMM" */);
    if (!(g = ds_gmm_fit(act, n, (int)M, NULL, &go, &r, NULL, &err))) goto fail;
    double sep = gmm_separation(g);
    if (t.json) {
        printf("{\"model\": ");
        cli_json_string(stdout, path);
        printf(", \"layer\": \"%s\", \"dims\": %zu, \"samples\": %zu, \"components\": %d, "
               "\"covariance\": \"%s\", \"loglik\": %.6f, \"iterations\": %d, \"converged\": %s, "
               "\"separation\": %.6f, \"weights\": [",
               m->nodes[node].name, M, n, g->k, cov == DS_GMM_DIAG ? "diag" : "full", g->loglik,
               g->iters, g->converged ? "true" : "false", sep);
        for (int k = 0; k < g->k; k++) printf("%s%.6f", k ? ", " : "", g->weight[k]);
        printf("]}\n");
    } else {
        printf("%s layer %s (%zu dims), %zu training images, %d components (%s covariance)\n", path,
               m->nodes[node].name, M, n, g->k, cov == DS_GMM_DIAG ? "diagonal" : "full");
        printf("mean log-likelihood %.4f per sample after %d EM iterations (%s)\n", g->loglik,
               g->iters, g->converged ? "converged" : "not converged");
        printf("separation (nearest means / mean sd) %.3f\nweights:", sep);
        for (int k = 0; k < g->k; k++) printf(" %.3f", g->weight[k]);
        printf("\n");
    }
    rc = CLI_EXIT_OK;
    goto done;
fail:
    rc = cli_fail("gmm", &err);
done:
    ds_gmm_free(g);
    free(act);
    free(idx);
    ds_model_free(m);
    ds_dataset_free(&train);
    ds_dataset_free(&test);
    return rc;
}
