/* (being written this session) */
#include "cli.h"
#include <stdio.h>
int cmd_backups(struct cli *c, int argc, char **argv)
{
    (void)c;
    (void)argc;
    fprintf(stderr, "nexo-update: '%s' is not available yet in this build\n", argv[0]);
    return NX_EXIT_FAILED;
}
