/* The SQLite driver module (drivers/sqlite) through the fake host: the
 * built sqlite.so is loaded as the host loads it. */
#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "fakehost.h"
#include "loader.h"
#include "testutil.h"
#include "util.h"

#define MODULE NX_TEST_BINDIR "/modules/drivers/sqlite.so"

static nx_module *mod;
static const struct nexo_driver_module *drv;
static struct fakehost fh;
static const struct nexo_host *H;
static nexo_ctx *C;
static char *dbpath;

static void setup(void)
{
    nx_err e;
    tu_tmp_setup();
    mod = nx_module_load(MODULE, NX_DRIVER, &e);
    ck_assert_msg(mod != NULL, "%s", e.msg);
    drv = mod->driver;
    fh_init(&fh, NULL);
    H = &fh.table;
    C = fh_ctx(&fh);
    dbpath = nx_path_join(tu_dir, "site.db");
    json_object_set_new(fh.config, "database.path", json_string(dbpath));
}

static void teardown(void)
{
    fh_free(&fh);
    free(dbpath);
    nx_module_unload(mod);
    tu_tmp_teardown();
}

/* ---- helpers ----------------------------------------------------------- */

static void *open_db(void)
{
    void *conn = NULL;
    int rc = drv->connect(H, C, &conn);
    ck_assert_msg(rc == 0, "connect: %s", fh.msg);
    ck_assert_ptr_nonnull(conn);
    return conn;
}

static void X(void *conn, const char *sql)
{
    int rc = drv->exec(H, C, conn, sql, 0, NULL);
    ck_assert_msg(rc == 0, "%s: %s", sql, fh.msg);
}

struct text {
    char *p;
    size_t n;
};

static void text_add(struct text *t, const char *s)
{
    size_t len = strlen(s);
    t->p = nx_xrealloc(t->p, t->n + len + 1);
    memcpy(t->p + t->n, s, len + 1);
    t->n += len;
}

/* Rows as "a|b\n" lines, SQL NULL as NULL. */
static int to_text(void *arg, int ncols, const char *const *names, const char *const *values)
{
    (void)names;
    for (int i = 0; i < ncols; i++) {
        if (i)
            text_add(arg, "|");
        text_add(arg, values[i] ? values[i] : "NULL");
    }
    text_add(arg, "\n");
    return 0;
}

static char *Qp(void *conn, const char *sql, int np, const char *const *p)
{
    struct text t = { nx_xstrdup(""), 0 };
    int rc = drv->query(H, C, conn, sql, np, p, to_text, &t);
    ck_assert_msg(rc == 0, "%s: %s", sql, fh.msg);
    return t.p;
}

static char *Q(void *conn, const char *sql)
{
    return Qp(conn, sql, 0, NULL);
}

#define ck_query(conn, sql, expected)                                                        \
    do {                                                                                     \
        char *got_ = Q(conn, sql);                                                           \
        ck_assert_str_eq(got_, expected);                                                    \
        free(got_);                                                                          \
    } while (0)

static int render_exec(void *conn, const struct nexo_op *op)
{
    struct nexo_stmt *st = NULL;
    size_t n = 0;
    int rc = drv->render(H, C, conn, op, &st, &n);
    for (size_t i = 0; !rc && i < n; i++)
        rc = drv->exec(H, C, conn, st[i].sql, st[i].nparams, (const char *const *)st[i].params);
    drv->free_stmts(st, n);
    return rc;
}

#define RUN(conn, op)                                                                        \
    do {                                                                                     \
        int rc_ = render_exec(conn, op);                                                     \
        ck_assert_msg(rc_ == 0, "render/exec: %s", fh.msg);                                  \
    } while (0)

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Every line of `rows`, sorted, appended to t. */
static void add_sorted(struct text *t, char *rows)
{
    size_t n = 0;
    char **lines = NULL;
    char *save = NULL;
    for (char *l = strtok_r(rows, "\n", &save); l; l = strtok_r(NULL, "\n", &save)) {
        lines = nx_xrealloc(lines, (n + 1) * sizeof *lines);
        lines[n++] = l;
    }
    qsort(lines, n, sizeof *lines, cmp_str);
    for (size_t i = 0; i < n; i++) {
        text_add(t, lines[i]);
        text_add(t, "\n");
    }
    free(lines);
}

/* The schema and every row of every table (sqlite_sequence included) in a
 * canonical order. */
static char *dump(void *conn)
{
    struct text t = { Q(conn, "SELECT type, name, tbl_name, sql FROM sqlite_master "
                              "ORDER BY type, name"), 0 };
    t.n = strlen(t.p);
    char *tables = Q(conn, "SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name");
    char *save = NULL;
    for (char *name = strtok_r(tables, "\n", &save); name; name = strtok_r(NULL, "\n", &save)) {
        char *sql = nx_xasprintf("SELECT * FROM \"%s\"", name);
        char *rows = Q(conn, sql);
        text_add(&t, "== ");
        text_add(&t, name);
        text_add(&t, "\n");
        add_sorted(&t, rows);
        free(rows);
        free(sql);
    }
    free(tables);
    return t.p;
}

static void ck_clean(void *conn)
{
    ck_query(conn, "PRAGMA foreign_key_check", "");
    ck_query(conn, "PRAGMA integrity_check", "ok\n");
    ck_query(conn, "PRAGMA foreign_keys", "1\n");
}

/* ---- connect ------------------------------------------------------------- */

START_TEST(connect_creates_private_file)
{
    mode_t old = umask(0);
    void *conn = open_db();
    umask(old);
    struct stat st;
    ck_assert_int_eq(stat(dbpath, &st), 0);
    ck_assert_int_eq(st.st_mode & 07777, 0600);
    ck_assert_ptr_nonnull(strstr(fh.logbuf, "created the database file"));
    ck_query(conn, "PRAGMA foreign_keys", "1\n");
    ck_query(conn, "PRAGMA busy_timeout", "5000\n");
    char v[32];
    ck_assert_int_eq(drv->server_version(H, C, conn, v, sizeof v), 0);
    char *lib = Q(conn, "SELECT sqlite_version()");
    ck_assert_int_eq(strncmp(v, "3.", 2), 0);
    ck_assert_uint_eq(strlen(lib), strlen(v) + 1);
    ck_assert_int_eq(strncmp(lib, v, strlen(v)), 0);
    free(lib);
    ck_assert_int_eq(drv->server_version(H, C, conn, v, 3), NEXO_EINVAL);
    drv->disconnect(conn);

    /* a restrictive umask does not matter either, nor an existing file */
    ck_assert_int_eq(unlink(dbpath), 0);
    old = umask(0277);
    conn = open_db();
    umask(old);
    ck_assert_int_eq(stat(dbpath, &st), 0);
    ck_assert_int_eq(st.st_mode & 07777, 0600);
    drv->disconnect(conn);
    ck_assert_int_eq(chmod(dbpath, 0640), 0);
    conn = open_db();
    ck_assert_int_eq(stat(dbpath, &st), 0);
    ck_assert_int_eq(st.st_mode & 07777, 0640);
    drv->disconnect(conn);
}
END_TEST

START_TEST(connect_refuses)
{
    void *conn = (void *)&fh;
    json_object_del(fh.config, "database.path");
    ck_assert_int_eq(drv->connect(H, C, &conn), NEXO_EINVAL);
    ck_assert_ptr_null(conn);
    ck_assert_ptr_nonnull(strstr(fh.msg, "[database] path"));

    char *junk = tu_write("junk.db", "this is not an SQLite database, not at all, no no no\n");
    json_object_set_new(fh.config, "database.path", json_string(junk));
    ck_assert_int_eq(drv->connect(H, C, &conn), NEXO_EDB);
    ck_assert_ptr_nonnull(strstr(fh.msg, junk));
    ck_assert_ptr_nonnull(strstr(fh.msg, "not a database"));

    char *nodir = nx_path_join(tu_dir, "missing/site.db");
    json_object_set_new(fh.config, "database.path", json_string(nodir));
    ck_assert_int_eq(drv->connect(H, C, &conn), NEXO_EIO);
    ck_assert_ptr_nonnull(strstr(fh.msg, nodir));
    free(junk);
    free(nodir);
}
END_TEST

START_TEST(descriptor)
{
    ck_assert_str_eq(drv->name, "sqlite");
    ck_assert_str_eq(drv->dialect, "sqlite");
    ck_assert_uint_eq(drv->flags, NEXO_DRIVER_TRANSACTIONAL_DDL);
    ck_assert_uint_eq(drv->abi, NEXO_ABI_VERSION);
    ck_assert_uint_eq(drv->size, sizeof(struct nexo_driver_module));
}
END_TEST

/* ---- statements ---------------------------------------------------------- */

static int stop_after_one(void *arg, int ncols, const char *const *names,
                          const char *const *values)
{
    (void)ncols;
    (void)values;
    ck_assert_str_eq(names[0], "a");
    ++*(int *)arg;
    return 7;
}

START_TEST(exec_and_query_with_params)
{
    void *conn = open_db();
    X(conn, "CREATE TABLE t (a INTEGER, b TEXT)");
    const char *p1[] = { "1", "one" };
    const char *p2[] = { "2", NULL };
    ck_assert_int_eq(drv->exec(H, C, conn, "INSERT INTO t VALUES (?, ?)", 2, p1), 0);
    ck_assert_int_eq(drv->exec(H, C, conn, "INSERT INTO t VALUES (?, ?)", 2, p2), 0);
    ck_query(conn, "SELECT a, b, typeof(a), typeof(b) FROM t ORDER BY a",
             "1|one|integer|text\n2|NULL|integer|null\n");
    const char *q[] = { "1" };
    char *got = Qp(conn, "SELECT b FROM t WHERE a > ?", 1, q);
    ck_assert_str_eq(got, "NULL\n");
    free(got);
    const char *qn[] = { NULL };
    got = Qp(conn, "SELECT count(*) FROM t WHERE b IS ?", 1, qn);
    ck_assert_str_eq(got, "1\n");
    free(got);
    /* a non-zero row result stops the query and is returned */
    int calls = 0;
    ck_assert_int_eq(drv->query(H, C, conn, "SELECT a FROM t", 0, NULL, stop_after_one, &calls),
                     7);
    ck_assert_int_eq(calls, 1);
    drv->disconnect(conn);
}
END_TEST

START_TEST(statement_errors_name_the_sql)
{
    void *conn = open_db();
    ck_assert_int_eq(drv->exec(H, C, conn, "INSERT INTO nowhere VALUES (1)", 0, NULL), NEXO_EDB);
    ck_assert_ptr_nonnull(strstr(fh.msg, "no such table: nowhere"));
    ck_assert_ptr_nonnull(strstr(fh.msg, "INSERT INTO nowhere VALUES (1)"));

    X(conn, "CREATE TABLE t (a INTEGER NOT NULL)");
    const char *p[] = { NULL };
    ck_assert_int_eq(drv->exec(H, C, conn, "INSERT INTO t (a) VALUES (?)", 1, p), NEXO_EDB);
    ck_assert_ptr_nonnull(strstr(fh.msg, "NOT NULL constraint failed: t.a"));
    ck_assert_ptr_nonnull(strstr(fh.msg, "INSERT INTO t (a) VALUES (?)"));

    ck_assert_int_eq(drv->exec(H, C, conn, "INSERT INTO t (a) VALUES (?)", 0, NULL),
                     NEXO_EINVAL);
    ck_assert_ptr_nonnull(strstr(fh.msg, "1 placeholders but 0 parameters"));
    ck_assert_int_eq(drv->exec(H, C, conn, "DELETE FROM t; DROP TABLE t", 0, NULL), NEXO_EINVAL);
    ck_assert_ptr_nonnull(strstr(fh.msg, "more than one statement"));
    ck_query(conn, "SELECT count(*) FROM sqlite_master WHERE name = 't'", "1\n");
    X(conn, "DELETE FROM t; -- a comment is fine\n");

    /* long statements are quoted up to 200 characters */
    char sql[400];
    memset(sql, ' ', sizeof sql);
    memcpy(sql, "SELEC", 5);
    memcpy(sql + 300, "tail", 4);
    sql[sizeof sql - 1] = '\0';
    ck_assert_int_eq(drv->query(H, C, conn, sql, 0, NULL, NULL, NULL), NEXO_EDB);
    ck_assert_ptr_nonnull(strstr(fh.msg, "SELEC"));
    ck_assert_ptr_nonnull(strstr(fh.msg, "..."));
    ck_assert_ptr_null(strstr(fh.msg, "tail"));
    drv->disconnect(conn);
}
END_TEST

START_TEST(transactions)
{
    void *conn = open_db();
    X(conn, "CREATE TABLE t (a INTEGER)");
    ck_assert_int_eq(drv->begin(H, C, conn), 0);
    X(conn, "INSERT INTO t VALUES (1)");
    X(conn, "CREATE TABLE u (b)");
    ck_assert_int_eq(drv->rollback(H, C, conn), 0);
    ck_query(conn, "SELECT count(*) FROM t", "0\n");
    ck_assert_int_eq(drv->exists(H, C, conn, "u", NULL, NULL), 0);

    ck_assert_int_eq(drv->begin(H, C, conn), 0);
    ck_assert_int_eq(drv->begin(H, C, conn), NEXO_EDB);
    ck_assert_ptr_nonnull(strstr(fh.msg, "BEGIN IMMEDIATE"));
    X(conn, "INSERT INTO t VALUES (2)");
    ck_assert_int_eq(drv->commit(H, C, conn), 0);
    ck_query(conn, "SELECT a FROM t", "2\n");
    /* nothing open: rollback is a no-op, commit an error */
    ck_assert_int_eq(drv->rollback(H, C, conn), 0);
    ck_assert_int_eq(drv->commit(H, C, conn), NEXO_EDB);

    /* a second connection sees only committed work */
    void *other = open_db();
    ck_assert_int_eq(drv->begin(H, C, conn), 0);
    X(conn, "INSERT INTO t VALUES (3)");
    ck_query(other, "SELECT count(*) FROM t", "1\n");
    ck_assert_int_eq(drv->commit(H, C, conn), 0);
    ck_query(other, "SELECT count(*) FROM t", "2\n");
    drv->disconnect(other);
    drv->disconnect(conn);
}
END_TEST

START_TEST(exists_tables_columns_indexes)
{
    void *conn = open_db();
    X(conn, "CREATE TABLE users (id INTEGER PRIMARY KEY, email TEXT)");
    X(conn, "CREATE TABLE other (x)");
    X(conn, "CREATE INDEX idx_email ON users (email)");
    ck_assert_int_eq(drv->exists(H, C, conn, "users", NULL, NULL), 1);
    ck_assert_int_eq(drv->exists(H, C, conn, "USERS", NULL, NULL), 1);
    ck_assert_int_eq(drv->exists(H, C, conn, "nobody", NULL, NULL), 0);
    ck_assert_int_eq(drv->exists(H, C, conn, "idx_email", NULL, NULL), 0);
    ck_assert_int_eq(drv->exists(H, C, conn, "users", "email", NULL), 1);
    ck_assert_int_eq(drv->exists(H, C, conn, "users", "Email", NULL), 1);
    ck_assert_int_eq(drv->exists(H, C, conn, "users", "phone", NULL), 0);
    ck_assert_int_eq(drv->exists(H, C, conn, "nobody", "email", NULL), 0);
    ck_assert_int_eq(drv->exists(H, C, conn, "users", NULL, "idx_email"), 1);
    ck_assert_int_eq(drv->exists(H, C, conn, NULL, NULL, "idx_email"), 1);
    ck_assert_int_eq(drv->exists(H, C, conn, "other", NULL, "idx_email"), 0);
    ck_assert_int_eq(drv->exists(H, C, conn, "users", NULL, "idx_none"), 0);
    ck_assert_int_eq(drv->exists(H, C, conn, NULL, NULL, NULL), NEXO_EINVAL);
    drv->disconnect(conn);
}
END_TEST

START_TEST(quote_ident)
{
    char buf[300];
    ck_assert_int_eq(drv->quote_ident("users", buf, sizeof buf), 0);
    ck_assert_str_eq(buf, "\"users\"");
    ck_assert_int_eq(drv->quote_ident("a\"b", buf, sizeof buf), 0);
    ck_assert_str_eq(buf, "\"a\"\"b\"");
    ck_assert_int_eq(drv->quote_ident("", buf, sizeof buf), NEXO_EINVAL);
    ck_assert_int_eq(drv->quote_ident("users", buf, 7), NEXO_EINVAL);
    ck_assert_int_eq(drv->quote_ident("users", buf, 8), 0);
    ck_assert_int_eq(drv->quote_ident("a\nb", buf, sizeof buf), NEXO_EINVAL);
    char longname[200];
    memset(longname, 'x', sizeof longname);
    longname[129] = '\0';
    ck_assert_int_eq(drv->quote_ident(longname, buf, sizeof buf), NEXO_EINVAL);
    longname[128] = '\0';
    ck_assert_int_eq(drv->quote_ident(longname, buf, sizeof buf), 0);
}
END_TEST

/* ---- lock ------------------------------------------------------------------ */

START_TEST(lock_excludes_a_second_connection)
{
    void *a = open_db();
    void *b = open_db();
    ck_assert_int_eq(drv->lock(H, C, a, "nexo-update", 0), 0);
    ck_assert_int_eq(drv->lock(H, C, a, "nexo-update", 0), 0); /* held already */
    ck_assert_int_eq(drv->lock(H, C, a, "other", 0), NEXO_EINVAL);
    char *lockfile = nx_xasprintf("%s.nexo-lock", dbpath);
    struct stat st;
    ck_assert_int_eq(stat(lockfile, &st), 0);
    ck_assert_int_eq(st.st_mode & 07777, 0600);

    ck_assert_int_eq(drv->lock(H, C, b, "nexo-update", 0), NEXO_EBUSY);
    ck_assert_ptr_nonnull(strstr(fh.msg, "held by another process"));
    ck_assert_ptr_nonnull(strstr(fh.msg, lockfile));
    char pid[32];
    snprintf(pid, sizeof pid, "pid %ld", (long)getpid());
    ck_assert_ptr_nonnull(strstr(fh.msg, pid));
    long long t0 = nx_mono_ms();
    ck_assert_int_eq(drv->lock(H, C, b, "nexo-update", 1), NEXO_EBUSY);
    ck_assert_int_ge(nx_mono_ms() - t0, 900);

    ck_assert_int_eq(drv->unlock(H, C, a, "nexo-update"), 0);
    ck_assert_int_eq(drv->unlock(H, C, a, "nexo-update"), 0); /* not held: fine */
    ck_assert_int_eq(drv->lock(H, C, b, "nexo-update", 0), 0);
    ck_assert_int_eq(drv->lock(H, C, a, "nexo-update", 0), NEXO_EBUSY);
    ck_assert_int_eq(drv->unlock(H, C, b, "wrong"), NEXO_EINVAL);
    drv->disconnect(b); /* releases */
    ck_assert_int_eq(drv->lock(H, C, a, "nexo-update", 0), 0);
    drv->disconnect(a);
    free(lockfile);
}
END_TEST

START_TEST(lock_across_processes)
{
    void *a = open_db();
    ck_assert_int_eq(drv->lock(H, C, a, "nexo-update", 0), 0);
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        void *b = NULL;
        int rc = drv->connect(H, C, &b);
        if (rc == 0)
            rc = drv->lock(H, C, b, "nexo-update", 0);
        _exit(rc == NEXO_EBUSY ? 0 : 1);
    }
    int status = 0;
    ck_assert_int_eq(waitpid(pid, &status, 0), pid);
    ck_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    drv->disconnect(a);
}
END_TEST

/* ---- snapshots --------------------------------------------------------------- */

static void sample_schema(void *conn)
{
    X(conn, "CREATE TABLE users (id INTEGER PRIMARY KEY AUTOINCREMENT, email TEXT NOT NULL)");
    X(conn, "CREATE TABLE posts (id INTEGER PRIMARY KEY, user_id INTEGER REFERENCES "
            "users (id) ON DELETE CASCADE, body TEXT)");
    X(conn, "CREATE UNIQUE INDEX idx_email ON users (email)");
    X(conn, "CREATE VIEW v_posts AS SELECT u.email, p.body FROM posts p JOIN users u "
            "ON u.id = p.user_id");
    X(conn, "CREATE TRIGGER tr_posts AFTER INSERT ON posts BEGIN UPDATE posts SET body = "
            "upper(body) WHERE id = new.id; END");
    X(conn, "INSERT INTO users (email) VALUES ('a@x'), ('b@x'), ('c@x')");
    X(conn, "INSERT INTO posts (user_id, body) VALUES (1, 'hello'), (2, NULL)");
    X(conn, "DELETE FROM users WHERE id = 3"); /* sequence 3, max(id) 2 */
}

START_TEST(backup_and_restore_round_trip)
{
    void *conn = open_db();
    sample_schema(conn);
    char *before = dump(conn);
    char *snap = nx_path_join(tu_dir, "snap.db");
    ck_assert_int_eq(drv->backup(H, C, conn, snap), 0);
    struct stat st;
    ck_assert_int_eq(stat(snap, &st), 0);
    ck_assert_int_eq(st.st_mode & 07777, 0600);
    char *tmp = nx_xasprintf("%s.tmp-%ld", snap, (long)getpid());
    ck_assert_int_ne(access(tmp, F_OK), 0);

    /* change everything a migration could */
    X(conn, "CREATE TABLE extra (x)");
    X(conn, "INSERT INTO extra VALUES (1)");
    X(conn, "DROP VIEW v_posts");
    X(conn, "DROP TABLE posts");
    X(conn, "INSERT INTO users (email) VALUES ('d@x')");
    X(conn, "DELETE FROM users WHERE email = 'd@x'");
    X(conn, "UPDATE users SET email = 'z@x' WHERE id = 1");
    X(conn, "CREATE INDEX idx_more ON users (id, email)");
    ck_query(conn, "SELECT seq FROM sqlite_sequence WHERE name = 'users'", "4\n");
    char *changed = dump(conn);
    ck_assert_str_ne(changed, before);

    ck_assert_int_eq(drv->restore(H, C, conn, snap), 0);
    char *after = dump(conn);
    ck_assert_str_eq(after, before);
    ck_query(conn, "SELECT seq FROM sqlite_sequence WHERE name = 'users'", "3\n");
    X(conn, "INSERT INTO users (email) VALUES ('e@x')");
    ck_query(conn, "SELECT max(id) FROM users", "4\n");
    ck_clean(conn);
    /* a second connection (another process of the site) sees it too */
    void *other = open_db();
    ck_query(other, "SELECT count(*) FROM posts", "2\n");
    drv->disconnect(other);
    free(before);
    free(changed);
    free(after);
    free(tmp);
    free(snap);
    drv->disconnect(conn);
}
END_TEST

/* Progress of a snapshot is in bytes (nexo.h: done and total are bytes):
 * pages times the page size, the last report done == total == the file's
 * size. */
static uint64_t prog_done, prog_total;
static unsigned prog_calls;
static char prog_what[64];

static void rec_progress(nexo_ctx *c, const char *what, uint64_t done, uint64_t total)
{
    (void)c;
    snprintf(prog_what, sizeof prog_what, "%s", what);
    prog_done = done;
    prog_total = total;
    prog_calls++;
}

START_TEST(backup_progress_counts_bytes)
{
    void *conn = open_db();
    X(conn, "PRAGMA page_size = 4096");
    X(conn, "VACUUM");
    X(conn, "CREATE TABLE big (x BLOB)");
    X(conn, "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 300) "
            "INSERT INTO big SELECT zeroblob(4000) FROM n");
    char *snap = nx_path_join(tu_dir, "progress.db");
    void (*saved)(nexo_ctx *, const char *, uint64_t, uint64_t) = fh.table.progress;
    fh.table.progress = rec_progress;
    prog_calls = 0;
    ck_assert_int_eq(drv->backup(H, C, conn, snap), 0);
    fh.table.progress = saved;
    struct stat st;
    ck_assert_int_eq(stat(snap, &st), 0);
    ck_assert_uint_gt(prog_calls, 0);
    ck_assert_str_eq(prog_what, "backup");
    ck_assert_uint_eq(prog_total, (uint64_t)st.st_size);
    ck_assert_uint_eq(prog_done, prog_total);
    ck_assert_uint_gt(prog_total, 300u * 4000u);
    free(snap);
    drv->disconnect(conn);
}
END_TEST

START_TEST(backup_and_restore_refuse)
{
    void *conn = open_db();
    sample_schema(conn);
    char *before = dump(conn);
    char *snap = nx_path_join(tu_dir, "snap.db");
    ck_assert_int_eq(drv->begin(H, C, conn), 0);
    ck_assert_int_eq(drv->backup(H, C, conn, snap), NEXO_EINVAL);
    ck_assert_ptr_nonnull(strstr(fh.msg, "transaction"));
    ck_assert_int_ne(access(snap, F_OK), 0);
    ck_assert_int_eq(drv->restore(H, C, conn, snap), NEXO_EINVAL);
    ck_assert_int_eq(drv->rollback(H, C, conn), 0);

    ck_assert_int_eq(drv->restore(H, C, conn, snap), NEXO_ENOTFOUND);
    ck_assert_ptr_nonnull(strstr(fh.msg, snap));
    char *junk = tu_write("junk.db", "not a database at all, really not, this is only some text\n");
    ck_assert_int_eq(drv->restore(H, C, conn, junk), NEXO_EVERIFY);
    ck_assert_ptr_nonnull(strstr(fh.msg, junk));
    char *after = dump(conn);
    ck_assert_str_eq(after, before);

    char *nodir = nx_path_join(tu_dir, "missing/snap.db");
    ck_assert_int_eq(drv->backup(H, C, conn, nodir), NEXO_EIO);
    ck_assert_ptr_nonnull(strstr(fh.msg, nodir));
    free(before);
    free(after);
    free(junk);
    free(nodir);
    free(snap);
    drv->disconnect(conn);
}
END_TEST

START_TEST(backup_of_a_wal_database)
{
    void *conn = open_db();
    ck_query(conn, "PRAGMA journal_mode = WAL", "wal\n");
    sample_schema(conn);
    char *before = dump(conn);
    char *snap = nx_path_join(tu_dir, "snap.db");
    ck_assert_int_eq(drv->backup(H, C, conn, snap), 0);
    char *wal = nx_xasprintf("%s-wal", snap);
    ck_assert_int_ne(access(wal, F_OK), 0);
    X(conn, "DROP TABLE posts");
    ck_assert_int_eq(drv->restore(H, C, conn, snap), 0);
    char *after = dump(conn);
    ck_assert_str_eq(after, before);
    ck_query(conn, "PRAGMA journal_mode", "wal\n");
    free(before);
    free(after);
    free(wal);
    free(snap);
    drv->disconnect(conn);
}
END_TEST

/* ---- render ------------------------------------------------------------------ */

#define N(a) (sizeof(a) / sizeof((a)[0]))
#define COL(n, t, ...) { .name = n, .type = t, .nullable = 1, __VA_ARGS__ }
#define NNCOL(n, t, ...) { .name = n, .type = t, .nullable = 0, __VA_ARGS__ }

static const struct nexo_column users_cols[] = {
    { .name = "id", .type = NEXO_T_INT, .is_unsigned = 1, .autoincrement = 1, .primary = 1 },
    NNCOL("email", NEXO_T_VARCHAR, .length = 190),
    NNCOL("bio", NEXO_T_VARCHAR, .length = 100, .default_value = "none"),
    COL("balance", NEXO_T_DECIMAL, .length = 10, .scale = 2, .default_value = "0.00"),
    NNCOL("is_admin", NEXO_T_BOOLEAN, .default_value = "false"),
    COL("score", NEXO_T_INT, .is_unsigned = 1),
    COL("born", NEXO_T_DATE),
    COL("created", NEXO_T_TIMESTAMP, .default_value = "current_timestamp"),
    COL("code", NEXO_T_CHAR, .length = 3, .default_value = "007"),
    COL("meta", NEXO_T_JSON),
    COL("ratio", NEXO_T_DOUBLE, .default_value = "-1.5e3"),
    COL("note", NEXO_T_LONGTEXT, .default_value = "it's"),
};
static const char *const ix_email[] = { "email" };
static const char *const ix_two[] = { "score", "born" };
static const struct nexo_index users_idx[] = {
    { "idx_users_email", ix_email, 1, 1 },
    { "idx_users_score_born", ix_two, 2, 0 },
};
static const struct nexo_op create_users = {
    .kind = NEXO_OP_CREATE_TABLE, .table = "users", .columns = users_cols,
    .ncolumns = N(users_cols), .indexes = users_idx, .nindexes = N(users_idx),
    .file = "install.xml", .line = 6,
};

/* spec §5.2 */
static const struct nexo_column notif_cols[] = {
    { .name = "id", .type = NEXO_T_BIGINT, .is_unsigned = 1, .autoincrement = 1, .primary = 1 },
    NNCOL("user_id", NEXO_T_INT, .is_unsigned = 1),
    COL("title", NEXO_T_VARCHAR, .length = 255),
    COL("message", NEXO_T_TEXT),
    COL("read_at", NEXO_T_INT, .is_unsigned = 1),
    NNCOL("created_at", NEXO_T_INT, .is_unsigned = 1),
};
static const char *const ix_user[] = { "user_id" };
static const char *const ix_read[] = { "read_at" };
static const struct nexo_index notif_idx[] = {
    { "idx_user_id", ix_user, 1, 0 },
    { "idx_read_at", ix_read, 1, 0 },
};
static const struct nexo_foreign_key notif_fk[] = {
    { "user_id", "users", "id", "CASCADE", NULL },
};
static const struct nexo_op create_notifications = {
    .kind = NEXO_OP_CREATE_TABLE, .table = "notifications", .columns = notif_cols,
    .ncolumns = N(notif_cols), .indexes = notif_idx, .nindexes = N(notif_idx),
    .fkeys = notif_fk, .nfkeys = 1, .file = "upgrade_1.4.0_1.5.0.xml", .line = 8,
};

/* a composite primary key and a SET NULL foreign key */
static const struct nexo_column sess_cols[] = {
    NNCOL("id", NEXO_T_CHAR, .length = 64, .primary = 1),
    NNCOL("node", NEXO_T_SMALLINT, .primary = 1),
    COL("user_id", NEXO_T_INT, .is_unsigned = 1),
    COL("data", NEXO_T_BLOB),
};
static const struct nexo_foreign_key sess_fk[] = {
    { "user_id", "users", "id", "set null", "No Action" },
};
static const struct nexo_op create_sessions = {
    .kind = NEXO_OP_CREATE_TABLE, .table = "sessions", .columns = sess_cols,
    .ncolumns = N(sess_cols), .fkeys = sess_fk, .nfkeys = 1, .file = "install.xml", .line = 30,
};

static void create_all(void *conn)
{
    RUN(conn, &create_users);
    RUN(conn, &create_notifications);
    RUN(conn, &create_sessions);
}

static char *table_sql(void *conn, const char *name)
{
    const char *p[] = { name };
    return Qp(conn, "SELECT sql FROM sqlite_master WHERE name = ?", 1, p);
}

#define ck_table_sql(conn, name, expected)                                                   \
    do {                                                                                     \
        char *got_ = table_sql(conn, name);                                                  \
        ck_assert_str_eq(got_, expected "\n");                                               \
        free(got_);                                                                          \
    } while (0)

START_TEST(render_create_table)
{
    void *conn = open_db();
    struct nexo_stmt *st = NULL;
    size_t n = 0;
    ck_assert_int_eq(drv->render(H, C, conn, &create_notifications, &st, &n), 0);
    ck_assert_uint_eq(n, 3);
    ck_assert_str_eq(st[0].sql,
        "CREATE TABLE \"notifications\" (\"id\" INTEGER PRIMARY KEY AUTOINCREMENT CHECK "
        "(\"id\" >= 0), \"user_id\" INTEGER NOT NULL CHECK (\"user_id\" >= 0), \"title\" "
        "VARCHAR(255), \"message\" TEXT, \"read_at\" INTEGER CHECK (\"read_at\" >= 0), "
        "\"created_at\" INTEGER NOT NULL CHECK (\"created_at\" >= 0), FOREIGN KEY "
        "(\"user_id\") REFERENCES \"users\" (\"id\") ON DELETE CASCADE)");
    ck_assert_str_eq(st[1].sql, "CREATE INDEX \"idx_user_id\" ON \"notifications\" (\"user_id\")");
    ck_assert_str_eq(st[2].sql, "CREATE INDEX \"idx_read_at\" ON \"notifications\" (\"read_at\")");
    ck_assert_int_eq(st[0].nparams, 0);
    drv->free_stmts(st, n);

    create_all(conn);
    ck_table_sql(conn, "users",
        "CREATE TABLE \"users\" (\"id\" INTEGER PRIMARY KEY AUTOINCREMENT CHECK (\"id\" >= 0), "
        "\"email\" VARCHAR(190) NOT NULL, \"bio\" VARCHAR(100) NOT NULL DEFAULT 'none', "
        "\"balance\" NUMERIC(10,2) DEFAULT 0.00, \"is_admin\" BOOLEAN NOT NULL DEFAULT 0, "
        "\"score\" INTEGER CHECK (\"score\" >= 0), \"born\" DATE, \"created\" TIMESTAMP "
        "DEFAULT CURRENT_TIMESTAMP, \"code\" CHAR(3) DEFAULT '007', \"meta\" TEXT, "
        "\"ratio\" REAL DEFAULT -1.5e3, \"note\" TEXT DEFAULT 'it''s')");
    ck_table_sql(conn, "sessions",
        "CREATE TABLE \"sessions\" (\"id\" CHAR(64) NOT NULL, \"node\" INTEGER NOT NULL, "
        "\"user_id\" INTEGER CHECK (\"user_id\" >= 0), \"data\" BLOB, PRIMARY KEY (\"id\", "
        "\"node\"), FOREIGN KEY (\"user_id\") REFERENCES \"users\" (\"id\") ON DELETE SET NULL "
        "ON UPDATE NO ACTION)");
    ck_table_sql(conn, "idx_users_email",
                 "CREATE UNIQUE INDEX \"idx_users_email\" ON \"users\" (\"email\")");

    /* the defaults, the affinities and the constraints at work */
    X(conn, "INSERT INTO users (email) VALUES ('a@x')");
    ck_query(conn, "SELECT id, bio, balance, is_admin, code, typeof(code), ratio, note, "
                   "created IS NOT NULL FROM users",
             "1|none|0|0|007|text|-1500.0|it's|1\n");
    const char *neg[] = { "-1" };
    ck_assert_int_eq(drv->exec(H, C, conn, "INSERT INTO users (email, score) VALUES ('b@x', ?)",
                               1, neg), NEXO_EDB);
    ck_assert_ptr_nonnull(strstr(fh.msg, "CHECK constraint failed"));
    ck_assert_int_eq(drv->exec(H, C, conn, "INSERT INTO users (email) VALUES ('a@x')", 0, NULL),
                     NEXO_EDB);
    ck_assert_ptr_nonnull(strstr(fh.msg, "UNIQUE constraint failed"));
    X(conn, "INSERT INTO notifications (user_id, created_at) VALUES (1, 5)");
    ck_assert_int_eq(drv->exec(H, C, conn, "INSERT INTO notifications (user_id, created_at) "
                               "VALUES (9, 5)", 0, NULL), NEXO_EDB);
    ck_assert_ptr_nonnull(strstr(fh.msg, "FOREIGN KEY constraint failed"));
    X(conn, "DELETE FROM users WHERE id = 1");
    ck_query(conn, "SELECT count(*) FROM notifications", "0\n");
    ck_clean(conn);
    drv->disconnect(conn);
}
END_TEST

START_TEST(render_data)
{
    void *conn = open_db();
    create_all(conn);
    const char *const names[] = { "email", "score", "bio" };
    const char *const values[] = { "a@x", "5", "first", "b@x", NULL, "it's" };
    struct nexo_op ins = { .kind = NEXO_OP_INSERT, .table = "users", .names = names,
                           .nnames = 3, .values = values, .nrows = 2, .file = "f.xml",
                           .line = 40 };
    struct nexo_stmt *st = NULL;
    size_t n = 0;
    ck_assert_int_eq(drv->render(H, C, conn, &ins, &st, &n), 0);
    ck_assert_uint_eq(n, 2);
    ck_assert_str_eq(st[1].sql, "INSERT INTO \"users\" (\"email\", \"score\", \"bio\") VALUES "
                                "(?, ?, ?)");
    ck_assert_int_eq(st[1].nparams, 3);
    ck_assert_ptr_null(st[1].params[1]);
    ck_assert_str_eq(st[1].params[2], "it's");
    ck_assert_ptr_ne(st[1].params[2], values[5]); /* a copy */
    drv->free_stmts(st, n);
    RUN(conn, &ins);
    ck_query(conn, "SELECT id, email, score, typeof(score), bio FROM users ORDER BY id",
             "1|a@x|5|integer|first\n2|b@x|NULL|null|it's\n");

    struct nexo_op up = { .kind = NEXO_OP_UPDATE, .table = "users",
                          .set_sql = "bio = 'upd', score = 7", .where_sql = "score IS NULL",
                          .file = "f.xml", .line = 41 };
    ck_assert_int_eq(drv->render(H, C, conn, &up, &st, &n), 0);
    ck_assert_str_eq(st[0].sql, "UPDATE \"users\" SET bio = 'upd', score = 7 WHERE score IS NULL");
    drv->free_stmts(st, n);
    RUN(conn, &up);
    ck_query(conn, "SELECT id, bio, score FROM users ORDER BY id", "1|first|5\n2|upd|7\n");
    up.where_sql = NULL;
    up.set_sql = "is_admin = 1";
    RUN(conn, &up);
    ck_query(conn, "SELECT sum(is_admin) FROM users", "2\n");

    struct nexo_op del = { .kind = NEXO_OP_DELETE, .table = "users", .where_sql = "id = 1",
                           .file = "f.xml", .line = 42 };
    RUN(conn, &del);
    ck_query(conn, "SELECT id FROM users", "2\n");
    del.where_sql = NULL;
    RUN(conn, &del);
    ck_query(conn, "SELECT count(*) FROM users", "0\n");

    struct nexo_op none = ins;
    none.nrows = 0;
    ck_assert_int_eq(drv->render(H, C, conn, &none, &st, &n), 0);
    ck_assert_uint_eq(n, 0);
    drv->free_stmts(st, n);
    drv->disconnect(conn);
}
END_TEST

START_TEST(render_columns_indexes_tables)
{
    void *conn = open_db();
    create_all(conn);
    X(conn, "INSERT INTO users (email, score) VALUES ('a@x', 1)");
    const struct nexo_column avatar[] = {
        COL("avatar_url", NEXO_T_VARCHAR, .length = 255, .after = "email"),
        NNCOL("level", NEXO_T_TINYINT, .is_unsigned = 1, .default_value = "3"),
    };
    struct nexo_op add = { .kind = NEXO_OP_ADD_COLUMN, .table = "users", .columns = &avatar[0],
                           .ncolumns = 1, .file = "up.xml", .line = 28 };
    RUN(conn, &add);
    ck_assert_ptr_nonnull(strstr(fh.logbuf, "after=\"email\" ignored"));
    add.columns = &avatar[1];
    RUN(conn, &add);
    ck_assert_int_eq(drv->exists(H, C, conn, "users", "avatar_url", NULL), 1);
    ck_query(conn, "SELECT avatar_url, level FROM users", "NULL|3\n");
    ck_assert_int_eq(drv->exec(H, C, conn, "UPDATE users SET level = -1", 0, NULL), NEXO_EDB);

    static const char *const ix_avatar[] = { "avatar_url" };
    const struct nexo_index uniq[] = { { "idx_avatar", ix_avatar, 1, 1 } };
    struct nexo_op addix = { .kind = NEXO_OP_ADD_INDEX, .table = "users", .indexes = uniq,
                             .nindexes = 1, .file = "up.xml", .line = 31 };
    RUN(conn, &addix);
    ck_table_sql(conn, "idx_avatar",
                 "CREATE UNIQUE INDEX \"idx_avatar\" ON \"users\" (\"avatar_url\")");
    ck_assert_int_eq(drv->exists(H, C, conn, "users", NULL, "idx_avatar"), 1);

    /* dropping an indexed column: its one-column index goes, a two-column
     * index keeps the other column */
    struct nexo_op drop = { .kind = NEXO_OP_DROP_COLUMN, .table = "users", .column = "score",
                            .file = "up.xml", .line = 34 };
    RUN(conn, &drop);
    ck_assert_int_eq(drv->exists(H, C, conn, "users", "score", NULL), 0);
    ck_table_sql(conn, "idx_users_score_born",
                 "CREATE INDEX \"idx_users_score_born\" ON \"users\" (\"born\")");
    drop.column = "avatar_url";
    RUN(conn, &drop);
    ck_assert_int_eq(drv->exists(H, C, conn, NULL, NULL, "idx_avatar"), 0);
    ck_query(conn, "SELECT email, level FROM users", "a@x|3\n");

    struct nexo_op dropt = { .kind = NEXO_OP_DROP_TABLE, .table = "obsolete_table",
                             .file = "up.xml", .line = 38 };
    RUN(conn, &dropt); /* IF EXISTS */
    dropt.table = "sessions";
    RUN(conn, &dropt);
    ck_assert_int_eq(drv->exists(H, C, conn, "sessions", NULL, NULL), 0);
    ck_clean(conn);
    drv->disconnect(conn);
}
END_TEST

/* users with children that CASCADE and SET NULL, a trigger, a view, and an
 * AUTOINCREMENT position above max(id). */
static void rebuild_fixture(void *conn)
{
    create_all(conn);
    X(conn, "CREATE TABLE audit (what TEXT)");
    X(conn, "CREATE TRIGGER tr_users AFTER INSERT ON users BEGIN INSERT INTO audit VALUES "
            "('new ' || new.email); END");
    X(conn, "CREATE VIEW v_users AS SELECT email, bio FROM users");
    X(conn, "INSERT INTO users (email, bio, score) VALUES ('a@x', 'alpha', 1), "
            "('b@x', 'beta', 2), ('c@x', 'gamma', 3)");
    X(conn, "DELETE FROM users WHERE id = 3");
    X(conn, "INSERT INTO notifications (user_id, title, created_at) VALUES (1, 't1', 10), "
            "(2, 't2', 20)");
    X(conn, "INSERT INTO sessions (id, node, user_id) VALUES ('s1', 1, 1), ('s2', 1, 2)");
}

static const struct nexo_column bio_text[] = { COL("bio", NEXO_T_TEXT, .length = 2000) };

START_TEST(modify_column_rebuilds_the_table)
{
    void *conn = open_db();
    rebuild_fixture(conn);
    char *users_before = Q(conn, "SELECT * FROM users ORDER BY id");
    struct nexo_op mod_op = { .kind = NEXO_OP_MODIFY_COLUMN, .table = "users",
                              .columns = bio_text, .ncolumns = 1, .file = "up.xml",
                              .line = 32 };
    struct nexo_stmt *st = NULL;
    size_t n = 0;
    ck_assert_int_eq(drv->render(H, C, conn, &mod_op, &st, &n), 0);
    ck_assert_uint_ge(n, 10);
    ck_assert_str_eq(st[0].sql, "PRAGMA foreign_keys = OFF");
    ck_assert_str_eq(st[n - 3].sql, "PRAGMA foreign_key_check(\"users\")");
    ck_assert_str_eq(st[n - 1].sql, "PRAGMA foreign_key_check(\"sessions\")");
    drv->free_stmts(st, n);

    ck_assert_int_eq(drv->begin(H, C, conn), 0); /* as the migrate step does */
    RUN(conn, &mod_op);
    ck_assert_int_eq(drv->commit(H, C, conn), 0);

    ck_table_sql(conn, "users",
        "CREATE TABLE \"users\" (\"id\" INTEGER PRIMARY KEY AUTOINCREMENT CHECK (\"id\" >= 0), "
        "\"email\" VARCHAR(190) NOT NULL, \"bio\" TEXT NOT NULL DEFAULT 'none', "
        "\"balance\" NUMERIC(10,2) DEFAULT 0.00, \"is_admin\" BOOLEAN NOT NULL DEFAULT 0, "
        "\"score\" INTEGER CHECK (\"score\" >= 0), \"born\" DATE, \"created\" TIMESTAMP "
        "DEFAULT CURRENT_TIMESTAMP, \"code\" CHAR(3) DEFAULT '007', \"meta\" TEXT, "
        "\"ratio\" REAL DEFAULT -1.5e3, \"note\" TEXT DEFAULT 'it''s')");
    char *users_after = Q(conn, "SELECT * FROM users ORDER BY id");
    ck_assert_str_eq(users_after, users_before);
    /* the children kept their rows: no ON DELETE action ran */
    ck_query(conn, "SELECT user_id, title FROM notifications ORDER BY id", "1|t1\n2|t2\n");
    ck_query(conn, "SELECT id, user_id FROM sessions ORDER BY id", "s1|1\ns2|2\n");
    /* sequence, indexes, trigger, view, foreign keys, defaults, NOT NULL */
    ck_query(conn, "SELECT seq FROM sqlite_sequence WHERE name = 'users'", "3\n");
    ck_query(conn, "SELECT name FROM sqlite_master WHERE tbl_name = 'users' AND type <> "
                   "'table' ORDER BY name",
             "idx_users_email\nidx_users_score_born\ntr_users\n");
    X(conn, "DELETE FROM audit");
    X(conn, "INSERT INTO users (email) VALUES ('d@x')");
    ck_query(conn, "SELECT id, bio FROM users WHERE email = 'd@x'", "4|none\n");
    ck_query(conn, "SELECT what FROM audit", "new d@x\n");
    ck_query(conn, "SELECT count(*) FROM v_users", "3\n");
    ck_assert_int_eq(drv->exec(H, C, conn, "INSERT INTO users (email) VALUES ('d@x')", 0, NULL),
                     NEXO_EDB);
    ck_assert_int_eq(drv->exec(H, C, conn, "UPDATE users SET bio = NULL", 0, NULL), NEXO_EDB);
    ck_assert_int_eq(drv->exec(H, C, conn, "UPDATE users SET score = -2", 0, NULL), NEXO_EDB);
    X(conn, "DELETE FROM users WHERE id = 1");
    ck_query(conn, "SELECT count(*) FROM notifications WHERE user_id = 1", "0\n");
    ck_query(conn, "SELECT user_id FROM sessions WHERE id = 's1'", "NULL\n");
    ck_clean(conn);
    free(users_before);
    free(users_after);
    drv->disconnect(conn);
}
END_TEST

START_TEST(modify_column_nullability_default_and_sign)
{
    void *conn = open_db();
    rebuild_fixture(conn);
    X(conn, "UPDATE users SET score = NULL WHERE id = 2");
    /* score: INT UNSIGNED NULL -> BIGINT NOT NULL DEFAULT 0, signed */
    const struct nexo_column score[] = {
        NNCOL("score", NEXO_T_BIGINT, .default_value = "0"),
    };
    struct nexo_op op = { .kind = NEXO_OP_MODIFY_COLUMN, .table = "users", .columns = score,
                          .ncolumns = 1, .modify_null = 1, .modify_default = 1,
                          .file = "up.xml", .line = 50 };
    char *before = dump(conn);
    ck_assert_int_eq(drv->begin(H, C, conn), 0);
    ck_assert_int_eq(render_exec(conn, &op), NEXO_EDB); /* a NULL score exists */
    ck_assert_ptr_nonnull(strstr(fh.msg, "NOT NULL constraint failed"));
    ck_assert_int_eq(drv->rollback(H, C, conn), 0);
    char *after = dump(conn);
    ck_assert_str_eq(after, before);
    ck_query(conn, "PRAGMA foreign_keys", "1\n");

    X(conn, "UPDATE users SET score = 9 WHERE id = 2");
    ck_assert_int_eq(drv->begin(H, C, conn), 0);
    RUN(conn, &op);
    ck_assert_int_eq(drv->commit(H, C, conn), 0);
    char *sql = table_sql(conn, "users");
    ck_assert_ptr_nonnull(strstr(sql, "\"score\" INTEGER NOT NULL DEFAULT 0, \"born\""));
    free(sql);
    X(conn, "INSERT INTO users (email, score) VALUES ('n@x', -5)");
    X(conn, "INSERT INTO users (email) VALUES ('m@x')");
    ck_query(conn, "SELECT score FROM users WHERE email IN ('n@x', 'm@x') ORDER BY score",
             "-5\n0\n");

    /* bio: drop NOT NULL and the default */
    const struct nexo_column bio[] = { COL("bio", NEXO_T_VARCHAR, .length = 50) };
    struct nexo_op op2 = { .kind = NEXO_OP_MODIFY_COLUMN, .table = "users", .columns = bio,
                           .ncolumns = 1, .modify_null = 1, .modify_default = 1,
                           .file = "up.xml", .line = 51 };
    RUN(conn, &op2);
    sql = table_sql(conn, "users");
    ck_assert_ptr_nonnull(strstr(sql, "\"bio\" VARCHAR(50), \"balance\""));
    free(sql);
    X(conn, "UPDATE users SET bio = NULL WHERE id = 1");
    ck_clean(conn);
    free(before);
    free(after);
    drv->disconnect(conn);
}
END_TEST

START_TEST(modify_column_of_a_foreign_table)
{
    void *conn = open_db();
    /* written by hand, not by render: inline constraints, comments, quoting */
    X(conn, "CREATE TABLE [p] (k TEXT PRIMARY KEY)");
    X(conn, "CREATE TABLE `Items` ( -- the items\n"
            "  id integer primary key,\n"
            "  \"Price\" varchar(10) constraint nn NOT NULL CHECK (length(\"Price\") < 20) "
            "COLLATE NOCASE DEFAULT ('1,0'),\n"
            "  p_k TEXT REFERENCES p (k) ON DELETE CASCADE DEFERRABLE INITIALLY DEFERRED,\n"
            "  gen INTEGER GENERATED ALWAYS AS (id * 2) VIRTUAL,\n"
            "  UNIQUE (p_k, \"Price\"),\n"
            "  CHECK (id > 0)\n"
            ") WITHOUT ROWID");
    X(conn, "INSERT INTO p VALUES ('x')");
    X(conn, "INSERT INTO Items (id, Price, p_k) VALUES (1, '10', 'x'), (2, '20', 'x')");
    const struct nexo_column price[] = { COL("price", NEXO_T_DECIMAL, .length = 8, .scale = 2) };
    struct nexo_op op = { .kind = NEXO_OP_MODIFY_COLUMN, .table = "items", .columns = price,
                          .ncolumns = 1, .file = "up.xml", .line = 60 };
    ck_assert_int_eq(drv->begin(H, C, conn), 0);
    RUN(conn, &op);
    ck_assert_int_eq(drv->commit(H, C, conn), 0);
    ck_table_sql(conn, "Items",
        "CREATE TABLE \"Items\" (id integer primary key, \"Price\" NUMERIC(8,2) constraint nn "
        "NOT NULL CHECK (length(\"Price\") < 20) COLLATE NOCASE DEFAULT ('1,0'), p_k TEXT "
        "REFERENCES p (k) ON DELETE CASCADE DEFERRABLE INITIALLY DEFERRED, gen INTEGER "
        "GENERATED ALWAYS AS (id * 2) VIRTUAL, UNIQUE (p_k, \"Price\"), CHECK (id > 0)) "
        "WITHOUT ROWID");
    ck_query(conn, "SELECT id, price, typeof(price), gen FROM Items ORDER BY id",
             "1|10|integer|2\n2|20|integer|4\n");
    ck_assert_int_eq(drv->exec(H, C, conn, "INSERT INTO Items (id, price, p_k) VALUES "
                               "(3, 10, 'x')", 0, NULL), NEXO_EDB); /* UNIQUE kept */
    X(conn, "DELETE FROM p");
    ck_query(conn, "SELECT count(*) FROM Items", "0\n"); /* the FK kept */
    ck_clean(conn);
    drv->disconnect(conn);
}
END_TEST

START_TEST(modify_column_missing)
{
    void *conn = open_db();
    create_all(conn);
    const struct nexo_column nope[] = { COL("nope", NEXO_T_TEXT) };
    struct nexo_op op = { .kind = NEXO_OP_MODIFY_COLUMN, .table = "users", .columns = nope,
                          .ncolumns = 1, .file = "up.xml", .line = 70 };
    struct nexo_stmt *st = NULL;
    size_t n = 0;
    ck_assert_int_eq(drv->render(H, C, conn, &op, &st, &n), NEXO_ENOTFOUND);
    ck_assert_str_eq(fh.msg, "up.xml:70: modify_column: table users has no column nope");
    ck_assert_ptr_null(st);
    op.table = "ghosts";
    ck_assert_int_eq(drv->render(H, C, conn, &op, &st, &n), NEXO_ENOTFOUND);
    ck_assert_str_eq(fh.msg, "up.xml:70: modify_column: table ghosts does not exist");
    ck_assert_int_eq(drv->render(H, C, NULL, &op, &st, &n), NEXO_EINVAL);
    ck_assert_ptr_nonnull(strstr(fh.msg, "up.xml:70: "));

    /* a dry run: an earlier file of the same run may add it */
    json_object_set_new(fh.info, "dry_run", json_string("1"));
    ck_assert_int_eq(drv->render(H, C, conn, &op, &st, &n), 0);
    ck_assert_uint_eq(n, 1);
    ck_assert_ptr_nonnull(strstr(st[0].sql, "-- rebuild of table ghosts"));
    drv->free_stmts(st, n);
    drv->disconnect(conn);
}
END_TEST

START_TEST(foreign_keys_off_inside_a_transaction)
{
    void *conn = open_db();
    create_all(conn);
    ck_assert_int_eq(drv->begin(H, C, conn), 0);
    X(conn, "PRAGMA foreign_keys = OFF");
    ck_query(conn, "PRAGMA foreign_keys", "0\n");
    X(conn, "INSERT INTO notifications (user_id, created_at) VALUES (42, 1)");
    X(conn, "PRAGMA foreign_keys = ON");
    ck_assert_int_eq(drv->exec(H, C, conn, "PRAGMA foreign_key_check(\"notifications\")", 0,
                               NULL), NEXO_EDB);
    ck_assert_ptr_nonnull(strstr(fh.msg, "row 1 of notifications has no parent row in users"));
    X(conn, "PRAGMA foreign_key_check(\"users\")");
    X(conn, "PRAGMA foreign_keys = OFF");
    ck_assert_int_eq(drv->rollback(H, C, conn), 0);
    ck_query(conn, "PRAGMA foreign_keys", "1\n"); /* rollback turned it on again */
    ck_query(conn, "SELECT count(*) FROM notifications", "0\n");
    X(conn, "PRAGMA foreign_keys = OFF");
    ck_assert_int_eq(drv->begin(H, C, conn), 0);
    ck_assert_int_eq(drv->commit(H, C, conn), 0);
    ck_query(conn, "PRAGMA foreign_keys", "1\n"); /* so did commit */
    drv->disconnect(conn);
}
END_TEST

/* BOOLEAN is declared BOOLEAN (NUMERIC affinity); an INSERT turns the
 * migration's true/false into 1/0 there and nowhere else. */
static const struct nexo_column tags_cols[] = {
    { .name = "id", .type = NEXO_T_INT, .autoincrement = 1, .primary = 1 },
    NNCOL("name", NEXO_T_VARCHAR, .length = 50),
    NNCOL("visible", NEXO_T_BOOLEAN, .default_value = "true"),
    COL("label", NEXO_T_VARCHAR, .length = 20),
};
static const struct nexo_op create_tags = {
    .kind = NEXO_OP_CREATE_TABLE, .table = "tags", .columns = tags_cols,
    .ncolumns = N(tags_cols), .file = "upgrade_1.3.0_1.4.0.xml", .line = 6,
};

START_TEST(insert_booleans)
{
    void *conn = open_db();
    RUN(conn, &create_tags);
    ck_table_sql(conn, "tags",
        "CREATE TABLE \"tags\" (\"id\" INTEGER PRIMARY KEY AUTOINCREMENT, \"name\" VARCHAR(50) "
        "NOT NULL, \"visible\" BOOLEAN NOT NULL DEFAULT 1, \"label\" VARCHAR(20))");
    const char *const names[] = { "name", "visible", "label" };
    const char *const values[] = { "a", "true", "true", "b", "FALSE", "true",
                                   "c", "1", "true", "d", "0", "true" };
    struct nexo_op ins = { .kind = NEXO_OP_INSERT, .table = "tags", .names = names,
                           .nnames = 3, .values = values, .nrows = 4,
                           .file = "upgrade_1.3.0_1.4.0.xml", .line = 19 };
    struct nexo_stmt *st = NULL;
    size_t n = 0;
    ck_assert_int_eq(drv->render(H, C, conn, &ins, &st, &n), 0);
    ck_assert_uint_eq(n, 4);
    ck_assert_str_eq(st[0].params[1], "1");
    ck_assert_str_eq(st[0].params[2], "true");
    ck_assert_str_eq(st[1].params[1], "0");
    drv->free_stmts(st, n);
    /* without a connection (a dry run) the values stay as written */
    ck_assert_int_eq(drv->render(H, C, NULL, &ins, &st, &n), 0);
    ck_assert_uint_eq(n, 4);
    ck_assert_str_eq(st[0].params[1], "true");
    ck_assert_str_eq(st[1].params[1], "FALSE");
    drv->free_stmts(st, n);

    RUN(conn, &ins);
    ck_query(conn, "SELECT name, visible, typeof(visible), label, typeof(label) FROM tags "
                   "ORDER BY id",
             "a|1|integer|true|text\nb|0|integer|true|text\n"
             "c|1|integer|true|text\nd|0|integer|true|text\n");
    /* white space around, any case; NULL and other text untouched */
    const char *const more[] = { "e", " True\n", "False", "f", "\tfalse ", NULL };
    ins.values = more;
    ins.nrows = 2;
    RUN(conn, &ins);
    ck_query(conn, "SELECT visible, typeof(visible), quote(label) FROM tags WHERE name IN "
                   "('e', 'f') ORDER BY id", "1|integer|'False'\n0|integer|NULL\n");
    X(conn, "INSERT INTO tags (name) VALUES ('g')");
    ck_query(conn, "SELECT visible, typeof(visible) FROM tags WHERE name = 'g'", "1|integer\n");

    /* a column declared "bool" by hand counts too, an INTEGER one does not */
    X(conn, "CREATE TABLE flags (f bool, g INTEGER)");
    const char *const fnames[] = { "F", "g" };
    const char *const fvalues[] = { "TRUE", "true" };
    struct nexo_op fins = { .kind = NEXO_OP_INSERT, .table = "flags", .names = fnames,
                            .nnames = 2, .values = fvalues, .nrows = 1, .file = "f.xml",
                            .line = 3 };
    RUN(conn, &fins);
    ck_query(conn, "SELECT f, typeof(f), g, typeof(g) FROM flags", "1|integer|true|text\n");

    /* the rebuild of modify_column keeps BOOLEAN and can make a column one */
    const struct nexo_column label_text[] = { COL("label", NEXO_T_TEXT) };
    struct nexo_op mod_op = { .kind = NEXO_OP_MODIFY_COLUMN, .table = "tags",
                              .columns = label_text, .ncolumns = 1, .file = "up.xml",
                              .line = 7 };
    ck_assert_int_eq(drv->begin(H, C, conn), 0);
    RUN(conn, &mod_op);
    ck_assert_int_eq(drv->commit(H, C, conn), 0);
    ck_table_sql(conn, "tags",
        "CREATE TABLE \"tags\" (\"id\" INTEGER PRIMARY KEY AUTOINCREMENT, \"name\" VARCHAR(50) "
        "NOT NULL, \"visible\" BOOLEAN NOT NULL DEFAULT 1, \"label\" TEXT)");
    ck_query(conn, "SELECT count(*), sum(visible), sum(typeof(visible) = 'integer') FROM tags",
             "7|4|7\n");
    const char *const after[] = { "h", "false", "TRUE" };
    ins.values = after;
    ins.nrows = 1;
    RUN(conn, &ins);
    ck_query(conn, "SELECT visible, typeof(visible), label FROM tags WHERE name = 'h'",
             "0|integer|TRUE\n");
    const struct nexo_column g_bool[] = { NNCOL("g", NEXO_T_BOOLEAN, .default_value = "false") };
    mod_op.table = "flags";
    mod_op.columns = g_bool;
    mod_op.modify_null = 1;
    mod_op.modify_default = 1;
    X(conn, "UPDATE flags SET g = 1");
    RUN(conn, &mod_op);
    ck_table_sql(conn, "flags", "CREATE TABLE \"flags\" (f bool, g BOOLEAN NOT NULL DEFAULT 0)");
    const char *const fvalues2[] = { "false", "True" };
    fins.values = fvalues2;
    RUN(conn, &fins);
    ck_query(conn, "SELECT f, g, typeof(g) FROM flags ORDER BY rowid",
             "1|1|integer\n0|1|integer\n");
    ck_clean(conn);
    drv->disconnect(conn);
}
END_TEST

static void ck_render_fails(void *conn, const struct nexo_op *op, int code, const char *text)
{
    struct nexo_stmt *st = (struct nexo_stmt *)&fh;
    size_t n = 99;
    fh.msg[0] = '\0';
    ck_assert_int_eq(drv->render(H, C, conn, op, &st, &n), code);
    ck_assert_ptr_null(st);
    ck_assert_uint_eq(n, 0);
    ck_assert_msg(strstr(fh.msg, text) != NULL, "\"%s\" lacks \"%s\"", fh.msg, text);
}

START_TEST(render_errors)
{
    void *conn = open_db();
    const struct nexo_column novarlen[] = { COL("a", NEXO_T_VARCHAR) };
    struct nexo_op op = { .kind = NEXO_OP_CREATE_TABLE, .table = "t", .columns = novarlen,
                          .ncolumns = 1, .file = "bad.xml", .line = 12 };
    ck_render_fails(conn, &op, NEXO_EINVAL, "bad.xml:12: column t.a: CHAR and VARCHAR need a "
                                            "length");
    const struct nexo_column badtype[] = { COL("a", (enum nexo_coltype)99) };
    op.columns = badtype;
    ck_render_fails(conn, &op, NEXO_EINVAL, "bad.xml:12: column t.a: unknown type 99");
    const struct nexo_column autotext[] = {
        { .name = "id", .type = NEXO_T_TEXT, .autoincrement = 1, .primary = 1 },
    };
    op.columns = autotext;
    ck_render_fails(conn, &op, NEXO_EINVAL, "AUTOINCREMENT needs an integer type");
    const struct nexo_column autotwo[] = {
        { .name = "id", .type = NEXO_T_INT, .autoincrement = 1, .primary = 1 },
        { .name = "k", .type = NEXO_T_INT, .primary = 1 },
    };
    op.columns = autotwo;
    op.ncolumns = 2;
    ck_render_fails(conn, &op, NEXO_EINVAL, "only on a one-column primary key");
    const struct nexo_foreign_key badfk[] = { { "k", "p", "id", "EXPLODE", NULL } };
    op.columns = &autotwo[1];
    op.ncolumns = 1;
    op.fkeys = badfk;
    op.nfkeys = 1;
    ck_render_fails(conn, &op, NEXO_EINVAL, "unknown onDelete \"EXPLODE\"");
    const struct nexo_foreign_key nocol[] = { { "zz", "p", "id", NULL, NULL } };
    op.fkeys = nocol;
    ck_render_fails(conn, &op, NEXO_EINVAL, "zz is not a column of it");
    op.nfkeys = 0;
    op.ncolumns = 0;
    ck_render_fails(conn, &op, NEXO_EINVAL, "bad.xml:12: create_table t: no columns");

    const struct nexo_column notnull[] = { NNCOL("b", NEXO_T_INT, .length = 0) };
    struct nexo_op add = { .kind = NEXO_OP_ADD_COLUMN, .table = "t", .columns = notnull,
                           .ncolumns = 1, .file = "bad.xml", .line = 20 };
    ck_render_fails(conn, &add, NEXO_EINVAL, "bad.xml:20: add_column t.b: SQLite adds a NOT "
                                             "NULL column only with a default value");
    const struct nexo_column now[] = { COL("b", NEXO_T_DATETIME, .default_value = "CURRENT_TIMESTAMP") };
    add.columns = now;
    ck_render_fails(conn, &add, NEXO_EINVAL, "whose default is CURRENT_TIMESTAMP");

    struct nexo_op up = { .kind = NEXO_OP_UPDATE, .table = "t", .file = "bad.xml", .line = 30 };
    ck_render_fails(conn, &up, NEXO_EINVAL, "bad.xml:30: update t: nothing to set");
    struct nexo_op notable = { .kind = NEXO_OP_DELETE, .file = "bad.xml", .line = 31 };
    ck_render_fails(conn, &notable, NEXO_EINVAL, "bad.xml:31: an operation without a table");
    struct nexo_op kind = { .kind = (enum nexo_op_kind)42, .table = "t", .file = "bad.xml",
                            .line = 32 };
    ck_render_fails(conn, &kind, NEXO_EINVAL, "bad.xml:32: unknown operation kind 42");
    struct nexo_op ins = { .kind = NEXO_OP_INSERT, .table = "t", .file = "bad.xml", .line = 33 };
    ck_render_fails(conn, &ins, NEXO_EINVAL, "insert into t: no columns or values");
    struct nexo_op addix = { .kind = NEXO_OP_ADD_INDEX, .table = "t", .file = "bad.xml",
                             .line = 34 };
    ck_render_fails(conn, &addix, NEXO_EINVAL, "add_index on t: no index");

    /* a partial index on a dropped column cannot be adjusted */
    X(conn, "CREATE TABLE t (a, b)");
    X(conn, "CREATE INDEX ix_part ON t (a) WHERE b > 0");
    struct nexo_op drop = { .kind = NEXO_OP_DROP_COLUMN, .table = "t", .column = "a",
                            .file = "bad.xml", .line = 35 };
    ck_render_fails(conn, &drop, NEXO_ENOTSUP, "index ix_part is partial");
    drv->disconnect(conn);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("driver_sqlite");
    TCase *tc = tcase_create("driver");
    tcase_add_unchecked_fixture(tc, tu_base_setup, tu_base_teardown);
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, descriptor);
    tcase_add_test(tc, connect_creates_private_file);
    tcase_add_test(tc, connect_refuses);
    tcase_add_test(tc, exec_and_query_with_params);
    tcase_add_test(tc, statement_errors_name_the_sql);
    tcase_add_test(tc, transactions);
    tcase_add_test(tc, exists_tables_columns_indexes);
    tcase_add_test(tc, quote_ident);
    tcase_add_test(tc, lock_excludes_a_second_connection);
    tcase_add_test(tc, lock_across_processes);
    tcase_add_test(tc, backup_and_restore_round_trip);
    tcase_add_test(tc, backup_and_restore_refuse);
    tcase_add_test(tc, backup_progress_counts_bytes);
    tcase_add_test(tc, backup_of_a_wal_database);
    tcase_add_test(tc, render_create_table);
    tcase_add_test(tc, render_data);
    tcase_add_test(tc, render_columns_indexes_tables);
    tcase_add_test(tc, modify_column_rebuilds_the_table);
    tcase_add_test(tc, modify_column_nullability_default_and_sign);
    tcase_add_test(tc, modify_column_of_a_foreign_table);
    tcase_add_test(tc, modify_column_missing);
    tcase_add_test(tc, foreign_keys_off_inside_a_transaction);
    tcase_add_test(tc, render_errors);
    tcase_add_test(tc, insert_booleans);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
