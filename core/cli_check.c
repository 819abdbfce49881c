/* nexo-update check, list and core (contracts §2). */
#include "update_check.h"
#include "buildconf.h"
#include "offer.h"
#include "semver.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define CHANGELOG_LINES 10 /* of each changelog, in `core -n` */

static void print_notes(const struct cli *c, const nx_check *chk)
{
    size_t i;
    json_t *n;
    json_array_foreach(chk->notes, i, n)
        nx_log(&c->out, NEXO_LOG_INFO, NULL, "note: %s", json_string_value(n));
}

static nx_check *run_check(struct cli *c, const char *only, int force)
{
    nx_config *cfg = cli_config(c);
    if (!cfg)
        return NULL;
    nx_err e;
    nx_check *chk = nx_check_run_force(&c->out, cfg, only, force, &e);
    if (!chk)
        nx_log(&c->out, NEXO_LOG_ERROR, NULL, "%s", e.msg);
    else
        print_notes(c, chk);
    return chk;
}

static const char *flags(const nx_release *r)
{
    if (r->security && r->critical)
        return " (security, critical)";
    if (r->security)
        return " (security)";
    return r->critical ? " (critical)" : "";
}

static const char *unmet_text(const nx_release *r, char *buf, size_t len)
{
    size_t i, off = 0;
    json_t *u;
    buf[0] = '\0';
    json_array_foreach(r->unmet, i, u) {
        int n = snprintf(buf + off, len - off, "%s%s", i ? "; " : "", json_string_value(u));
        if (n < 0 || (size_t)n >= len - off)
            break;
        off += (size_t)n;
    }
    return buf;
}

static void human_size(uint64_t n, char *buf, size_t len)
{
    const char *u[] = { "bytes", "KiB", "MiB", "GiB" };
    double v = (double)n;
    int i = 0;
    while (v >= 1024 && i < 3) {
        v /= 1024;
        i++;
    }
    if (i == 0)
        snprintf(buf, len, "%llu bytes", (unsigned long long)n);
    else
        snprintf(buf, len, "%.1f %s (%llu bytes)", v, u[i], (unsigned long long)n);
}

/* Newer releases of the site's channel it cannot take, newer than the
 * offer: why not. */
static void hint_unmet(const struct cli *c, const nx_component *k)
{
    for (size_t i = 0; i < k->nrel && &k->rel[i] != k->offer; i++) {
        const nx_release *r = &k->rel[i];
        char why[2048];
        if (r->admitted && nx_release_newer(k, r) == 1 && json_array_size(r->unmet))
            nx_log(&c->out, NEXO_LOG_INFO, NULL, "%s %s is not offered: %s", k->name,
                   r->version, unmet_text(r, why, sizeof why));
    }
}

/* ---- the database's registered version ------------------------------------- */

/* A component whose registered version differs from its files': said on
 * stderr ("core: the database is at ...") and added to `arr` (--json
 * "database_versions"). */
static void db_mismatch(const struct cli *c, const nx_component *k, json_t *arr)
{
    char *msg = NULL;
    int st = nx_db_state(k->name, k->installed, k->registered, &msg);
    if (!msg)
        return;
    nx_log(&c->out, st == NX_DB_DB_AHEAD ? NEXO_LOG_ERROR : NEXO_LOG_WARN, NULL, "%s: %s",
           k->name, msg);
    json_array_append_new(arr, json_pack("{s:s, s:s, s:s, s:s, s:s}", "component", k->name,
                                         "files", k->installed, "database", k->registered,
                                         "state", nx_db_state_name(st), "message", msg));
    free(msg);
}

/* list --json: the component's registered version and its state. */
static void db_json(const nx_check *chk, const nx_component *k, json_t *o)
{
    if (!chk->db_read)
        return;
    char *msg = NULL;
    int st = nx_db_state(k->name, k->installed, k->registered, &msg);
    json_object_set_new(o, "registered", k->registered ? json_string(k->registered)
                                                       : json_null());
    json_object_set_new(o, "database_state", json_string(nx_db_state_name(st)));
    if (msg)
        json_object_set_new(o, "database_message", json_string(msg));
    free(msg);
}

/* ---- check ---------------------------------------------------------------- */

static json_t *update_json(const nx_component *k, const nx_release *r)
{
    return json_pack("{s:s, s:s, s:s, s:I, s:s?, s:b, s:b, s:s}", "component", k->name,
                     "installed", k->installed, "version", r->version, "size_bytes",
                     (json_int_t)r->size, "release_date", r->release_date,
                     "is_security_update", r->security, "is_critical", r->critical,
                     "download_url", r->url);
}

/* Newer releases of the site's channel above the offer that are not
 * offered, and why. */
static void not_offered_json(const nx_component *k, json_t *arr)
{
    for (size_t i = 0; i < k->nrel && &k->rel[i] != k->offer; i++) {
        const nx_release *r = &k->rel[i];
        if (r->admitted && nx_release_newer(k, r) == 1 && json_array_size(r->unmet))
            json_array_append_new(arr, json_pack("{s:s, s:s, s:s, s:O, s:O}", "component",
                                                 k->name, "installed", k->installed,
                                                 "version", r->version, "unmet", r->unmet,
                                                 "conflicts", r->conflicts));
    }
}

static int check_args(int argc, char **argv, int *notify, int *apply_auto)
{
    *notify = *apply_auto = 0;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--notify") == 0) {
            *notify = 1;
            continue;
        }
        if (strcmp(argv[i], "--apply-auto") == 0) {
            *apply_auto = 1;
            continue;
        }
        fprintf(stderr, "nexo-update: check: unexpected '%s'\n", argv[i]);
        return NX_EXIT_USAGE;
    }
    return 0;
}

int cmd_check(struct cli *c, int argc, char **argv)
{
    int notify, apply_auto;
    int code = check_args(argc, argv, &notify, &apply_auto);
    if (code != 0)
        return code;
    nx_check *chk = run_check(c, NULL, 0);
    if (!chk)
        return NX_EXIT_FAILED;
    json_t *updates = json_array(), *not_offered = json_array(), *dbv = json_array();
    for (size_t i = 0; i < chk->ncomp; i++) {
        const nx_component *k = &chk->comp[i];
        hint_unmet(c, k);
        not_offered_json(k, not_offered);
        if (chk->db_read)
            db_mismatch(c, k, dbv);
        if (!k->offer)
            continue;
        json_t *u = update_json(k, k->offer);
        if (chk->db_read)
            json_object_set_new(u, "registered", k->registered ? json_string(k->registered)
                                                               : json_null());
        json_array_append_new(updates, u);
        if (!c->out.json)
            printf("%s %s -> %s%s\n", k->name, k->installed, k->offer->version,
                   flags(k->offer));
    }
    size_t n = json_array_size(updates);
    json_t *doc = json_pack("{s:o, s:o, s:o, s:s, s:s, s:O}", "updates", updates,
                            "not_offered", not_offered, "database_versions", dbv, "source",
                            chk->source, "mode", chk->mode, "notes", chk->notes);
    if (!c->out.json && n == 0)
        printf("no updates\n");
    int extra = NX_EXIT_OK;
    if (notify)
        extra = cli_check_notify(c, chk, doc);
    if (apply_auto) {
        int a = cli_check_apply_auto(c, chk, doc);
        if (a != NX_EXIT_OK)
            extra = a;
    }
    if (c->out.json)
        cli_print_json(doc);
    else
        json_decref(doc);
    nx_check_free(chk);
    return extra != NX_EXIT_OK ? extra : n ? NX_EXIT_UPDATES : NX_EXIT_OK;
}

/* ---- list ----------------------------------------------------------------- */

static json_t *release_json(const nx_component *k, const nx_release *r)
{
    json_t *o = json_pack("{s:s, s:s, s:I, s:s?, s:s?, s:b, s:b, s:s, s:s, s:s, s:O, s:O?, "
                          "s:O, s:O, s:b}",
                          "version", r->version, "channel", r->channel, "size_bytes",
                          (json_int_t)r->size,
                          "release_date", r->release_date, "changelog", r->changelog,
                          "is_security_update", r->security, "is_critical", r->critical,
                          "download_url", r->url, "sha256", r->sha256, "signature",
                          r->signature, "requires", r->requires, "compatibility", r->compat,
                          "unmet", r->unmet, "conflicts", r->conflicts, "offered",
                          r == k->offer);
    if (r->dependencies)
        json_object_set(o, "dependencies", r->dependencies);
    return o;
}

static json_t *component_json(const nx_check *chk, const nx_component *k)
{
    json_t *rels = json_array();
    for (size_t i = 0; i < k->nrel; i++)
        if (nx_release_newer(k, &k->rel[i]) == 1)
            json_array_append_new(rels, release_json(k, &k->rel[i]));
    json_t *o = json_pack("{s:s, s:s, s:s, s:s?, s:o}", "component", k->name, "installed",
                          k->installed, "file", k->file, "offer",
                          k->offer ? k->offer->version : NULL, "releases", rels);
    db_json(chk, k, o);
    return o;
}

/* "  database:  1.2.0: what it means" under a component of list. */
static void print_db(const nx_check *chk, const nx_component *k)
{
    if (!chk->db_read)
        return;
    char *msg = NULL;
    int st = nx_db_state(k->name, k->installed, k->registered, &msg);
    if (st == NX_DB_NOT_REGISTERED)
        printf("  database:  not registered\n");
    else if (msg)
        printf("  database:  %s: %s\n", k->registered, msg);
    else if (st == NX_DB_SAME)
        printf("  database:  %s (the same)\n", k->registered);
    free(msg);
}

static void print_lines(const char *text, const char *indent, int max)
{
    const char *p = text;
    int n = 0;
    while (*p && (max <= 0 || n < max)) {
        size_t len = strcspn(p, "\n");
        printf("%s%.*s\n", indent, (int)len, p);
        p += len + (p[len] == '\n');
        n++;
    }
    if (*p)
        printf("%s...\n", indent);
}

/* "LABEL NAME RANGE, NAME RANGE" of an object of ranges. */
static void print_ranges(const char *label, const json_t *ranges, const char *none)
{
    const char *key;
    json_t *v;
    int first = 1;
    printf("    %-10s ", label);
    json_object_foreach((json_t *)ranges, key, v) {
        printf("%s%s", first ? "" : ", ", key);
        size_t i;
        json_t *x;
        if (json_is_string(v))
            printf(" %s", json_string_value(v));
        else if (json_is_array(v)) /* php_extensions */
            json_array_foreach(v, i, x)
                printf(" %s", json_is_string(x) ? json_string_value(x) : "(invalid)");
        else
            printf(" (invalid)");
        first = 0;
    }
    printf("%s\n", first ? none : "");
}

static void print_requires(const nx_release *r)
{
    print_ranges("requires:", r->requires, "nothing");
    if (json_object_size(r->dependencies))
        print_ranges("depends:", r->dependencies, "");
    json_t *plugins = json_object_get(r->compat, "plugins");
    if (json_object_size(plugins))
        print_ranges("plugins:", plugins, "");
    size_t i;
    json_t *u;
    json_array_foreach(r->unmet, i, u)
        printf("    not met:   %s\n", json_string_value(u));
}

static void print_release(const nx_check *chk, const nx_component *k, const nx_release *r,
                          int changelog_max)
{
    char size[64];
    human_size(r->size, size, sizeof size);
    if (r == k->offer)
        printf("  %s  offered%s\n", r->version, flags(r));
    else if (!r->admitted)
        printf("  %s  not offered: channel %s ([server] channel = %s)%s\n", r->version,
               r->channel, chk->channel, flags(r));
    else if (r->nenv)
        printf("  %s  not offered: requirements not met%s\n", r->version, flags(r));
    else if (json_array_size(r->unmet))
        printf("  %s  not offered: conflicts with what is installed%s\n", r->version, flags(r));
    else
        printf("  %s  not offered: superseded by %s%s\n", r->version,
               k->offer ? k->offer->version : "?", flags(r));
    printf("    channel:   %s\n", r->channel);
    printf("    size:      %s\n", size);
    printf("    released:  %s\n", r->release_date ? r->release_date : "(not given)");
    printf("    sha256:    %s\n", r->sha256);
    printf("    url:       %s\n", r->url);
    print_requires(r);
    if (r->changelog && *r->changelog) {
        printf("    changelog:\n");
        print_lines(r->changelog, "      ", changelog_max);
    }
}

static void list_text(const nx_check *chk)
{
    if (strcmp(chk->mode, "index") == 0)
        printf("source: %s (static index signed by key %s, generated %s, expires %s)\n",
               chk->source, chk->key_id, chk->generated_at, chk->expires);
    else
        printf("source: %s (update server API)\n", chk->source);
    for (size_t i = 0; i < chk->ncomp; i++) {
        const nx_component *k = &chk->comp[i];
        size_t shown = 0;
        printf("\n%s %s (%s)\n", k->name, k->installed, k->file);
        print_db(chk, k);
        for (size_t r = 0; r < k->nrel; r++) {
            if (nx_release_newer(k, &k->rel[r]) != 1)
                continue;
            print_release(chk, k, &k->rel[r], 0);
            shown++;
        }
        if (!shown)
            printf("  no newer release\n");
    }
}

int cmd_list(struct cli *c, int argc, char **argv)
{
    if (argc > 1) {
        fprintf(stderr, "nexo-update: list: unexpected '%s'\n", argv[1]);
        return NX_EXIT_USAGE;
    }
    nx_check *chk = run_check(c, NULL, 0);
    if (!chk)
        return NX_EXIT_FAILED;
    if (c->out.json) {
        json_t *comps = json_array();
        for (size_t i = 0; i < chk->ncomp; i++)
            json_array_append_new(comps, component_json(chk, &chk->comp[i]));
        cli_print_json(json_pack("{s:s, s:s, s:s, s:s?, s:s?, s:s?, s:o, s:O}", "source",
                                 chk->source, "mode", chk->mode, "channel", chk->channel,
                                 "key_id", chk->key_id,
                                 "generated_at", chk->generated_at, "expires", chk->expires,
                                 "components", comps, "notes", chk->notes));
    } else
        list_text(chk);
    nx_check_free(chk);
    return NX_EXIT_OK;
}

/* ---- core, plugin SLUG: one component's update ---------------------------- */

/* The installed version as shown; a plugin not installed yet has none. */
static const char *shown_installed(const nx_component *k)
{
    return k->installed ? k->installed : "not installed";
}

/* The options after the command word; `slug` (plugin only, else NULL)
 * gets the first other argument. */
static int update_args(const char *cmd, int argc, char **argv, struct update_opts *o,
                       const char **slug)
{
    memset(o, 0, sizeof *o);
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--allow-downgrade") == 0)
            o->allow_downgrade = 1;
        else if (strcmp(argv[i], "--allow-major") == 0)
            o->allow_major = 1;
        else if (strcmp(argv[i], "--force") == 0)
            o->force = 1;
        else if (strcmp(argv[i], "--to") == 0 && i + 1 < argc)
            o->to = argv[++i];
        else if (strncmp(argv[i], "--to=", 5) == 0)
            o->to = argv[i] + 5;
        else if (slug && !*slug && argv[i][0] != '-')
            *slug = argv[i];
        else {
            fprintf(stderr, "nexo-update: %s: %s '%s'\n", cmd,
                    strcmp(argv[i], "--to") == 0 ? "a version must follow" : "unexpected",
                    argv[i]);
            return NX_EXIT_USAGE;
        }
    }
    if (o->allow_downgrade && !o->to) {
        fprintf(stderr, "nexo-update: %s: --allow-downgrade needs --to VERSION\n", cmd);
        return NX_EXIT_USAGE;
    }
    return 0;
}

static void list_versions(const nx_component *k, char *buf, size_t len)
{
    size_t off = 0;
    buf[0] = '\0';
    for (size_t i = 0; i < k->nrel; i++) {
        int n = snprintf(buf + off, len - off, "%s%s", i ? ", " : "", k->rel[i].version);
        if (n < 0 || (size_t)n >= len - off)
            break;
        off += (size_t)n;
    }
    if (!k->nrel)
        snprintf(buf, len, "none");
}

/* The release `--to VERSION` names: it must exist, meet its requirements,
 * and be newer unless --allow-downgrade. */
static const nx_release *pick_to(const struct cli *c, const nx_check *chk,
                                 const nx_component *k, const struct update_opts *o)
{
    char buf[2048];
    const nx_release *r = nx_component_release(k, o->to);
    if (!r) {
        list_versions(k, buf, sizeof buf);
        nx_log(&c->out, NEXO_LOG_ERROR, NULL, "%s %s is not offered by %s (offered: %s)",
               k->name, o->to, chk->source, buf);
        return NULL;
    }
    if (nx_release_newer(k, r) != 1 && !o->allow_downgrade) {
        nx_log(&c->out, NEXO_LOG_ERROR, NULL,
               "%s %s is not newer than the installed %s: refused (give --allow-downgrade "
               "with --to to install it anyway)", k->name, r->version, k->installed);
        return NULL;
    }
    if (json_array_size(r->unmet)) {
        nx_log(&c->out, NEXO_LOG_ERROR, NULL, "%s %s: the site does not meet its "
               "requirements: %s", k->name, r->version, unmet_text(r, buf, sizeof buf));
        return NULL;
    }
    return r;
}

/* The offer, on stdout and in the update's log (not with -q). */
static void print_offer(const struct cli *c, const nx_component *k, const nx_release *r)
{
    const nx_out *o = &c->out;
    char size[64];
    human_size(r->size, size, sizeof size);
    if (k->installed)
        nx_print(o, 1, "%s %s -> %s%s", k->name, k->installed, r->version, flags(r));
    else
        nx_print(o, 1, "%s (not installed) -> %s%s", k->name, r->version, flags(r));
    nx_print(o, 1, "  version:    %s", r->version);
    nx_print(o, 1, "  installed:  %s", shown_installed(k));
    nx_print(o, 1, "  size:       %s", size);
    nx_print(o, 1, "  sha256:     %s", r->sha256);
    nx_print(o, 1, "  signature:  %s", r->signature);
    nx_print(o, 1, "  url:        %s", r->url);
    nx_print(o, 1, "  released:   %s", r->release_date ? r->release_date : "(not given)");
    nx_print(o, 1, "  security:   %s", r->security ? "yes" : "no");
    nx_print(o, 1, "  critical:   %s", r->critical ? "yes" : "no");
    if (r->changelog && *r->changelog) {
        nx_print(o, 1, "  changelog:");
        const char *p = r->changelog;
        int n = 0;
        while (*p && n < CHANGELOG_LINES) {
            size_t len = strcspn(p, "\n");
            nx_print(o, 1, "    %.*s", (int)len, p);
            p += len + (p[len] == '\n');
            n++;
        }
        if (*p)
            nx_print(o, 1, "    ...");
    }
    fflush(stdout);
}

/* The offer facts (offer.h) without their "param." prefix: the request's
 * params become "param.NAME". A plugin not installed has no
 * param.installed (the verify step then has nothing to compare with). */
static json_t *offer_facts(const nx_component *k, const nx_release *r, int downgrade)
{
    char size[32];
    snprintf(size, sizeof size, "%llu", (unsigned long long)r->size);
    json_t *f = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s}", NX_OFFER_URL, r->url,
                          NX_OFFER_SHA256, r->sha256, NX_OFFER_SIGNATURE, r->signature,
                          NX_OFFER_SIZE, size, NX_OFFER_COMPONENT, k->name, NX_OFFER_VERSION,
                          r->version);
    if (k->installed)
        json_object_set_new(f, NX_OFFER_INSTALLED, json_string(k->installed));
    json_object_set_new(f, NX_OFFER_DOWNGRADE, json_string(downgrade ? "1" : "0"));
    return f;
}

/* The request's params become the facts "param.NAME": the same facts
 * without their prefix. */
static json_t *facts_to_params(const json_t *facts)
{
    json_t *p = json_object();
    const char *key;
    json_t *v;
    json_object_foreach((json_t *)facts, key, v) {
        const char *dot = strchr(key, '.');
        json_object_set(p, dot ? dot + 1 : key, v);
    }
    return p;
}

/* A MAJOR version change may break things: it needs its own yes (spec
 * §4.1 "user confirmation for breaking changes"), or --allow-major. A
 * first install changes no version. */
static int confirm_major(struct cli *c, const nx_component *k, const nx_release *r,
                         const struct update_opts *o)
{
    nx_semver a, b;
    nx_err e;
    int major = 0;
    if (k->installed && nx_semver_parse_loose(k->installed, &a, &e) == 0) {
        if (nx_semver_parse_loose(r->version, &b, &e) == 0) {
            major = a.major != b.major;
            nx_semver_free(&b);
        }
        nx_semver_free(&a);
    }
    if (!major || o->allow_major)
        return 1;
    if (!isatty(STDIN_FILENO)) {
        nx_log(&c->out, NEXO_LOG_ERROR, NULL,
               "%s %s -> %s is a MAJOR update (breaking changes possible): give --allow-major "
               "to confirm it without a terminal", k->name, k->installed, r->version);
        return -1;
    }
    fprintf(stderr, "%s %s -> %s is a MAJOR update: it may break plugins and customizations. "
                    "Continue? [y/N] ", k->name, k->installed, r->version);
    char buf[16];
    return fgets(buf, sizeof buf, stdin) && (buf[0] == 'y' || buf[0] == 'Y');
}

/* Ask "Update core from X to Y ...?" (or "Install plugin:SLUG Y ...?"),
 * then the MAJOR question: 1 yes, 0 no, -1 refused. */
static int confirm_update(struct cli *c, const nx_component *k, const nx_release *r,
                          const struct update_opts *o)
{
    const char *root = nx_config_get(c->cfg, "site", "root");
    char *q = k->installed ? nx_xasprintf("Update %s from %s to %s on the site %s?", k->name,
                                          k->installed, r->version, root)
                           : nx_xasprintf("Install %s %s on the site %s?", k->name,
                                          r->version, root);
    int ok = cli_confirm(c, q);
    free(q);
    return ok > 0 ? confirm_major(c, k, r, o) : ok;
}

/* Show the offer, confirm, and run the component's pipeline (core.ini,
 * plugin.ini) with the offer as facts; -n plans it. The offer's fields
 * for --json go into `doc`. */
static int offer_and_run(struct cli *c, const nx_component *k, const nx_release *r,
                         const struct update_opts *o, json_t *doc)
{
    int downgrade = o->allow_downgrade && nx_release_newer(k, r) != 1;
    json_t *facts = offer_facts(k, r, downgrade);
    json_t *params = facts_to_params(facts);
    json_object_set_new(doc, "installed", k->installed ? json_string(k->installed)
                                                       : json_null());
    json_object_set_new(doc, "version", json_string(r->version));
    json_object_set_new(doc, "is_security_update", json_boolean(r->security));
    json_object_set_new(doc, "is_critical", json_boolean(r->critical));
    json_object_set_new(doc, "facts", facts);
    if (!c->out.json)
        print_offer(c, k, r);
    if (!c->dry_run) {
        int ok = confirm_update(c, k, r, o);
        if (ok <= 0) {
            json_decref(params);
            json_object_set_new(doc, "outcome", json_string("refused"));
            json_object_set_new(doc, "error", json_string(ok < 0 ? "not confirmed: no "
                                "terminal to ask, and no -y" : "not confirmed"));
            if (ok == 0)
                nx_log(&c->out, NEXO_LOG_INFO, NULL, "not confirmed: nothing was changed");
            return ok < 0 ? NX_EXIT_USAGE : NX_EXIT_OK;
        }
    }
    nx_config *cfg = c->cfg;
    char *path = nx_pipeline_path(nx_config_get(cfg, "paths", "pipelines"),
                                  k->slug ? "plugin" : "core");
    struct nx_update_req req = { .pipeline = path, .component = k->name,
                                 .from = k->installed, .to = r->version,
                                 .params = params, .dry_run = c->dry_run };
    int code = nx_update_run(&c->out, cfg, &req, c->faults);
    free(path);
    json_decref(params);
    return code;
}

/* Nothing to run: say why (exit 0 when up to date, 1 when a plugin that
 * is not installed has no release to install). */
static int nothing_offered(struct cli *c, const nx_check *chk, const nx_component *k,
                           json_t *doc)
{
    if (!k->installed) {
        nx_log(&c->out, NEXO_LOG_ERROR, NULL, "%s is not installed, and %s offers no "
               "release of it this site can install", k->name, chk->source);
        return NX_EXIT_FAILED;
    }
    json_object_set_new(doc, "installed", json_string(k->installed));
    json_object_set_new(doc, "version", json_null());
    json_object_set_new(doc, "source", json_string(chk->source));
    if (!c->out.json)
        nx_print(&c->out, 1, "%s %s: no update available from %s", k->name, k->installed,
                 chk->source);
    return NX_EXIT_OK;
}

/* The database's version is the truth (docs/updates.md): files ahead of
 * it are said (the update migrates from the database's version first); a
 * database ahead of the files refuses the update before it is offered
 * (1), naming both. */
static int db_refuses(struct cli *c, const nx_component *k)
{
    char *msg = NULL;
    int st = nx_db_state(k->name, k->installed, k->registered, &msg);
    if (msg)
        nx_log(&c->out, st == NX_DB_DB_AHEAD ? NEXO_LOG_ERROR : NEXO_LOG_WARN, NULL, "%s: %s",
               k->name, msg);
    free(msg);
    return st == NX_DB_DB_AHEAD;
}

/* --force: say which conflicts with what is installed are overridden. */
static void warn_forced(struct cli *c, const nx_component *k, const nx_release *r)
{
    size_t i;
    json_t *cf;
    json_array_foreach(r->conflicts, i, cf)
        nx_log(&c->out, NEXO_LOG_WARN, NULL, "%s %s: overridden by --force: %s", k->name,
               r->version, json_string_value(json_object_get(cf, "message")));
}

/* The update's lines go into its log (nx_capture): also the check, the
 * offer and the confirmation before the update id exists. With --json
 * one document ends it (docs/operations.md, "JSON output"): printed here,
 * or, when the caller has a sink of its own in c->out.sink (all, or any
 * command running several updates), handed to it as its report. */
int cli_update_component(struct cli *c, const char *component, const struct update_opts *opts)
{
    struct update_opts o = *opts;
    nx_capture cap;
    nx_capture_begin(&cap, &c->out);
    json_t *extra = json_object();
    char *from = NULL, *to = NULL;
    int code = NX_EXIT_FAILED;
    nx_check *chk = run_check(c, component, o.force);
    const nx_component *k = chk ? nx_check_find(chk, component) : NULL;
    const nx_release *r = NULL;
    if (chk && !k) {
        nx_log(&c->out, NEXO_LOG_ERROR, NULL, "%s: not a component (core or plugin:SLUG)",
               component);
    } else if (k && db_refuses(c, k)) {
        code = NX_EXIT_FAILED;
    } else if (k) {
        from = k->installed ? nx_xstrdup(k->installed) : NULL;
        const nx_release *blocked = o.to ? NULL : nx_component_php_blocked(k);
        r = o.to ? pick_to(c, chk, k, &o) : blocked ? NULL : k->offer;
        if (!o.to && !blocked)
            hint_unmet(c, k);
        if (r)
            to = nx_xstrdup(r->version);
        if (blocked) {
            char *why = nx_php_refusal(k, blocked);
            nx_log(&c->out, NEXO_LOG_ERROR, NULL, "%s", why);
            free(why);
            code = NX_EXIT_FAILED;
        } else if (!r && o.to)
            code = NX_EXIT_FAILED;
        else if (!r)
            code = nothing_offered(c, chk, k, extra);
        else {
            if (o.force)
                warn_forced(c, k, r);
            code = offer_and_run(c, k, r, &o, extra);
        }
    }
    nx_check_free(chk);
    json_t *doc = nx_capture_end(&cap, code, component, from, to);
    json_object_update(doc, extra);
    json_decref(extra);
    free(from);
    free(to);
    if (c->out.sink) {
        json_decref(c->out.sink->report);
        c->out.sink->report = doc;
    } else if (c->out.json) {
        cli_print_json(doc);
    } else {
        json_decref(doc);
    }
    return code;
}

int cmd_core(struct cli *c, int argc, char **argv)
{
    struct update_opts o;
    int code = update_args("core", argc, argv, &o, NULL);
    if (code != 0)
        return code;
    return cli_update_component(c, "core", &o);
}

/* A plugin's slug (docs/releases.md): 1-64 of a-z 0-9 _ -, starting with
 * a letter or digit. */
static int slug_ok(const char *s)
{
    size_t n = strlen(s);
    return n > 0 && n <= 64 && strspn(s, "abcdefghijklmnopqrstuvwxyz0123456789_-") == n &&
           s[0] != '_' && s[0] != '-';
}

int cmd_plugin(struct cli *c, int argc, char **argv)
{
    struct update_opts o;
    const char *slug = strncmp(argv[0], "plugin:", 7) == 0 ? argv[0] + 7 : NULL;
    const char *pos = NULL;
    int code = update_args("plugin", argc, argv, &o, slug ? NULL : &pos);
    if (code != 0)
        return code;
    if (!slug)
        slug = pos;
    if (!slug || !*slug) {
        fprintf(stderr, "nexo-update: plugin: which plugin? (plugin SLUG, or plugin:SLUG)\n");
        return NX_EXIT_USAGE;
    }
    if (!slug_ok(slug)) {
        fprintf(stderr, "nexo-update: plugin: '%s' is not a plugin slug (1 to 64 of a-z, 0-9, "
                "'_' and '-', starting with a letter or digit)\n", slug);
        return NX_EXIT_USAGE;
    }
    char *component = nx_xasprintf("plugin:%s", slug);
    code = cli_update_component(c, component, &o);
    free(component);
    return code;
}
