/*
 * cmd_import.c - `leadpipe import`: lead files to Avro records on a topic.
 */
#include <stdio.h>

#include "cmd.h"

/* Produces every row of the input files to a topic. */
int lp_cmd_import(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    fprintf(stderr, "leadpipe import: not built yet\n");
    return 1;
}
