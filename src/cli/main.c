/* main.c - the deepsigns command: dispatch to subcommands. */
#include <signal.h>
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"
#include "cli/commands.h"

#include "deepsigns/version.h"

typedef struct cli_command {
    const char *name;
    int (*run)(int argc, char **argv);
    const char *summary;
} cli_command;

static const cli_command commands[] = {
    {"train", cmd_train, "train a model on a dataset"},
    {"eval", cmd_eval, "test accuracy of a model file"},
    {"info", cmd_info, "layers and tensors of a model file"},
    {"export", cmd_export, "write a model as an ONNX file"},
    {"embed", cmd_embed, "embed a white-box or black-box watermark"},
    {"attack", cmd_attack, "attack a model (prune, fine-tune, overwrite, ...)"},
    {"sweep", cmd_sweep, "run an experiment spec over MPI ranks"},
    {"verify", cmd_verify, "check an ownership claim with a key"},
    {"gmm", cmd_gmm, "fit a Gaussian mixture to a layer's activations"},
    {"owner", cmd_owner, "make an owner identity; show a signed commitment"},
    {"key", cmd_key, "import a key made elsewhere (NumPy .npy secrets)"},
};

static void usage(FILE *f)
{
    fprintf(f, "usage: deepsigns COMMAND [options]   (deepsigns COMMAND --help for more)\n\n"
               "DeepSigns watermarks for deep neural networks: train, embed, attack, verify.\n\n"
               "commands:\n");
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        fprintf(f, "  %-8s %s\n", commands[i].name, commands[i].summary);
}

int main(int argc, char **argv)
{
    if (argc < 2 || !strcmp(argv[1], "-h") || !strcmp(argv[1], "--help") || !strcmp(argv[1], "help")) {
        usage(argc < 2 ? stderr : stdout);
        return argc < 2 ? CLI_EXIT_ERROR : CLI_EXIT_OK;
    }
    if (!strcmp(argv[1], "--version")) {
        printf("deepsigns %s (git %s)\n", DS_VERSION, DS_GIT_REV);
        return CLI_EXIT_OK;
    }
    /* Past a file-size limit (ulimit -f), a write fails with EFBIG and is
     * reported like a full disk, instead of the signal killing the process. */
    signal(SIGXFSZ, SIG_IGN);
    /* files are read in a child process first (src/io/untrusted.c): its exit
     * status must reach waitpid even if SIGCHLD came in ignored */
    signal(SIGCHLD, SIG_DFL);
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        if (!strcmp(argv[1], commands[i].name)) return commands[i].run(argc - 1, argv + 1);
    fprintf(stderr, "deepsigns: unknown command '%s'\n", argv[1]);
    usage(stderr);
    return CLI_EXIT_ERROR;
}
