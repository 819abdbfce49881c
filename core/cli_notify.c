/* (being written) */
#include "update_check.h"
#include "buildconf.h"
#include <stdio.h>
int cli_check_notify(struct cli *c, const nx_check *chk, json_t *doc)
{
    (void)c;
    (void)chk;
    (void)doc;
    fprintf(stderr, "nexo-update: check --notify is not available yet in this build (%s)\n", NX_VERSION);
    return NX_EXIT_FAILED;
}
