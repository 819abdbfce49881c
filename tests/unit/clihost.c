/* The three functions of core/main.c that the commands call, for the unit
 * tests and fuzz targets that link the command files (core/cli_*.c)
 * without main.c: the configuration from c->config_path, no confirmation
 * (as without a terminal), JSON documents on stdout. */
#include <stdio.h>
#include <stdlib.h>

#include "cli.h"

nx_config *cli_config(struct cli *c)
{
    if (!c->cfg) {
        nx_err e;
        c->cfg = nx_config_load(c->config_path, &e);
        if (!c->cfg)
            fprintf(stderr, "nexo-update: %s\n", e.msg);
    }
    return c->cfg;
}

int cli_confirm(struct cli *c, const char *question)
{
    (void)c;
    fprintf(stderr, "%s [y/N] refused: no terminal\n", question);
    return -1;
}

void cli_print_json(json_t *doc)
{
    char *s = json_dumps(doc, JSON_INDENT(2));
    if (s)
        puts(s);
    free(s);
    json_decref(doc);
}
