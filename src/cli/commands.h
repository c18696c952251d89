/* commands.h - the subcommands of the deepsigns program; each returns an exit code. */
#ifndef DEEPSIGNS_CLI_COMMANDS_H
#define DEEPSIGNS_CLI_COMMANDS_H

int cmd_train(int argc, char **argv);
int cmd_eval(int argc, char **argv);
int cmd_info(int argc, char **argv);
int cmd_embed(int argc, char **argv);
int cmd_verify(int argc, char **argv);
int cmd_gmm(int argc, char **argv);
int cmd_attack(int argc, char **argv);
int cmd_sweep(int argc, char **argv);
int cmd_owner(int argc, char **argv);
int cmd_export(int argc, char **argv);
int cmd_key(int argc, char **argv);

#endif
