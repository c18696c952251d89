/* cmd_verify.c - `deepsigns verify`: check an ownership claim on a suspect
 * model with the owner's key. */
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
    "  --keras            MODEL.h5 is a Keras weight file (mnist-mlp, mnist-cnn, cifar10-cnn; pixels/255)\n"
    "  --threads N        BLAS threads\n"
    "  --json             one JSON object\n"
    "Exit status: 0 ownership shown (published commitment), 1 not shown, 2 error\n"
    "(including a key that matches no commitment), 3 the watermark is present but\n"
    "the key matches only the commitment stored in the model (unpublished).\n";

enum { OPT_KEY = CLI_OPT_OWN, OPT_COMMITMENT, OPT_SIGNED, OPT_OWNER, OPT_ALPHA, OPT_KERAS };

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

typedef struct verify_args {
    const char *path, *key_path, *given, *signed_path, *owner_path;
    double alpha;  /* 0: the key's own */
    int keras;
    cli_train_opts t; /* --threads, --json */
} verify_args;

/* The command line into *a; *help when -h. */
static ds_status verify_parse(int argc, char **argv, verify_args *a, int *help, ds_err *err)
{
    memset(a, 0, sizeof *a);
    a->t = cli_train_defaults(0, 0, DS_SCHED_CONST);
    optind = 1;
    opterr = 0;
    int c;
    while ((c = getopt_long(argc, argv, "h", verify_options, NULL)) != -1) {
        ds_status st = DS_OK;
        if ((c == CLI_OPT_THREADS || c == CLI_OPT_JSON) && cli_train_option(c, optarg, &a->t, &st, err)) {
            if (st) return st;
            continue;
        }
        switch (c) {
        case OPT_KEY: a->key_path = optarg; break;
        case OPT_COMMITMENT: st = cli_parse_commitment("--commitment", optarg, &a->given, err); break;
        case OPT_ALPHA: st = cli_parse_float("--alpha", optarg, 1e-300, 0.5, &a->alpha, err); break;
        case OPT_KERAS: a->keras = 1; break;
        case OPT_SIGNED: a->signed_path = optarg; break;
        case OPT_OWNER: a->owner_path = optarg; break;
        case 'h': *help = 1; return DS_OK;
        default: return ds_err_set(err, DS_EINVAL, "unknown or incomplete option '%s' (see --help)", argv[optind - 1]);
        }
        if (st) return st;
    }
    if (optind != argc - 1) return ds_err_set(err, DS_EINVAL, "expected one model file (see --help)");
    if (!a->key_path) return ds_err_set(err, DS_EINVAL, "--key KEY.h5 is required (see --help)");
    if (a->signed_path && a->given) return ds_err_set(err, DS_EINVAL, "give --commitment or --signed, not both");
    if (a->owner_path && !a->signed_path) return ds_err_set(err, DS_EINVAL, "--owner needs --signed FILE");
    a->path = argv[optind];
    return DS_OK;
}

/* The verdict, as text or one JSON object; sc (with fingerprint fpr) when the
 * commitment came signed. */
static void verify_print(const verify_args *a, const ds_wm_key *k, const ds_wm_check *chk,
                         ds_claim_basis basis, const ds_signed_commit *sc, const char *fpr)
{
    const ds_wb_result *wr = &chk->wb;
    const ds_bb_result *br = &chk->bb;
    const cli_verdict v = cli_claim_verdict(chk, basis);
    if (a->t.json) {
        printf("{\"model\": ");
        cli_json_string(stdout, a->path);
        printf(", \"scheme\": \"%s\", \"commitment\": \"%s\"", ds_wm_scheme_name(k->scheme),
               cli_basis_name(basis));
        if (k->scheme == DS_WM_WHITEBOX) {
            char al[512];
            cli_alignment_json(chk, al, sizeof al);
            printf(", \"layer\": \"%s\", \"bits\": %d, \"errors\": %d, \"ber\": %.6f, \"p_value\": %.6g%s",
                   k->wb.layer, wr->total, wr->errors, wr->ber, wr->p_value, al);
        } else
            printf(", \"keys\": %d, \"mismatches\": %d, \"theta\": %d, \"p_value\": %.6g", br->K,
                   br->mismatches, br->theta, br->p_value);
        if (sc) {
            printf(", \"signed_by\": ");
            cli_json_string(stdout, sc->owner);
            printf(", \"signer_fingerprint\": \"%s\", \"signed_date\": \"%s\", \"signer_pinned\": %s",
                   fpr, sc->date, a->owner_path ? "true" : "false");
        }
        printf(", \"alpha\": %g, \"committed_alpha\": %g, \"watermark_present\": %s, "
               "\"verdict\": \"%s\", \"owned\": %s}\n", chk->alpha, ds_wm_key_alpha(k),
               chk->owned ? "true" : "false", cli_verdict_name(v), v == CLI_VERDICT_OWNED ? "true" : "false");
        return;
    }
    printf("%s: %s watermark, key commitment %s\n", a->path, ds_wm_scheme_name(k->scheme),
           cli_basis_name(basis));
    if (sc)
        printf("commitment signed by %s (fingerprint %s%s), dated %s by the signer\n", sc->owner, fpr,
               a->owner_path ? ", the owner given with --owner" : "", sc->date);
    if (k->scheme == DS_WM_WHITEBOX) {
        cli_alignment_print(chk);
        printf("layer %s: %d of %d bits wrong, BER %.4f, p-value %.3g (claim when < %g)\n",
               k->wb.layer, wr->errors, wr->total, wr->ber, wr->p_value, chk->alpha);
    } else
        printf("%d of %d keys mismatched, threshold %d (alpha %g), p-value %.3g\n", br->mismatches,
               br->K, br->theta, chk->alpha, br->p_value);
    if (v == CLI_VERDICT_OWNED)
        printf("verdict: OWNED (the watermark is present)\n");
    else if (v == CLI_VERDICT_UNPUBLISHED)
        printf("verdict: UNPUBLISHED (the watermark is present, but the key matches only the "
               "commitment stored in the model, which anyone can write: give the commitment "
               "published before the dispute with --commitment)\n");
    else
        printf("verdict: not shown\n");
}

int cmd_verify(int argc, char **argv)
{
    ds_err err = {0};
    verify_args a;
    int help = 0;
    if (verify_parse(argc, argv, &a, &help, &err)) return cli_fail("verify", &err);
    if (help) {
        fputs(verify_usage, stdout);
        return CLI_EXIT_OK;
    }
    cli_set_threads((int)a.t.threads);
    const char *given = a.given;
    ds_wm_key k = {0};
    ds_model *m = NULL;
    ds_wm_check chk = {0};
    int rc = CLI_EXIT_ERROR;
    ds_claim_basis basis;
    ds_signed_commit sc;
    ds_owner pub;
    char fpr[DS_OWNER_FPR_HEX] = "";
    if (a.signed_path) {
        /* a signed statement is a published commitment once its signature holds */
        if (ds_signed_commit_load(a.signed_path, &sc, &err)) goto fail;
        if (a.owner_path && (ds_owner_load_public(a.owner_path, &pub, &err) ||
                             ds_signed_commit_check_owner(&sc, &pub, &err))) {
            (void)ds_err_prefix(&err, "%s: ", a.signed_path);
            goto fail;
        }
        ds_owner_fingerprint(sc.pk, fpr);
        given = sc.commitment;
    }
    if (cli_load_key("verify", a.key_path, &k, &err)) goto fail;
    if (a.signed_path && strcmp(sc.scheme, ds_wm_scheme_name(k.scheme))) {
        ds_err_set(&err, DS_EKEY, "%s commits to a %s key, but %s is a %s key", a.signed_path, sc.scheme,
                   a.key_path, ds_wm_scheme_name(k.scheme));
        goto fail;
    }
    if (!(m = a.keras ? ds_model_import_keras(a.path, NULL, &err) : ds_model_load_any(a.path, &a.keras, &err)))
        goto fail;
    if (cli_check_claim(m, a.path, a.keras, &k, a.key_path, given, a.alpha, &chk, &basis, &err)) goto fail;
    verify_print(&a, &k, &chk, basis, a.signed_path ? &sc : NULL, fpr);
    rc = (int)cli_claim_verdict(&chk, basis);
    goto done;
fail:
    rc = cli_fail("verify", &err);
done:
    ds_wm_check_free(&chk);
    ds_wm_key_free(&k);
    ds_model_free(m);
    return rc;
}
