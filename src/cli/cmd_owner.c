/* cmd_owner.c - `deepsigns owner`: make an owner identity (an Ed25519 key
 * pair) and show an identity file or a signed commitment (docs/owner.md). */
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"
#include "cli/commands.h"
#include "deepsigns/owner.h"
#include "io/untrusted.h"  /* ds_io_check_regular */

static const char owner_usage[] =
    "usage: deepsigns owner init --name NAME [-o PREFIX] [--json]\n"
    "       deepsigns owner show FILE [--json]\n"
    "\n"
    "init: make an owner identity: PREFIX.sec (the secret key, mode 0600: keep it\n"
    "private) and PREFIX.pub (publish it). `embed --owner PREFIX.sec` then signs the\n"
    "commitment of every key it makes, with the date, and `verify --signed FILE\n"
    "[--owner PREFIX.pub]` checks such a signed commitment.\n"
    "show: print the name and fingerprint of a .pub or .sec file, or verify a signed\n"
    "commitment and print what it says (exit 2 when its signature does not verify).\n"
    "\n"
    "  --name NAME        who you are (a label, printable, no newline)\n"
    "  -o, --output P     prefix of the two files (default: owner)\n"
    "  --json             one JSON object\n"
    "  -h, --help         this help\n";

enum { OPT_NAME = CLI_OPT_OWN };

static const struct option owner_options[] = {
    {"name", required_argument, NULL, OPT_NAME},
    {"output", required_argument, NULL, 'o'},
    {"json", no_argument, NULL, CLI_OPT_JSON},
    {"help", no_argument, NULL, 'h'},
    {NULL, 0, NULL, 0},
};

static int owner_init(const char *name, const char *prefix, int json)
{
    ds_err err = {0};
    char sec[4096], pub[4096], fpr[DS_OWNER_FPR_HEX];
    if (!name) return cli_failf("owner", "init: --name NAME is required (see --help)");
    if ((size_t)snprintf(sec, sizeof sec, "%s.sec", prefix) >= sizeof sec ||
        (size_t)snprintf(pub, sizeof pub, "%s.pub", prefix) >= sizeof pub)
        return cli_failf("owner", "init: -o prefix too long");
    ds_owner o;
    ds_status st = ds_owner_generate(name, &o, &err);
    if (!st) st = ds_owner_save_public(&o, pub, &err);
    if (!st && (st = ds_owner_save_secret(&o, sec, &err))) remove(pub);  /* both or neither */
    ds_owner_fingerprint(o.pk, fpr);
    ds_owner_wipe(&o);
    if (st) return cli_fail("owner", &err);
    if (json) {
        printf("{\"name\": ");
        cli_json_string(stdout, name);
        printf(", \"fingerprint\": \"%s\", \"secret\": ", fpr);
        cli_json_string(stdout, sec);
        printf(", \"public\": ");
        cli_json_string(stdout, pub);
        printf("}\n");
    } else {
        printf("owner %s, fingerprint %s\nwrote %s (secret, keep it private) and %s (publish it)\n",
               name, fpr, sec, pub);
    }
    return CLI_EXIT_OK;
}

static int owner_show(const char *path, int json)
{
    ds_err err = {0};
    char fpr[DS_OWNER_FPR_HEX], head[64] = "";
    /* peek at the first line to tell the kind; a FIFO would block the peek */
    if (ds_io_check_regular(path, &err)) return cli_fail("owner", &err);
    FILE *fp = fopen(path, "rb");
    if (fp) {
        if (!fgets(head, sizeof head, fp)) head[0] = '\0';
        fclose(fp);
    }
    if (!strncmp(head, DS_SIGNED_COMMIT_MAGIC, strlen(DS_SIGNED_COMMIT_MAGIC))) {
        ds_signed_commit s;
        if (ds_signed_commit_load(path, &s, &err)) return cli_fail("owner", &err);
        ds_owner_fingerprint(s.pk, fpr);
        if (json) {
            printf("{\"commitment\": \"%s\", \"scheme\": \"%s\", \"date\": \"%s\", \"owner\": ",
                   s.commitment, s.scheme, s.date);
            cli_json_string(stdout, s.owner);
            printf(", \"fingerprint\": \"%s\", \"signature\": \"valid\"}\n", fpr);
        } else {
            printf("%s: signed commitment, signature valid\ncommitment %s (%s)\nsigned by %s "
                   "(fingerprint %s), dated %s (the signer's own date)\n",
                   path, s.commitment, s.scheme, s.owner, fpr, s.date);
        }
        return CLI_EXIT_OK;
    }
    ds_owner o;
    int secret = !strncmp(head, DS_OWNER_SECRET_MAGIC, strlen(DS_OWNER_SECRET_MAGIC)), loose = 0;
    ds_status st = secret ? ds_owner_load_secret(path, &o, &loose, &err)
                          : ds_owner_load_public(path, &o, &err);
    if (st) return cli_fail("owner", &err);
    if (loose)
        fprintf(stderr, "deepsigns owner: warning: %s is readable or writable by others "
                        "(chmod 600 it: it holds your secret key)\n", path);
    ds_owner_fingerprint(o.pk, fpr);
    if (json) {
        printf("{\"kind\": \"%s\", \"name\": ", secret ? "secret" : "public");
        cli_json_string(stdout, o.name);
        printf(", \"fingerprint\": \"%s\"}\n", fpr);
    } else {
        printf("%s: owner %s file, name %s, fingerprint %s\n", path, secret ? "secret" : "public",
               o.name, fpr);
    }
    ds_owner_wipe(&o);
    return CLI_EXIT_OK;
}

int cmd_owner(int argc, char **argv)
{
    const char *name = NULL, *prefix = "owner";
    int json = 0, c;
    if (argc < 2 || !strcmp(argv[1], "-h") || !strcmp(argv[1], "--help")) {
        fputs(owner_usage, argc < 2 ? stderr : stdout);
        return argc < 2 ? CLI_EXIT_ERROR : CLI_EXIT_OK;
    }
    const char *verb = argv[1];
    optind = 2;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "o:h", owner_options, NULL)) != -1) {
        switch (c) {
        case OPT_NAME: name = optarg; break;
        case 'o': prefix = optarg; break;
        case CLI_OPT_JSON: json = 1; break;
        case 'h': fputs(owner_usage, stdout); return CLI_EXIT_OK;
        default: return cli_failf("owner", "unknown or incomplete option '%s' (see --help)", argv[optind - 1]);
        }
    }
    if (!strcmp(verb, "init")) {
        if (optind != argc) return cli_failf("owner", "init: unexpected argument '%s'", argv[optind]);
        return owner_init(name, prefix, json);
    }
    if (!strcmp(verb, "show")) {
        if (optind != argc - 1) return cli_failf("owner", "show: expected one file (see --help)");
        return owner_show(argv[optind], json);
    }
    return cli_failf("owner", "unknown subcommand '%s' (expected init or show)", verb);
}
