/* cmd_embed.c - `deepsigns embed`: mark a model (white-box or black-box), write
 * the owner's key file (mode 0600) and the marked model with the commitment. */
#include <getopt.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli/cli.h"
#include "cli/commands.h"
#include "deepsigns/model_file.h"
#include "deepsigns/outpath.h"
#include "deepsigns/owner.h"
#include "deepsigns/wm.h"

static const char embed_usage[] =
    "usage: deepsigns embed --scheme whitebox|blackbox MODEL.h5 --key KEY.h5 -o MARKED.h5 [options]\n"
    "       deepsigns embed --scheme whitebox --arch NAME --key KEY.h5 -o MARKED.h5 [options]\n"
    "\n"
    "Embed a DeepSigns watermark into a trained model (or, with --arch instead of a\n"
    "model, train a marked model from scratch). Writes the secrets to KEY.h5 (mode\n"
    "0600: keep it private), the marked model to MARKED.h5 with a SHA-256\n"
    "commitment to the secrets, and prints the commitment for you to publish.\n"
    "\n"
    "  --scheme S         whitebox (signature in a hidden layer's activations) or\n"
    "                     blackbox (noise key images with random labels)\n"
    "  --key FILE         key file to write\n"
    "  -o, --output FILE  marked model to write (checked before any work; an\n"
    "                     existing key or results file there is refused)\n"
    "  --force            replace a key or results file at -o (never at --key)\n"
    "  --arch NAME        white-box from scratch: architecture to train\n"
    "  --owner FILE.sec   sign the commitment, dated, as this owner (deepsigns owner\n"
    "                     init) and write the signed commitment to publish\n"
    "  --signed FILE      where the signed commitment goes (default MARKED.h5.commitment)\n"
    "white-box:\n"
    "  --layer L          hidden layer by name or index (default: the feature layer\n"
    "                     before the output, e.g. relu_2 of mnist-mlp)\n"
    "  --bits N           bits per target class (default 32)\n"
    "  --targets S        number of target classes, drawn at random (default 2)\n"
    "  --classes k,...    the target classes themselves\n"
    "  --keys-per-class n key images per target class from the key pool (default 100)\n"
    "  --lambda X         weight of the signature loss at the target classes' mean\n"
    "                     activations (default 0.003)\n"
    "  --probes P         probe images of the key's reference, which lets verify\n"
    "                     realign a permuted, rescaled or widened layer (default\n"
    "                     256; 0: no reference, the layer must then keep its units)\n"
    "  --lambda1 X        weight of the class-centre terms of the paper's loss\n"
    "                     (centre, separation, norm, bits on the centres; default\n"
    "                     0 = off: they cost accuracy, see src/wm/whitebox.c)\n"
    "black-box:\n"
    "  --keys K           number of key images (default 20)\n"
    "  --candidates F     candidates drawn per key (default 30)\n"
    "claim (both schemes):\n"
    "  --alpha P          the claim level committed in the key (default 1e-4):\n"
    "                     white-box: owned when the bit p-value is below P;\n"
    "                     black-box: the threshold theta keeps false claims below P.\n"
    "                     verify can be stricter, never looser\n"
    "training (white-box: embedding epochs; black-box: fine-tuning epochs per round):\n"
    CLI_TRAIN_HELP
    "Without --seed, the key material comes from a fresh secret seed (libsodium's\n"
    "randombytes), so no one can regenerate your key; --seed S makes it reproducible\n"
    "(for experiments: anyone who knows S and the data can then rebuild the key).\n"
    "Defaults here: white-box on a trained model 3 epochs of SGD lr 0.01 (constant);\n"
    "from scratch 5 epochs of SGD lr 0.05 (cosine); black-box 2 epochs of Nesterov SGD lr 0.01.\n"
    "  -h, --help         this help\n";

enum {
    OPT_SCHEME = CLI_OPT_OWN, OPT_KEY, OPT_ARCH, OPT_LAYER, OPT_BITS, OPT_TARGETS, OPT_CLASSES,
    OPT_KEYS_PER_CLASS, OPT_LAMBDA, OPT_LAMBDA1, OPT_KEYS, OPT_CANDIDATES, OPT_ALPHA, OPT_OWNER,
    OPT_SIGNED, OPT_FORCE, OPT_PROBES,
};

static const struct option embed_options[] = {
    {"scheme", required_argument, NULL, OPT_SCHEME},
    {"key", required_argument, NULL, OPT_KEY},
    {"output", required_argument, NULL, 'o'},
    {"arch", required_argument, NULL, OPT_ARCH},
    {"layer", required_argument, NULL, OPT_LAYER},
    {"bits", required_argument, NULL, OPT_BITS},
    {"targets", required_argument, NULL, OPT_TARGETS},
    {"classes", required_argument, NULL, OPT_CLASSES},
    {"keys-per-class", required_argument, NULL, OPT_KEYS_PER_CLASS},
    {"lambda", required_argument, NULL, OPT_LAMBDA},
    {"lambda1", required_argument, NULL, OPT_LAMBDA1},
    {"probes", required_argument, NULL, OPT_PROBES},
    {"keys", required_argument, NULL, OPT_KEYS},
    {"candidates", required_argument, NULL, OPT_CANDIDATES},
    {"alpha", required_argument, NULL, OPT_ALPHA},
    {"owner", required_argument, NULL, OPT_OWNER},
    {"signed", required_argument, NULL, OPT_SIGNED},
    {"help", no_argument, NULL, 'h'},
    {"force", no_argument, NULL, OPT_FORCE},
    CLI_TRAIN_LONGOPTS,
    {NULL, 0, NULL, 0},
};

enum { MAX_TARGETS = 1024 };

typedef struct embed_args {
    ds_wm_scheme scheme;
    const char *model, *key, *out, *arch, *owner;
    char signed_path[4096];   /* the signed commitment (with --owner) */
    ds_wb_opts wb;
    ds_bb_opts bb;
    int targets[MAX_TARGETS];
    int epochs_given;
    int force; /* --force: -o may replace a key or results file */
    cli_train_opts t;
} embed_args;

/* "3,7" -> targets {3, 7}, *n = 2 */
static ds_status embed_parse(int argc, char **argv, embed_args *a, int *help, ds_err *err)
{
    memset(a, 0, sizeof *a);
    a->wb = ds_wb_defaults();
    a->bb = ds_bb_defaults();
    a->t = cli_train_defaults(3, 0.01, DS_SCHED_CONST);
    ds_status st = DS_OK;
    long v;
    double x;
    int c, ntargets = 0;
    optind = 1;
    opterr = 0;
    while (!st && (c = getopt_long(argc, argv, "o:h", embed_options, NULL)) != -1) {
        if (cli_train_option(c, optarg, &a->t, &st, err)) {
            a->epochs_given |= c == CLI_OPT_EPOCHS;
            continue;
        }
        switch (c) {
        case OPT_SCHEME: st = ds_wm_scheme_parse(optarg, &a->scheme, err); break;
        case OPT_KEY: a->key = optarg; break;
        case 'o': a->out = optarg; break;
        case OPT_FORCE: a->force = 1; break;
        case OPT_ARCH: a->arch = optarg; break;
        case OPT_LAYER: a->wb.layer = optarg; break;
        case OPT_BITS: if (!(st = cli_parse_int_in("--bits", optarg, DS_RANGE_WB_BITS, &v, err))) a->wb.N = (int)v; break;
        case OPT_TARGETS: if (!(st = cli_parse_int_in("--targets", optarg, DS_RANGE_TARGETS, &v, err))) a->wb.s = (int)v; break;
        case OPT_CLASSES: st = cli_parse_int_list("--classes", optarg, 0, 100000, a->targets, MAX_TARGETS, &ntargets, err); break;
        case OPT_KEYS_PER_CLASS:
            if (!(st = cli_parse_int_in("--keys-per-class", optarg, DS_RANGE_KEYS_PER_CLASS, &v, err))) a->wb.keys_per_class = (int)v;
            break;
        case OPT_LAMBDA:
            if (!(st = cli_parse_float("--lambda", optarg, 0, 100, &x, err))) a->wb.lambda2 = (float)x;
            break;
        case OPT_PROBES:
            if (!(st = cli_parse_int("--probes", optarg, 0, DS_WB_PROBES_MAX, &v, err))) a->wb.probes = (int)v;
            break;
        case OPT_LAMBDA1:
            if (!(st = cli_parse_float("--lambda1", optarg, 0, 100, &x, err))) a->wb.lambda1 = (float)x;
            break;
        case OPT_KEYS: if (!(st = cli_parse_int_in("--keys", optarg, DS_RANGE_BB_KEYS, &v, err))) a->bb.K = (int)v; break;
        case OPT_CANDIDATES:
            if (!(st = cli_parse_int("--candidates", optarg, 1, 1000, &v, err))) a->bb.candidates_factor = (int)v;
            break;
        case OPT_OWNER: a->owner = optarg; break;
        case OPT_SIGNED:
            if (strlen(optarg) >= sizeof a->signed_path) return ds_err_set(err, DS_EINVAL, "--signed: path too long");
            strcpy(a->signed_path, optarg);
            break;
        case OPT_ALPHA:
            if (!(st = cli_parse_float("--alpha", optarg, 1e-300, 0.5, &x, err))) a->wb.alpha = a->bb.alpha = x;
            break;
        case 'h': *help = 1; return DS_OK;
        default:
            return ds_err_set(err, DS_EINVAL, "unknown or incomplete option '%s' (see --help)", argv[optind - 1]);
        }
    }
    if (st) return st;
    if (ntargets) {
        a->wb.s = ntargets;
        a->wb.targets = a->targets;
    }
    if (optind < argc) a->model = argv[optind++];
    if (optind < argc) return ds_err_set(err, DS_EINVAL, "unexpected argument '%s'", argv[optind]);
    if (!a->scheme) return ds_err_set(err, DS_EINVAL, "--scheme whitebox|blackbox is required (see --help)");
    if (!a->key) return ds_err_set(err, DS_EINVAL, "--key KEY.h5 is required (see --help)");
    if (!a->out) return ds_err_set(err, DS_EINVAL, "-o MARKED.h5 is required (see --help)");
    if (!a->model == !a->arch) return ds_err_set(err, DS_EINVAL, "give either a model file or --arch (see --help)");
    if (!strcmp(a->key, a->out)) return ds_err_set(err, DS_EINVAL, "-o and --key name the same file '%s'", a->out);
    if (a->signed_path[0] && !a->owner) return ds_err_set(err, DS_EINVAL, "--signed needs --owner FILE.sec");
    if (a->owner && !a->signed_path[0] &&
        (size_t)snprintf(a->signed_path, sizeof a->signed_path, "%s.commitment", a->out) >= sizeof a->signed_path)
        return ds_err_set(err, DS_EINVAL, "-o: path too long");
    if (a->arch && a->scheme != DS_WM_WHITEBOX)
        return ds_err_set(err, DS_EINVAL, "--arch (from scratch) is for --scheme whitebox; black-box marks a trained model");
    if (a->arch && !a->epochs_given) a->t.epochs = 5;
    if (a->arch && !a->t.lr_given) a->t.lr = 0.05;
    if (a->arch && !a->t.sched_given) a->t.sched = DS_SCHED_COSINE;
    if (a->scheme == DS_WM_BLACKBOX && !a->epochs_given) a->t.epochs = 2;
    if (!a->t.seed_given) {
        /* a secret seed: the key (targets, bits, A, key images) cannot be rebuilt */
        if (sodium_init() < 0) return ds_err_set(err, DS_ELIB, "libsodium failed to initialise");
        randombytes_buf(&a->t.seed, sizeof a->t.seed);
    }
    a->wb.seed = a->bb.seed = a->t.seed;
    a->bb.epochs = (int)a->t.epochs;
    a->bb.lr = (float)a->t.lr;
    a->bb.batch = (int)a->t.batch;
    a->bb.progress = !a->t.quiet;
    return DS_OK;
}

/* After a failure, remove the key file this run wrote (it did not exist before):
 * no marked model refers to it, and it would block running the command again. */
static void remove_written_key(const char *key, ds_err *err)
{
    if (unlink(key) != 0) return;
    char msg[DS_ERR_MSG_MAX];
    snprintf(msg, sizeof msg, "%s", err->msg);
    ds_err_set(err, err->code, "%s (the key file %s this run wrote was removed)", msg, key);
}

/* -o must not be the key file just written (two names of one file). */
static ds_status check_not_key(const char *out, const char *key, ds_err *err)
{
    struct stat so, sk;
    if (stat(out, &so) == 0 && stat(key, &sk) == 0 && so.st_dev == sk.st_dev && so.st_ino == sk.st_ino)
        return ds_err_set(err, DS_EINVAL, "-o %s and --key %s name the same file", out, key);
    return DS_OK;
}

/* A new model for white-box embedding from scratch. */
static ds_model *embed_new_model(const embed_args *a, const ds_dataset *train, ds_err *err)
{
    ds_arch arch;
    if (ds_arch_defaults(a->arch, train->c, train->h, train->w, train->num_classes, &arch, err)) return NULL;
    ds_model *m = ds_model_build(&arch, err);
    if (!m) return NULL;
    ds_model_init_params(m, a->t.seed);
    m->meta.preproc = cli_preproc(&a->t, train);
    snprintf(m->meta.dataset, sizeof m->meta.dataset, "%s", a->t.data ? a->t.data : DS_DEFAULT_DATA_DIR);
    return m;
}

static void print_result(const embed_args *a, const ds_model *m, const ds_wm_key *k,
                         const char *commit, double acc_before, double acc_after,
                         const ds_wb_result *wr, const ds_bb_result *br)
{
    if (a->t.json) {
        printf("{\"scheme\": \"%s\", \"model\": ", ds_wm_scheme_name(a->scheme));
        cli_json_string(stdout, a->out);
        printf(", \"key\": ");
        cli_json_string(stdout, a->key);
        printf(", \"commitment\": \"%s\", \"alpha\": %g, \"seed\": \"%s\", "
               "\"accuracy_before\": %.6f, \"accuracy\": %.6f", commit, ds_wm_key_alpha(k),
               a->t.seed_given ? "given" : "secret", acc_before, acc_after);
        if (a->owner) {
            printf(", \"signed_commitment\": ");
            cli_json_string(stdout, a->signed_path);
        }
        if (wr)
            printf(", \"layer\": \"%s\", \"bits\": %d, \"ber\": %.6f, \"p_value\": %.6g", k->wb.layer,
                   wr->total, wr->ber, wr->p_value);
        if (br)
            printf(", \"keys\": %d, \"mismatches\": %d, \"theta\": %d, \"p_value\": %.6g", br->K,
                   br->mismatches, br->theta, br->p_value);
        printf("}\n");
        return;
    }
    printf("marked %s (%s): test accuracy %.4f -> %.4f\n", m->arch.name,
           ds_wm_scheme_name(a->scheme), acc_before, acc_after);
    if (wr)
        printf("white-box: %d bits in layer %s, BER %.4f (p-value %.3g)\n", wr->total, k->wb.layer,
               wr->ber, wr->p_value);
    if (br)
        printf("black-box: %d keys, %d mismatches, threshold %d (p-value %.3g)\n", br->K,
               br->mismatches, br->theta, br->p_value);
    printf("wrote %s and key %s (keep it private; %s seed, claim level %g)\n", a->out, a->key,
           a->t.seed_given ? "given" : "secret", ds_wm_key_alpha(k));
    printf("commitment (publish this): %s\n", commit);
    if (a->owner) printf("signed commitment (publish this): %s\n", a->signed_path);
}

int cmd_embed(int argc, char **argv)
{
    ds_err err = {0};
    embed_args a;
    int help = 0;
    if (embed_parse(argc, argv, &a, &help, &err)) return cli_fail("embed", &err);
    if (help) { fputs(embed_usage, stdout); return CLI_EXIT_OK; }
    cli_set_threads((int)a.t.threads);

    ds_dataset train = {0}, test = {0};
    ds_split sp = {0};
    ds_model *m = NULL;
    ds_wm_key key = {0};
    ds_wb_result wr = {0};
    ds_bb_result br = {0};
    uint32_t *idx = NULL;
    int rc = CLI_EXIT_ERROR, key_written = 0;
    double acc_before = 0.0, acc_after;
    const char *data = a.t.data ? a.t.data : DS_DEFAULT_DATA_DIR;
    char commit[DS_COMMIT_HEX], attr[64];
    ds_owner owner = {0};
    ds_signed_commit sc;
    int loose = 0;
    if (access(a.key, F_OK) == 0) {
        ds_err_set(&err, DS_EINVAL, "%s exists: refusing to overwrite a key file (remove it or choose another path)", a.key);
        goto fail;
    }
    if (ds_outpath_check("--key", a.key, 0, &err) || ds_outpath_check("-o", a.out, a.force, &err)) goto fail;
    if (a.owner && ds_outpath_check("--signed", a.signed_path, 0, &err)) goto fail;
    if (a.owner && access(a.signed_path, F_OK) == 0) {
        ds_err_set(&err, DS_EINVAL, "%s exists: refusing to replace a signed commitment (remove it or give --signed)", a.signed_path);
        goto fail;
    }
    if (a.owner && ds_owner_load_secret(a.owner, &owner, &loose, &err)) goto fail;
    if (loose)
        fprintf(stderr, "deepsigns embed: warning: %s is readable or writable by others (chmod 600 it: "
                        "it holds your secret key)\n", a.owner);
    if (a.model && !(m = ds_model_load_any(a.model, NULL, &err))) goto fail;
    if (m && a.scheme == DS_WM_BLACKBOX && ds_bb_keys_check(a.bb.K, m->arch.classes, a.bb.alpha, &err)) {
        (void)ds_err_prefix(&err, "--keys %d: ", a.bb.K);
        goto fail;
    }
    if (cli_load_data(a.t.data, a.t.format, &train, &test, &err)) goto fail;
    if (ds_split_make_default(train.n, a.t.split_seed, &sp, &err)) goto fail;
    size_t n;
    if (!(idx = ds_split_owner(&sp, &n))) {
        ds_err_set(&err, DS_ENOMEM, "out of memory");
        goto fail;
    }
    if (!m && !(m = embed_new_model(&a, &train, &err))) goto fail;
    if (a.model && ds_evaluate(m, &test, NULL, test.n, 0, &acc_before, NULL, &err)) {
        (void)ds_err_prefix(&err, "%s on %s: ", a.model, data);
        goto fail;
    }
    if (a.scheme == DS_WM_WHITEBOX) {
        ds_train_cfg cfg = cli_train_cfg(&a.t);
        if (ds_wb_keygen(m, &train, sp.keypool, sp.n_keypool, &a.wb, &key, &err)) goto fail;
        if (ds_wb_embed(m, &key, &train, idx, n, &cfg, a.model == NULL, NULL, &err)) goto fail;
        if (ds_wb_extract(m, &key, &wr, &err)) goto fail;
    } else {
        if (ds_bb_embed(m, &train, idx, n, &a.bb, &key, &err)) goto fail;
        if (ds_bb_detect(m, &key, &br, &err)) goto fail;
    }
    if (ds_evaluate(m, &test, NULL, test.n, 0, &acc_after, NULL, &err)) goto fail;
    m->meta.test_accuracy = acc_after;
    if (ds_key_commitment(&key, commit, &err)) goto fail;
    if (ds_key_save(&key, a.key, &err)) goto fail;
    key_written = 1;
    if (check_not_key(a.out, a.key, &err)) goto fail;
    if (ds_model_save(m, a.out, &err)) goto fail;
    key_written = 0; /* the marked model exists now: its key stays, whatever happens next */
    snprintf(attr, sizeof attr, "commitment_%s", ds_wm_scheme_name(a.scheme));
    if (ds_model_file_set_attr_string(a.out, attr, commit, &err)) goto fail;
    if (a.owner && (ds_signed_commit_make(&owner, commit, ds_wm_scheme_name(a.scheme), NULL, &sc, &err) ||
                    ds_signed_commit_save(&sc, a.signed_path, &err)))
        goto fail;
    print_result(&a, m, &key, commit, acc_before, acc_after, a.scheme == DS_WM_WHITEBOX ? &wr : NULL,
                 a.scheme == DS_WM_BLACKBOX ? &br : NULL);
    rc = CLI_EXIT_OK;
    goto done;
fail:
    if (key_written) remove_written_key(a.key, &err);
    rc = cli_fail("embed", &err);
done:
    free(idx);
    ds_wb_result_free(&wr);
    ds_owner_wipe(&owner);
    ds_wm_key_free(&key);
    ds_model_free(m);
    ds_split_free(&sp);
    ds_dataset_free(&train);
    ds_dataset_free(&test);
    return rc;
}
