/*
 * cmd.h - the subcommands of the leadpipe binary.
 *
 * Each takes the arguments after its own name (argv[0] is the subcommand) and
 * returns the process exit status: 0 success, 1 runtime failure, 2 usage or
 * configuration error.
 */
#ifndef LP_CMD_H
#define LP_CMD_H

int lp_cmd_check(int argc, char **argv);
int lp_cmd_batch(int argc, char **argv);
int lp_cmd_gen(int argc, char **argv);
int lp_cmd_run(int argc, char **argv);
int lp_cmd_broker(int argc, char **argv);
int lp_cmd_import(int argc, char **argv);
int lp_cmd_bench(int argc, char **argv);
int lp_cmd_cache(int argc, char **argv);

#endif
