/* The nexo-update command line (contracts §2). */
#ifndef NX_CLI_H
#define NX_CLI_H

#include "config.h"
#include "engine.h"
#include "fault.h"
#include "log.h"

struct cli {
    nx_out out;
    const char *config_path;
    int yes;
    int dry_run;
    nx_faults *faults;
    nx_config *cfg;
    unsigned trusted; /* CLI_TRUST_*: the folders cli_config checks (main.c) */
};

/* Trusted folders a command reads or writes (contracts §9): cli_config
 * creates them (0700) when missing and refuses the configuration when one
 * of them, or a folder above it, may be written by another user. */
#define CLI_TRUST_STATE 1u   /* [paths] state and its entries */
#define CLI_TRUST_BACKUPS 2u /* [paths] backups */

/* Load the configuration (-c, $NEXO_UPDATE_CONFIG, built-in default) and
 * check the command's trusted folders; NULL after printing the error. */
nx_config *cli_config(struct cli *c);
/* Ask "question [y/N]" unless -y; refuses (exit 2) when stdin is not a
 * terminal. Returns 1 yes, 0 no, -1 refused. */
int cli_confirm(struct cli *c, const char *question);
/* Print a JSON document on stdout (reference stolen). */
void cli_print_json(json_t *doc);

/* Update one component — "core" or "plugin:SLUG" — through its pipeline
 * (PIPELINES/core.ini, plugin.ini): ask the update source, pick the
 * newest allowed release (or `to`: refused when not listed, when its
 * requirements are not met, or when not newer without allow_downgrade),
 * show it, confirm (a MAJOR change again, unless allow_major), run it (-n:
 * plan it). A plugin not installed yet is installed. Returns the exit
 * code (contracts §2). core/cli_check.c. */
struct update_opts {
    const char *to;          /* --to VERSION, or NULL: the newest allowed */
    int allow_downgrade;     /* --allow-downgrade (with --to) */
    int allow_major;         /* --allow-major: a MAJOR change without asking */
    int force;               /* --force: conflicts with installed core/plugins
                                do not stop the update (never trust, never php
                                or database requirements) */
};
int cli_update_component(struct cli *c, const char *component, const struct update_opts *o);

int cmd_plugin(struct cli *c, int argc, char **argv);    /* cli_check.c */
int cmd_all(struct cli *c, int argc, char **argv);       /* cli_all.c */
int cmd_status(struct cli *c, int argc, char **argv);
int cmd_pipeline(struct cli *c, int argc, char **argv);
int cmd_history(struct cli *c, int argc, char **argv);
int cmd_rollback(struct cli *c, int argc, char **argv);  /* cli_rollback.c */
int cmd_update_db(struct cli *c, int argc, char **argv); /* cli_install.c */
int cmd_install(struct cli *c, int argc, char **argv);   /* cli_install.c */
int cmd_verify(struct cli *c, int argc, char **argv);    /* cli_verify.c */
int cmd_backups(struct cli *c, int argc, char **argv);   /* cli_backups.c */
int cmd_schedule(struct cli *c, int argc, char **argv);  /* cli_schedule.c */

#endif
