/*
 * forum_log — an example of a step a plugin package brings of its own
 * (docs/plugin-authors.md). The "forum" plugin's fragment nexo-steps.ini
 * inserts it after the migrate step of the plugin pipeline:
 *
 *   [forum-log]
 *   module = steps/forum_log.so
 *   after = migrate
 *   table = forum_events
 *
 * run writes one row into the plugin's own table (which the plugin's
 * migrations created): event "upgraded FROM -> TO by update ID". Before it
 * writes, it journals the event text, so undo — in this process after a
 * later step failed, or in `nexo-update recover` after a crash — deletes
 * exactly that row. Doing undo twice deletes nothing the second time.
 *
 * Build against an installed nexo-update:  make
 * (PKG_CONFIG_PATH must find nexo-update.pc).
 */
#define _POSIX_C_SOURCE 200809L
#include <nexo/driver.h>
#include <nexo/step.h>

#include <stdio.h>
#include <string.h>
#include <time.h>

static const struct nexo_setting settings[] = {
    { "table", "forum_events", 0, "the plugin's table (id, event, created_at)" },
    { NULL, NULL, 0, NULL },
};

/* "$1, $2" for PostgreSQL, "?, ?" for the others. */
static const char *ph(const struct nexo_db *db, int n)
{
    int pg = strcmp(db->driver->name, "pgsql") == 0;
    return n == 1 ? (pg ? "$1" : "?") : (pg ? "$2" : "?");
}

static int sql_for(const struct nexo_host *h, nexo_ctx *c, struct nexo_db *db,
                   const char *what, char *buf, size_t len)
{
    char table[128];
    if (db->driver->quote_ident(h->setting(c, "table"), table, sizeof table) != 0)
        return h->fail(c, NEXO_EINVAL, "table = %s: not a valid table name",
                       h->setting(c, "table"));
    if (strcmp(what, "insert") == 0)
        snprintf(buf, len, "INSERT INTO %s (event, created_at) VALUES (%s, %s)", table,
                 ph(db, 1), ph(db, 2));
    else
        snprintf(buf, len, "DELETE FROM %s WHERE event = %s", table, ph(db, 1));
    return NEXO_OK;
}

static int fl_run(const struct nexo_host *h, nexo_ctx *c)
{
    struct nexo_db *db = h->db(c);
    if (!db)
        return NEXO_EDB;
    char event[512], now[32], sql[512];
    const char *from = h->info(c, "from_version");
    snprintf(event, sizeof event, "upgraded %s -> %s by update %s", from ? from : "(new)",
             h->info(c, "to_version"), h->info(c, "update_id"));
    snprintf(now, sizeof now, "%lld", (long long)time(NULL));
    int rc = sql_for(h, c, db, "insert", sql, sizeof sql);
    /* journaled first: undo must find the row even if we die right after */
    if (rc == NEXO_OK)
        rc = h->state_set(c, "event", event);
    const char *params[2] = { event, now };
    if (rc == NEXO_OK)
        rc = db->driver->exec(h, c, db->conn, sql, 2, params);
    if (rc == NEXO_OK)
        h->log(c, NEXO_LOG_INFO, "noted in %s: %s", h->setting(c, "table"), event);
    return rc;
}

static int fl_undo(const struct nexo_host *h, nexo_ctx *c)
{
    const char *event = h->state_get(c, "event");
    if (!event)
        return NEXO_OK; /* run wrote nothing */
    struct nexo_db *db = h->db(c);
    if (!db)
        return NEXO_EDB;
    char sql[512];
    int rc = sql_for(h, c, db, "delete", sql, sizeof sql);
    const char *params[1] = { event };
    if (rc == NEXO_OK)
        rc = db->driver->exec(h, c, db->conn, sql, 1, params);
    if (rc == NEXO_OK)
        h->log(c, NEXO_LOG_INFO, "removed from %s: %s", h->setting(c, "table"), event);
    return rc;
}

NEXO_STEP_MODULE = {
    NEXO_STEP_HEADER,
    .name = "forum_log",
    .version = "1.0.0",
    .summary = "note the upgrade in the forum plugin's own table (example)",
    .settings = settings,
    .run = fl_run,
    .undo = fl_undo,
};
