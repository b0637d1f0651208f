/*
 * cmd_broker.c - `leadpipe broker`: the embedded development broker.
 */
#include <stdio.h>

#include "cmd.h"

/* Serves the embedded broker until SIGINT or SIGTERM. */
int lp_cmd_broker(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    fprintf(stderr, "leadpipe broker: not built yet\n");
    return 1;
}
