/* cmd_verify.c - `deepsigns verify`: check an ownership claim on a suspect
 * model with the owner's key, and `deepsigns gmm`: fit a Gaussian mixture to a
 * layer's activations. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <math.h>
#include <string.h>
#include <strings.h>

#include "cli/cli.h"
#include "cli/commands.h"
#include "deepsigns/model_file.h"
#include "deepsigns/owner.h"
#include "deepsigns/stats.h"
#include "deepsigns/train.h"
#include "deepsigns/wm.h"

static const char verify_usage[] =
    "usage: deepsigns verify MODEL.h5 --key KEY.h5 --commitment HEX [--alpha P] [--keras] [--json]\n"
    "\n"
    "Check whether MODEL.h5 carries the watermark of KEY.h5. A claim rests only on\n"
    "what the owner published before the dispute: the key must match the commitment\n"
    "given with --commitment, whatever MODEL.h5 stores. Without --commitment, a key\n"
    "that matches the commitment stored in MODEL.h5 is checked, but a present\n"
    "watermark is reported as unpublished evidence, never as ownership: anyone can\n"
    "write a commitment into a model file.\n"
    "White-box: extracts the signature and prints the bit-error rate and the p-value\n"
    "P(Binomial(bits, 1/2) <= errors); black-box: queries the key images and prints\n"
    "the mismatches m, the threshold theta and P(Binomial(K, 1 - 1/C) <= m).\n"
    "\n"
    "  --key FILE         the owner's key file\n"
    "  --commitment HEX   the published commitment (64 hex digits)\n"
    "  --signed FILE      instead: the published signed commitment (embed --owner);\n"
    "                     its signature is checked and the claim names its signer\n"
    "  --owner FILE.pub   with --signed: the signer must be this owner\n"
    "  --alpha P          claim level: stricter than the one committed in the key\n"
    "                     (default: the key's own; a looser one is refused)\n"
    "  --keras            MODEL.h5 is a Keras weight file of an mnist-mlp (pixels/255)\n"
    "  --threads N        BLAS threads\n"
    "  --json             one JSON object\n"
    "Exit status: 0 ownership shown (published commitment), 1 not shown, 2 error\n"
    "(including a key that matches no commitment), 3 the watermark is present but\n"
    "the key matches only the commitment stored in the model (unpublished).\n";

enum { OPT_KEY = CLI_OPT_OWN, OPT_COMMITMENT, OPT_SIGNED, OPT_OWNER, OPT_ALPHA, OPT_KERAS, OPT_LAYER, OPT_COMPONENTS,
       OPT_COV, OPT_SAMPLES };

static const struct option verify_options[] = {
    {"key", required_argument, NULL, OPT_KEY},
    {"commitment", required_argument, NULL, OPT_COMMITMENT},
    {"signed", required_argument, NULL, OPT_SIGNED},
    {"owner", required_argument, NULL, OPT_OWNER},
    {"alpha", required_argument, NULL, OPT_ALPHA},
    {"keras", no_argument, NULL, OPT_KERAS},
    {"threads", required_argument, NULL, CLI_OPT_THREADS},
    {"json", no_argument, NULL, CLI_OPT_JSON},
    {"help", no_argument, NULL, 'h'},
    {NULL, 0, NULL, 0},
};

int cmd_verify(int argc, char **argv)
{
    ds_err err = {0};
    const char *key_path = NULL, *given = NULL, *signed_path = NULL, *owner_path = NULL;
    double alpha = 0;  /* the key's own */
    int keras = 0, c;
    cli_train_opts t = cli_train_defaults(0, 0, DS_SCHED_CONST);
    optind = 1;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "h", verify_options, NULL)) != -1) {
        ds_status st = DS_OK;
        if ((c == CLI_OPT_THREADS || c == CLI_OPT_JSON) && cli_train_option(c, optarg, &t, &st, &err)) {
            if (st) return cli_fail("verify", &err);
            continue;
        }
        switch (c) {
        case OPT_KEY: key_path = optarg; break;
        case OPT_COMMITMENT:
            st = cli_parse_commitment("--commitment", optarg, &given, &err);
            break;
        case OPT_ALPHA: st = cli_parse_float("--alpha", optarg, 1e-300, 0.5, &alpha, &err); break;
        case OPT_KERAS: keras = 1; break;
        case OPT_SIGNED: signed_path = optarg; break;
        case OPT_OWNER: owner_path = optarg; break;
        case 'h': fputs(verify_usage, stdout); return CLI_EXIT_OK;
        default: return cli_failf("verify", "unknown or incomplete option '%s' (see --help)", argv[optind - 1]);
        }
        if (st) return cli_fail("verify", &err);
    }
    if (optind != argc - 1) return cli_failf("verify", "expected one model file (see --help)");
    if (!key_path) return cli_failf("verify", "--key KEY.h5 is required (see --help)");
    if (signed_path && given) return cli_failf("verify", "give --commitment or --signed, not both");
    if (owner_path && !signed_path) return cli_failf("verify", "--owner needs --signed FILE");
    const char *path = argv[optind];
    cli_set_threads((int)t.threads);

    ds_wm_key k = {0};
    ds_model *m = NULL;
    ds_wm_check chk = {0};
    int rc = CLI_EXIT_ERROR;
    ds_claim_basis basis;
    ds_signed_commit sc;
    ds_owner pub;
    char fpr[DS_OWNER_FPR_HEX] = "";
    if (signed_path) {
        /* a signed statement is a published commitment once its signature holds */
        if (ds_signed_commit_load(signed_path, &sc, &err)) goto fail;
        if (owner_path && (ds_owner_load_public(owner_path, &pub, &err) ||
                           ds_signed_commit_check_owner(&sc, &pub, &err))) {
            (void)ds_err_prefix(&err, "%s: ", signed_path);
            goto fail;
        }
        ds_owner_fingerprint(sc.pk, fpr);
        given = sc.commitment;
    }
    if (cli_load_key("verify", key_path, &k, &err)) goto fail;
    if (signed_path && strcmp(sc.scheme, ds_wm_scheme_name(k.scheme))) {
        ds_err_set(&err, DS_EKEY, "%s commits to a %s key, but %s is a %s key", signed_path, sc.scheme,
                   key_path, ds_wm_scheme_name(k.scheme));
        goto fail;
    }
    if (!(m = keras ? ds_model_import_keras(path, NULL, &err) : ds_model_load(path, &err))) goto fail;
    if (cli_check_claim(m, path, keras, &k, key_path, given, alpha, &chk, &basis, &err)) goto fail;
    const ds_wb_result *wr = &chk.wb;
    const ds_bb_result *br = &chk.bb;
    const cli_verdict v = cli_claim_verdict(&chk, basis);
    if (t.json) {
        printf("{\"model\": ");
        cli_json_string(stdout, path);
        printf(", \"scheme\": \"%s\", \"commitment\": \"%s\"", ds_wm_scheme_name(k.scheme),
               cli_basis_name(basis));
        if (k.scheme == DS_WM_WHITEBOX)
            printf(", \"layer\": \"%s\", \"bits\": %d, \"errors\": %d, \"ber\": %.6f, \"p_value\": %.6g",
                   k.wb.layer, wr->total, wr->errors, wr->ber, wr->p_value);
        else
            printf(", \"keys\": %d, \"mismatches\": %d, \"theta\": %d, \"p_value\": %.6g", br->K,
                   br->mismatches, br->theta, br->p_value);
        if (signed_path) {
            printf(", \"signed_by\": ");
            cli_json_string(stdout, sc.owner);
            printf(", \"signer_fingerprint\": \"%s\", \"signed_date\": \"%s\", \"signer_pinned\": %s",
                   fpr, sc.date, owner_path ? "true" : "false");
        }
        printf(", \"alpha\": %g, \"committed_alpha\": %g, \"watermark_present\": %s, "
               "\"verdict\": \"%s\", \"owned\": %s}\n", chk.alpha, ds_wm_key_alpha(&k),
               chk.owned ? "true" : "false", cli_verdict_name(v), v == CLI_VERDICT_OWNED ? "true" : "false");
    } else {
        printf("%s: %s watermark, key commitment %s\n", path, ds_wm_scheme_name(k.scheme),
               cli_basis_name(basis));
        if (signed_path)
            printf("commitment signed by %s (fingerprint %s%s), dated %s by the signer\n", sc.owner, fpr,
                   owner_path ? ", the owner given with --owner" : "", sc.date);
        if (k.scheme == DS_WM_WHITEBOX)
            printf("layer %s: %d of %d bits wrong, BER %.4f, p-value %.3g (claim when < %g)\n",
                   k.wb.layer, wr->errors, wr->total, wr->ber, wr->p_value, chk.alpha);
        else
            printf("%d of %d keys mismatched, threshold %d (alpha %g), p-value %.3g\n", br->mismatches,
                   br->K, br->theta, chk.alpha, br->p_value);
        if (v == CLI_VERDICT_OWNED)
            printf("verdict: OWNED (the watermark is present)\n");
        else if (v == CLI_VERDICT_UNPUBLISHED)
            printf("verdict: UNPUBLISHED (the watermark is present, but the key matches only the "
                   "commitment stored in the model, which anyone can write: give the commitment "
                   "published before the dispute with --commitment)\n");
        else
            printf("verdict: not shown\n");
    }
    rc = (int)v;
    goto done;
fail:
    rc = cli_fail("verify", &err);
done:
    ds_wm_check_free(&chk);
    ds_wm_key_free(&k);
    ds_model_free(m);
    return rc;
}

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
    "  --data DIR, --format F, --seed S, --threads N, --json\n";

static const struct option gmm_options[] = {
    {"layer", required_argument, NULL, OPT_LAYER},
    {"components", required_argument, NULL, OPT_COMPONENTS},
    {"cov", required_argument, NULL, OPT_COV},
    {"samples", required_argument, NULL, OPT_SAMPLES},
    {"help", no_argument, NULL, 'h'},
    CLI_TRAIN_LONGOPTS,
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
    ds_model *m = ds_model_load(path, &err);
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
