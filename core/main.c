/* nexo-update: entry point and command table. */
#include "cli.h"
#include "update_check.h"
#include "buildconf.h"
#include "defaults.h"
#include "journal.h"
#include "jsonout.h"
#include "secpath.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct cmd {
    const char *name;
    int (*fn)(struct cli *c, int argc, char **argv);
    const char *usage;
    const char *help;
};

static int cmd_recover(struct cli *c, int argc, char **argv);
static int not_yet(struct cli *c, int argc, char **argv);

static const struct cmd CMDS[] = {
    { "check", cmd_check, "check [--notify] [--apply-auto]",
      "Ask the update source ([server] url: a signed static index, or the update\n"
      "server's API) for updates of core and every installed plugin; one line per\n"
      "update, security and critical ones flagged. Releases whose requirements\n"
      "(nexosupport, php, database) the site does not meet are not offered.\n"
      "Exit 100 when updates are available, 0 when none, 1 on any failure.\n"
      "--notify      mail [notify] email the updates not mailed before (security\n"
      "              ones first), recorded in update_notifications.\n"
      "--apply-auto  install unattended what [auto] apply (patch|minor) allows,\n"
      "              inside [auto] window, never a version whose last automatic\n"
      "              attempt failed (docs/operations.md, Scheduling)." },
    { "list", cmd_list, "list",
      "Like check, with details of every newer release: version, size, release\n"
      "date, sha256, URL, changelog, requirements and which are not met." },
    { "core", cmd_core, "core [--to VERSION] [--allow-downgrade] [--allow-major] [--force]",
      "Update core to the newest allowed release (or VERSION) through the core\n"
      "pipeline (PIPELINES/core.ini). Asks for confirmation (-y to skip); a MAJOR\n"
      "version change asks again (--allow-major to confirm it without a terminal).\n"
      "A version not newer than the installed one is refused unless --to names it\n"
      "and --allow-downgrade is given. A release that conflicts with an installed\n"
      "plugin (its compatibility.plugins, the plugin's requires.nexosupport) is\n"
      "refused naming the plugin, the range and the installed version; --force\n"
      "overrides that check only (never signatures, checksums, php or database).\n"
      "With -n: print the offer (version, size, sha256, URL, signature, changelog)\n"
      "and plan the pipeline, changing nothing." },
    { "plugin", cmd_plugin,
      "plugin SLUG [--to VERSION] [--allow-downgrade] [--allow-major] [--force]\n"
      "       (also plugin:SLUG)",
      "Update one plugin (ROOT/modules/plugins/SLUG) to the newest allowed release\n"
      "(or VERSION) through the plugin pipeline (PIPELINES/plugin.ini): download,\n"
      "verify, stage, backup of the plugin's folder and the database, the plugin's\n"
      "own migrations (database/upgrades), swap of its folder, its version\n"
      "registered as plugin:SLUG. A plugin not installed yet is installed: its\n"
      "files into modules/plugins/SLUG/, its database/schema/install.xml.\n"
      "The release's requires (nexosupport) and dependencies (other plugins), and\n"
      "the installed plugins that depend on this one, are checked first; --force\n"
      "overrides that check only. A package may bring upgrade steps of its own\n"
      "(nexo-steps.ini; docs/plugin-authors.md). Confirmation, -n, --json, --to,\n"
      "--allow-downgrade and --allow-major as for core; 'rollback --to <its update\n"
      "id>' puts the plugin back." },
    { "all", cmd_all, "all [--force] [--allow-major]",
      "Core first, then every installed plugin with an update, each after the\n"
      "plugins it depends on. Each is its own update with its own rollback: a\n"
      "failure of one does not undo the others that succeeded. Before each plugin\n"
      "the update source is asked again: a plugin whose update is no longer\n"
      "allowed (e.g. it needs a dependency whose update just failed) is skipped,\n"
      "saying why. One confirmation for the plan (-y to skip); -n shows the plan\n"
      "and plans each update. Prints a summary (--json: {updates: [{component,\n"
      "from, to, outcome, exit, reason}], exit}). Exit code: the worst outcome\n"
      "(4, then 3, 1, 5); an exit 4 stops the run." },
    { "update-db", cmd_update_db, "update-db",
      "The files on disk (ROOT/core/version.php) are newer than the newest core\n"
      "version in the database's system_versions (a release copied by hand): run\n"
      "only the database part through PIPELINES/db.ini: backup, the migrations of\n"
      "ROOT/database/upgrades from the database's version to the disk's, register.\n"
      "Equal versions: nothing to do (exit 0). Files older than the database, or no\n"
      "version recorded: refused (exit 1). Asks for confirmation (-y to skip); -n\n"
      "prints the plan: the migration files in order and their SQL." },
    { "install", cmd_install, "install --package FILE | --version V",
      "Fresh install of core on an empty database (no table at all) and a site root\n"
      "that holds none of the [site] managed paths yet (.env, var/, modules/plugins\n"
      "may be there), through PIPELINES/install.ini: schema from the package's\n"
      "database/schema/install.xml, files, version registered. A failing step is\n"
      "undone with the steps before it: site and database end as they were.\n"
      "--package FILE  a local release package; its signature FILE.sig must be\n"
      "                beside it and verify with [server] trusted_keys; component\n"
      "                and version come from its manifest.\n"
      "--version V     release V from the update source ([server] url) (also\n"
      "                --version=V; before the command word --version is the\n"
      "                program's own).\n"
      "Asks for confirmation (-y to skip); -n verifies the package and plans." },
    { "rollback", cmd_rollback, "rollback [--to UPDATE_ID]",
      "Restore the files and the database from the backup taken before the last\n"
      "update (or before update UPDATE_ID; a backup folder name works too),\n"
      "through the rollback pipeline (PIPELINES/rollback.ini): the backup is\n"
      "checked (sizes, sha256) before anything changes, a backup of the current\n"
      "state is taken, the database is restored (update_history is kept), the\n"
      "managed paths are swapped back (for a plugin update: that plugin's folder),\n"
      "paths a migration's cleanup deleted are put back; .env, var/ and other\n"
      "plugins' folders are never touched. A failed\n"
      "rollback is undone like any update (exit 3). Database changes made since\n"
      "the backup are lost: asks for confirmation (-y to skip). A plain rollback\n"
      "takes the newest backup not yet restored, so running it again goes one\n"
      "update further back; 'rollback --to <a rollback's id>' undoes a rollback.\n"
      "The history records it as manual_rollback. -n: show the backup and plan." },
    { "recover", cmd_recover, "recover",
      "An update was interrupted (crash, kill, power loss): finish it from its\n"
      "journal alone. Steps that completed are undone in reverse order (or, if\n"
      "every step had succeeded and finalizing had begun, finalizing is finished);\n"
      "maintenance mode and the lock are released. Running it again is harmless.\n"
      "Exit 0 when done or nothing to do, 4 when an undo failed again, 5 when an\n"
      "update is running.\n"
      "--json: {outcome (nothing_to_do, recovered, rollback_failed, locked,\n"
      "failed), exit, update_id, update_outcome (how the update's journal ends:\n"
      "rolled_back, interrupted, success ...)}; error when it fails." },
    { "history", cmd_history, "history [--limit N] | history --id ID [--log]",
      "Every update attempt, newest first (default: the last 20), from the\n"
      "database's update_history table: time, update id, component, from -> to,\n"
      "outcome, seconds in maintenance mode, and the error of a failed attempt.\n"
      "Outcomes: success; rolled_back (failed after changing the site, undone\n"
      "completely: exit 3, also when recover undid it); rollback_failed (exit 4,\n"
      "until recover finishes it); manual_rollback (a 'rollback'); refused (failed\n"
      "before it changed anything - a health check, a signature, a download -\n"
      "nothing to roll back: exit 1); interrupted (stopped by a signal, or killed\n"
      "and closed by recover, before it changed anything). Every attempt that\n"
      "started a pipeline is there: the row is written after the outcome is final.\n"
      "--id ID   that one attempt: its row, its pipeline, its log file and journal,\n"
      "          and each step with its outcome and duration (from the journal,\n"
      "          STATE/journal/ID.jnl): done, failed, interrupted (cut by a signal\n"
      "          or by the process being killed), undone, skipped. Exit 1 when\n"
      "          nothing of it is recorded.\n"
      "--log     with --id: print the update's log, STATE/logs/ID.log (every line\n"
      "          the update printed, with UTC time, level and step; recover's lines\n"
      "          appended). Exit 1 naming the file when there is none (logs go with\n"
      "          their update's backups, after [backup] keep_days).\n"
      "--json: {attempts: [...]}; with --id {update_id, attempt, info, log_file,\n"
      "journal, journal_outcome, steps}; with --log {update_id, log_file, lines:\n"
      "[{time, level, step, message}]} (docs/operations.md)." },
    { "status", cmd_status, "status",
      "Versions on disk for core and plugins, the versions registered in the\n"
      "database, maintenance mode, the lock holder (pid and update id) and an\n"
      "interrupted update, if any, with what recover would undo. Exit 0; 1 when\n"
      "the site root is missing or not a folder (named; the rest is still shown).\n"
      "--json: {config, root, state_dir, core: {file, version}, plugins: [{slug,\n"
      "file, version, registered}], maintenance, lock, interrupted, database,\n"
      "error?, exit?}." },
    { "verify", cmd_verify, "verify [core | plugin:SLUG]",
      "Check the installed files against the installed release's manifest: core's,\n"
      "ROOT/core/.nexo-release.json, and every installed plugin's,\n"
      "ROOT/modules/plugins/SLUG/.nexo-release.json (recorded by the extract\n"
      "step's record_manifest at every update and install); or only the component\n"
      "named. Each listed file exists, is regular, and has its size, mode and\n"
      "sha256 (folders: mode; symlinks: target). Lists modified, missing and extra\n"
      "files (core: below the manifest's top-level folders, not listed, [site]\n"
      "preserve paths skipped; a plugin: anything in its folder not listed) and a\n"
      "version.php version that differs. Exit 0 clean, 1 differences or no\n"
      "recorded manifest (of core or of any plugin checked), 2 a COMPONENT that\n"
      "is not core or plugin:SLUG.\n"
      "--json: core's {root, manifest, recorded, component, version, entries,\n"
      "disk_version, disk_version_error?, version_matches, clean, modified: [{path,\n"
      "type, differences: [{check (type|size|sha256|mode|target|read), expected,\n"
      "found}]}], missing: [{path, type, error}], extra: [{path, type}]}, without a\n"
      "recorded manifest {root, manifest, component, recorded: false, clean: false};\n"
      "verify without COMPONENT adds plugins: [the same per plugin, with slug],\n"
      "core_clean, and clean for everything; verify plugin:SLUG prints that\n"
      "plugin's document. Paths are relative to the component's folder. When not\n"
      "clean: error (which components) and exit.\n"
      "The recorded manifest is the site owner's file: it counts only when it is\n"
      "one of root's copies, STATE/manifests/COMPONENT/SHA256.json, kept by the\n"
      "extract step of every update and install (trusted: true); one that is not\n"
      "(rewritten after the update) makes the component not clean (trusted:\n"
      "false, trusted_error); a release installed before root kept copies is\n"
      "checked against its recorded manifest as it is (trusted: null, a warning)." },
    { "backups", cmd_backups, "backups list | prune | verify ID",
      "The backup store, [paths] backups: one folder backup_<update id>_<time>/ per\n"
      "update with database.dump, files.tar.zst and meta.json.\n"
      "list       newest first: update id, created, component, from -> to, pipeline,\n"
      "           size, path. --json: {dir, total_size, backups: [{update_id, name,\n"
      "           path, created_at, created, component, from_version, to_version,\n"
      "           pipeline, size, meta}]}.\n"
      "prune      apply [backup] keep and keep_days now (the newest keep stay, and of\n"
      "           the others those younger than keep_days days); asks for\n"
      "           confirmation (-y to skip), -n only shows what would go. Takes the\n"
      "           update lock (exit 5 while an update runs). --json: {dir, keep,\n"
      "           keep_days, dry_run, remove_count, remove_size, backups: [{...,\n"
      "           action: kept|would_remove|removed|failed, error?}]}.\n"
      "verify ID  (update id or folder name) recompute the size and sha256 of\n"
      "           database.dump and files.tar.zst against meta.json, read every entry\n"
      "           of the archive (plain relative names, files, folders and symlinks\n"
      "           only, the entry count), check folder 0700, files 0600 and the owner.\n"
      "           Exit 0 good, 1 with each problem named. --json: {update_id, name,\n"
      "           path, ..., ok, checked: [{file, result}], problems: [{file, check,\n"
      "           message, expected?, found?}]}." },
    { "pipeline", cmd_pipeline,
      "pipeline show [NAME|FILE] | pipeline validate NAME|FILE | pipeline run NAME|FILE\n"
      "       [--component C] [--from V] [--to V] [--param NAME=VALUE]...",
      "show      the steps of a pipeline (default: core) with their resolved module\n"
      "          files, versions and settings.\n"
      "validate  load every module of a pipeline (by name from [paths] pipelines,\n"
      "          or a file), check every setting and run each step's own validation\n"
      "          of its settings; change nothing. No update is running: facts an\n"
      "          update brings (component, versions, the backup to restore) are\n"
      "          checked when one runs.\n"
      "run       run a pipeline as an update, with the lock, the journal, rollback\n"
      "          and recover: the way to try an integrator's steps. Asks for\n"
      "          confirmation (-y to skip); with -n only validates and plans.\n"
      "          --param NAME=VALUE becomes the fact param.NAME (host->info)." },
    { "schedule", cmd_schedule,
      "schedule --at \"YYYY-MM-DD HH:MM\" COMMAND | schedule list | schedule cancel ID\n"
      "       | schedule run-due",
      "One-off updates for the timer to run (conf/systemd: nexo-update-schedule.timer\n"
      "runs 'schedule run-due' every 5 minutes). Jobs are files in STATE/schedule/.\n"
      "--at TIME COMMAND  record a job: TIME is local time, in the future; COMMAND is\n"
      "                   core [--to V], plugin SLUG [--to V] or all, each may add\n"
      "                   --allow-major. Prints the job's id.\n"
      "list               every job: id, time, status (pending, running, done,\n"
      "                   failed, cancelled, interrupted), command, result. --json:\n"
      "                   {dir, jobs: [{id, command, command_line, at, at_epoch,\n"
      "                   at_utc, created_at, status, started_at?, finished_at?, exit?,\n"
      "                   outcome?, cancelled_at?}]}.\n"
      "cancel ID          cancel a pending job.\n"
      "run-due            run every pending job whose time has come, once, as -y (an\n"
      "                   interrupted one is never run again); records the outcome in\n"
      "                   the job. Exit: the worst exit code of the jobs, 0 when none\n"
      "                   was due. --json: {ran: [{id, command, at, exit, outcome}], exit}." },
    { "serve", not_yet, "serve [--listen ADDR:PORT]",
      "The admin web UI (default 127.0.0.1:8480)." },
};
#define NCMDS (sizeof CMDS / sizeof CMDS[0])

/* One line per command for --help. */
static const char *summary_of(const char *name)
{
    static const char *const S[][2] = {
        { "check", "what updates are available (exit 100: some)" },
        { "list", "the newer releases in detail" },
        { "core", "update core" },
        { "plugin", "update or install one plugin" },
        { "all", "core, then every plugin, in dependency order" },
        { "update-db", "bring the database up to files copied by hand" },
        { "install", "a fresh site from a signed package" },
        { "rollback", "put back the backup of the last (or a named) update" },
        { "recover", "finish an update that was interrupted" },
        { "history", "every update attempt and its outcome" },
        { "status", "versions on disk and in the database, lock, journal" },
        { "verify", "the installed files against the release's manifest" },
        { "backups", "list, prune or verify the backups" },
        { "pipeline", "show, validate or run a pipeline" },
        { "schedule", "one-off updates for the timer" },
        { "serve", "the admin web UI" },
    };
    for (size_t i = 0; i < sizeof S / sizeof S[0]; i++)
        if (strcmp(S[i][0], name) == 0)
            return S[i][1];
    return "";
}

/* The trusted folders a command reads or writes (cli_config checks them):
 * the state folder holds the lock, the journal recover replays as root,
 * the logs, the schedule, the check's records and root's copies of the
 * installed manifests (verify); the backups folder what rollback
 * restores. pipeline show and validate use neither. */
static unsigned trust_of(const char *name, int argc, char **argv)
{
    static const struct {
        const char *name;
        unsigned trust;
    } T[] = {
        { "check", CLI_TRUST_STATE | CLI_TRUST_BACKUPS }, /* --apply-auto updates */
        { "list", CLI_TRUST_STATE },
        { "core", CLI_TRUST_STATE | CLI_TRUST_BACKUPS },
        { "plugin", CLI_TRUST_STATE | CLI_TRUST_BACKUPS },
        { "all", CLI_TRUST_STATE | CLI_TRUST_BACKUPS },
        { "update-db", CLI_TRUST_STATE | CLI_TRUST_BACKUPS },
        { "install", CLI_TRUST_STATE | CLI_TRUST_BACKUPS },
        { "rollback", CLI_TRUST_STATE | CLI_TRUST_BACKUPS },
        { "recover", CLI_TRUST_STATE | CLI_TRUST_BACKUPS },
        { "history", CLI_TRUST_STATE },
        { "status", CLI_TRUST_STATE },
        { "verify", CLI_TRUST_STATE }, /* root's copies of the manifests */
        { "backups", CLI_TRUST_STATE | CLI_TRUST_BACKUPS },
        { "schedule", CLI_TRUST_STATE | CLI_TRUST_BACKUPS },
    };
    if (strcmp(name, "pipeline") == 0)
        return argc > 1 && strcmp(argv[1], "run") == 0 ? CLI_TRUST_STATE | CLI_TRUST_BACKUPS
                                                       : 0;
    for (size_t i = 0; i < sizeof T / sizeof T[0]; i++)
        if (strcmp(T[i].name, name) == 0)
            return T[i].trust;
    return 0;
}

static void usage_all(FILE *f)
{
    nx_defaults d;
    nx_defaults_init(&d);
    fprintf(f,
            "Usage: nexo-update [-c FILE] [--json] [-y] [-n] [-v|-q] COMMAND [ARGS]\n"
            "\n"
            "Options:\n"
            "  -c, --config FILE  configuration (default: $NEXO_UPDATE_CONFIG, else\n"
            "                     %s)\n"
            "      --json         one JSON document on stdout\n"
            "  -y, --yes          do not ask for confirmation\n"
            "  -n, --dry-run      validate and print the plan; change nothing\n"
            "  -v, --verbose      more detail;  -q, --quiet  errors only\n"
            "  -h, --help         this help;  COMMAND --help: help on a command\n"
            "      --version      print the version\n"
            "\nCommands:\n",
            d.config);
    for (size_t i = 0; i < NCMDS; i++)
        fprintf(f, "  %-10s %s%s\n", CMDS[i].name, summary_of(CMDS[i].name),
                CMDS[i].fn == not_yet ? " (not available yet)" : "");
    fprintf(f, "\nExit codes: 0 done, 1 failed before anything changed, 2 usage, 3 failed\n"
               "and rolled back, 4 rollback incomplete (run recover), 5 locked,\n"
               "100 updates available (check).\n"
               "Testing aid: NEXO_FAULT=<step>:<point>[:<n>]:<fail|kill> (docs/architecture.md).\n");
}

/* The global options each command honours (besides -h, --help). */
static const char *globals_of(const char *name)
{
    static const char *const G[][2] = {
        { "check", "-c FILE, --json, -n (with --notify or --apply-auto: show, change "
                   "nothing), -v|-q" },
        { "list", "-c FILE, --json, -v|-q" },
        { "core", "-c FILE, --json, -y, -n, -v|-q" },
        { "plugin", "-c FILE, --json, -y, -n, -v|-q" },
        { "all", "-c FILE, --json, -y, -n, -v|-q" },
        { "update-db", "-c FILE, --json, -y, -n, -v|-q" },
        { "install", "-c FILE, --json, -y, -n, -v|-q" },
        { "rollback", "-c FILE, --json, -y, -n, -v|-q" },
        { "recover", "-c FILE, --json, -v|-q (no -n)" },
        { "history", "-c FILE, --json, -v|-q" },
        { "status", "-c FILE, --json, -v|-q" },
        { "verify", "-c FILE, --json, -v|-q" },
        { "backups", "-c FILE, --json, -y (prune), -n (prune), -v|-q" },
        { "pipeline", "-c FILE, --json, -y (run), -n (run), -v|-q" },
        { "schedule", "-c FILE, --json, -n (--at, cancel, run-due: show, change nothing), "
                      "-v|-q" },
        { "serve", "-c FILE" },
    };
    for (size_t i = 0; i < sizeof G / sizeof G[0]; i++)
        if (strcmp(G[i][0], name) == 0)
            return G[i][1];
    return "-c FILE";
}

static void usage_cmd(const struct cmd *c, FILE *f)
{
    fprintf(f, "Usage: nexo-update [options] %s\n\n%s\n", c->usage, c->help);
    fprintf(f, "\nGlobal options: %s (nexo-update --help). With --json a failure is\n"
               "{\"error\": MESSAGE, \"exit\": CODE, ...} on stdout.\n", globals_of(c->name));
    if (c->fn == not_yet)
        fprintf(f, "\n(Not available yet in this build of nexo-update.)\n");
}

static int not_yet(struct cli *c, int argc, char **argv)
{
    (void)c;
    (void)argc;
    fprintf(stderr, "nexo-update: '%s' is not available yet in this build (%s)\n", argv[0],
            NX_VERSION);
    return NX_EXIT_FAILED;
}

/* One trusted folder: created 0700 when missing (with the folders above
 * it that are missing), then it and every folder above it must belong to
 * root or the running user and not be writable by group or others. */
static int trusted_folder(const nx_config *cfg, const char *key, int entries, nx_err *e)
{
    const char *dir = nx_config_get(cfg, "paths", key);
    if (!dir)
        return 0;
    char *what = nx_xasprintf("[paths] %s", key);
    int rc = nx_mkdirs(dir, 0700, e);
    if (rc != 0)
        nx_preferr(e, "%s", what);
    else
        rc = nx_check_secure_dir(dir, what, entries, e);
    if (rc != 0) {
        nx_err why = *e;
        nx_seterr(e, "%s; refused before anything changed: %s in %s must be a folder that "
                  "only root or the running user can write, and so must every folder "
                  "above it", why.msg, what, nx_config_file(cfg));
    }
    free(what);
    return rc;
}

static int trusted_folders(const nx_config *cfg, unsigned which, nx_err *e)
{
    if ((which & CLI_TRUST_STATE) && trusted_folder(cfg, "state", 1, e) != 0)
        return -1;
    if ((which & CLI_TRUST_BACKUPS) && trusted_folder(cfg, "backups", 1, e) != 0)
        return -1;
    return 0;
}

nx_config *cli_config(struct cli *c)
{
    if (c->cfg)
        return c->cfg;
    const char *path = c->config_path;
    if (!path)
        path = getenv("NEXO_UPDATE_CONFIG");
    nx_defaults d;
    nx_defaults_init(&d);
    if (!path || !*path)
        path = d.config;
    nx_err e;
    c->cfg = nx_config_load(path, &e);
    if (!c->cfg) {
        nx_log(&c->out, NEXO_LOG_ERROR, NULL, "%s", e.msg);
        return NULL;
    }
    if (trusted_folders(c->cfg, c->trusted, &e) != 0) {
        nx_log(&c->out, NEXO_LOG_ERROR, NULL, "%s", e.msg);
        nx_config_free(c->cfg);
        c->cfg = NULL;
    }
    return c->cfg;
}

int cli_confirm(struct cli *c, const char *question)
{
    if (c->yes)
        return 1;
    if (!isatty(STDIN_FILENO)) {
        nx_log(&c->out, NEXO_LOG_ERROR, NULL,
               "%s — refusing to ask: standard input is not a terminal; give -y to confirm",
               question);
        return -1;
    }
    fprintf(stderr, "%s [y/N] ", question);
    fflush(stderr);
    char buf[16];
    if (!fgets(buf, sizeof buf, stdin))
        return 0;
    return buf[0] == 'y' || buf[0] == 'Y';
}

void cli_print_json(json_t *doc)
{
    char *s = json_dumps(doc, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
    if (s) {
        fputs(s, stdout);
        fputc('\n', stdout);
        free(s);
    }
    json_decref(doc);
}

/* The id of the update whose journal is path, or NULL (malloc'ed); the
 * outcome its end record names into *outcome (malloc'ed) when there is one. */
static char *journal_id(const char *path, char **outcome)
{
    json_t *records = NULL;
    int torn = 0;
    nx_err e;
    char *id = NULL;
    if (access(path, F_OK) == 0 && nx_journal_read(path, &records, &torn, &e) == 0) {
        const char *bid = json_string_value(json_object_get(json_array_get(records, 0), "id"));
        json_t *last = json_array_get(records, json_array_size(records) - 1);
        const char *o = json_string_value(json_object_get(last, "outcome"));
        const char *ev = json_string_value(json_object_get(last, "ev"));
        id = bid ? nx_xstrdup(bid) : NULL;
        if (outcome && o && ev && strcmp(ev, "end") == 0)
            *outcome = nx_xstrdup(o);
    }
    json_decref(records);
    return id;
}

/* recover --json: {outcome (nothing_to_do, recovered, rollback_failed,
 * locked, failed), exit, update_id, update_outcome (what the update's
 * journal ends with: rolled_back, interrupted, success ...)}. */
static json_t *recover_doc(const nx_config *cfg, int had_journal, const char *id, int code)
{
    const char *state = nx_config_get(cfg, "paths", "state");
    char *outcome = NULL;
    if (id) {
        char *dir = nx_journal_dir(state);
        char *path = nx_xasprintf("%s/%s.jnl", dir, id);
        free(journal_id(path, &outcome));
        free(path);
        free(dir);
    }
    const char *what = code == NX_EXIT_OK ? (had_journal ? "recovered" : "nothing_to_do")
                       : code == NX_EXIT_ROLLBACK_FAILED ? "rollback_failed"
                       : code == NX_EXIT_LOCKED ? "locked" : "failed";
    json_t *doc = json_pack("{s:s, s:i, s:s?, s:s?}", "outcome", what, "exit", code,
                            "update_id", id, "update_outcome", outcome);
    if (!json_object_get(doc, "update_id"))
        json_object_set_new(doc, "update_id", json_null());
    if (!json_object_get(doc, "update_outcome"))
        json_object_set_new(doc, "update_outcome", json_null());
    free(outcome);
    return doc;
}

static int cmd_recover(struct cli *c, int argc, char **argv)
{
    (void)argv;
    if (argc > 1) {
        fprintf(stderr, "nexo-update: recover takes no arguments\n");
        return NX_EXIT_USAGE;
    }
    nx_config *cfg = cli_config(c);
    if (!cfg)
        return NX_EXIT_FAILED;
    if (c->dry_run) {
        nx_log(&c->out, NEXO_LOG_ERROR, NULL,
               "recover has no dry run; 'nexo-update status' shows what it would undo");
        return NX_EXIT_USAGE;
    }
    char *cur = nx_journal_current(nx_config_get(cfg, "paths", "state"));
    int had_journal = access(cur, F_OK) == 0;
    char *id = journal_id(cur, NULL);
    free(cur);
    int code = nx_update_recover(&c->out, cfg, c->faults);
    if (c->out.json)
        cli_print_json(recover_doc(cfg, had_journal, id, code));
    free(id);
    return code;
}

/* Global options may stand before or after the command; what is left is
 * the command's own argv. */
static int take_global(struct cli *c, int argc, char **argv, int *i, int *help, int *version)
{
    const char *a = argv[*i];
    if (strcmp(a, "-c") == 0 || strcmp(a, "--config") == 0) {
        if (*i + 1 >= argc) {
            fprintf(stderr, "nexo-update: %s needs a file\n", a);
            return -1;
        }
        c->config_path = argv[++*i];
        return 1;
    }
    if (strncmp(a, "--config=", 9) == 0) {
        c->config_path = a + 9;
        return 1;
    }
    if (strcmp(a, "--json") == 0)
        c->out.json = 1;
    else if (strcmp(a, "--yes") == 0)
        c->yes = 1;
    else if (strcmp(a, "--dry-run") == 0)
        c->dry_run = 1;
    else if (strcmp(a, "--verbose") == 0)
        c->out.verbosity = 2;
    else if (strcmp(a, "--quiet") == 0)
        c->out.verbosity = 0;
    else if (strcmp(a, "--help") == 0)
        *help = 1;
    else if (strcmp(a, "--version") == 0 && *version >= 0)
        *version = 1;
    else if (a[0] == '-' && a[1] && a[1] != '-' && strspn(a + 1, "ynvqh") == strlen(a + 1)) {
        for (const char *p = a + 1; *p; p++) {
            if (*p == 'y')
                c->yes = 1;
            else if (*p == 'n')
                c->dry_run = 1;
            else if (*p == 'v')
                c->out.verbosity = 2;
            else if (*p == 'q')
                c->out.verbosity = 0;
            else
                *help = 1;
        }
    } else
        return 0;
    return 1;
}

static const struct cmd *find_cmd(const char *name)
{
    for (size_t i = 0; i < NCMDS; i++)
        if (strcmp(CMDS[i].name, name) == 0)
            return &CMDS[i];
    if (strncmp(name, "plugin:", 7) == 0)
        return find_cmd("plugin");
    return NULL;
}

static int run(int argc, char **argv)
{
    struct cli c = { .out = { .verbosity = 1, .tty = isatty(STDERR_FILENO) } };
    int help = 0, version = 0, code;
    char **rest = nx_xcalloc((size_t)argc + 1, sizeof *rest);
    int nrest = 0, after_dashdash = 0;
    for (int i = 1; i < argc; i++) {
        if (!after_dashdash && strcmp(argv[i], "--") == 0) {
            after_dashdash = 1;
            continue;
        }
        /* --version after the command word is the command's own
         * (install --version V) */
        int v = nrest ? -1 : version;
        int t = after_dashdash ? 0 : take_global(&c, argc, argv, &i, &help, &v);
        if (t < 0) {
            free(rest);
            return NX_EXIT_USAGE;
        }
        if (v > 0)
            version = 1;
        if (t == 0)
            rest[nrest++] = argv[i];
    }
    if (version) {
        printf("nexo-update %s (module ABI %u)\n", NX_VERSION, NEXO_ABI_VERSION);
        free(rest);
        return 0;
    }
    const struct cmd *cmd = nrest ? find_cmd(rest[0]) : NULL;
    if (nrest && strcmp(rest[0], "help") == 0) {
        cmd = nrest > 1 ? find_cmd(rest[1]) : NULL;
        help = 1;
    }
    if (help || nrest == 0) {
        if (cmd)
            usage_cmd(cmd, stdout);
        else
            usage_all(nrest || help ? stdout : stderr);
        free(rest);
        return help ? 0 : NX_EXIT_USAGE;
    }
    if (!cmd) {
        fprintf(stderr, "nexo-update: unknown command '%s' (see nexo-update --help)\n", rest[0]);
        free(rest);
        return NX_EXIT_USAGE;
    }
    nx_err e;
    c.faults = nx_faults_parse(getenv("NEXO_FAULT"), &e);
    if (!c.faults) {
        fprintf(stderr, "nexo-update: %s\n", e.msg);
        free(rest);
        return NX_EXIT_USAGE;
    }
    c.trusted = trust_of(cmd->name, nrest, rest);
    code = cmd->fn(&c, nrest, rest);
    nx_faults_free(c.faults);
    nx_config_free(c.cfg);
    free(rest);
    return code;
}

int main(int argc, char **argv)
{
    /* A closed stdout/stderr pipe (| head) must not kill an update half-way:
     * writes then fail with EPIPE and the update goes on. */
    signal(SIGPIPE, SIG_IGN);
    if (!nx_jsonout_wanted(argc, argv))
        return run(argc, argv);
    /* --json: one document on stdout, also for a usage or config error */
    nx_jsonout j;
    nx_jsonout_begin(&j, "nexo-update");
    int code = run(argc, argv);
    return nx_jsonout_end(&j, code, code != NX_EXIT_OK && code != NX_EXIT_UPDATES);
}
