/* The MariaDB driver against a real server (tests/servers.sh), through the
 * fake host. Every test case gets its own database nexo_t_<pid>_<n>,
 * created and dropped by an unchecked fixture (so it goes even when the
 * test fails). Without a server listening: "SKIP: ..." and exit 77.
 * Settings: NEXO_TEST_MY_HOST/PORT, NEXO_TEST_DB_USER/PASSWORD, and for TLS
 * NEXO_TEST_TLS_CA (the test CA of tests/servers.sh) and NEXO_TEST_TLS_USER
 * (a user the server admits only over TLS: REQUIRE SSL). */
#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fakehost.h"
#include "loader.h"
#include "testutil.h"

#include <check.h>

static nx_module *mod;
static const struct nexo_driver_module *D;
static char dbname[64];
static unsigned dbseq;

static const char *env_or(const char *name, const char *def)
{
    const char *v = getenv(name);
    return v && *v ? v : def;
}

#define MY_HOST env_or("NEXO_TEST_MY_HOST", "127.0.0.1")
#define MY_PORT env_or("NEXO_TEST_MY_PORT", "3306")
#define MY_USER env_or("NEXO_TEST_DB_USER", "nexo_test")
#define MY_PASSWORD env_or("NEXO_TEST_DB_PASSWORD", "nexo-test-pw")
#define TLS_CA env_or("NEXO_TEST_TLS_CA", "/var/lib/nexo-test-tls/ca.crt")
#define TLS_USER env_or("NEXO_TEST_TLS_USER", "nexo_test_tls")
#define WRONG_CA "/etc/ssl/certs/ca-certificates.crt" /* the system's, not the test CA */

/* A fake host configured for database `db`; password from the env. */
static void host_for(struct fakehost *fh, const char *db)
{
    fh_init(fh, NULL);
    json_object_set_new(fh->config, "database.driver", json_string("mariadb"));
    json_object_set_new(fh->config, "database.host", json_string(MY_HOST));
    json_object_set_new(fh->config, "database.port", json_string(MY_PORT));
    json_object_set_new(fh->config, "database.user", json_string(MY_USER));
    json_object_set_new(fh->config, "database.name", json_string(db));
}

static void *connect_to(struct fakehost *fh)
{
    void *conn = NULL;
    int rc = D->connect(&fh->table, fh_ctx(fh), &conn);
    ck_assert_msg(rc == 0, "connect: %s", fh->msg);
    ck_assert_ptr_nonnull(conn);
    return conn;
}

static int t_exec(struct fakehost *fh, void *conn, const char *sql, int n, const char *const *p)
{
    fh->msg[0] = '\0';
    return D->exec(&fh->table, fh_ctx(fh), conn, sql, n, p);
}

static void ok(struct fakehost *fh, void *conn, const char *sql)
{
    int rc = t_exec(fh, conn, sql, 0, NULL);
    ck_assert_msg(rc == 0, "%s: %s", sql, fh->msg);
}

/* Rows as text: "a|b\n" per row, NULL as "NULL". */
struct text {
    char *s;
    size_t len;
};

static void text_add(struct text *t, const char *s)
{
    size_t n = strlen(s);
    t->s = realloc(t->s, t->len + n + 1);
    memcpy(t->s + t->len, s, n + 1);
    t->len += n;
}

static int collect(void *arg, int n, const char *const *names, const char *const *values)
{
    (void)names;
    for (int i = 0; i < n; i++) {
        text_add(arg, i ? "|" : "");
        text_add(arg, values[i] ? values[i] : "NULL");
    }
    text_add(arg, "\n");
    return 0;
}

/* The rows of a query (malloc'ed; "" when none). */
static char *rows(struct fakehost *fh, void *conn, const char *sql, int n, const char *const *p)
{
    struct text t = { NULL, 0 };
    text_add(&t, "");
    fh->msg[0] = '\0';
    int rc = D->query(&fh->table, fh_ctx(fh), conn, sql, n, p, collect, &t);
    ck_assert_msg(rc == 0, "%s: %s", sql, fh->msg);
    return t.s;
}

static void rows_eq(struct fakehost *fh, void *conn, const char *sql, const char *want)
{
    char *got = rows(fh, conn, sql, 0, NULL);
    ck_assert_msg(strcmp(got, want) == 0, "%s:\n got: %s\nwant: %s", sql, got, want);
    free(got);
}

/* ------------------------------------------------------------ fixtures */

/* "<verb> `dbname`" through a connection to information_schema. */
static void admin(const char *verb)
{
    struct fakehost fh;
    char sql[256];
    host_for(&fh, "information_schema");
    setenv("NEXO_DB_PASSWORD", MY_PASSWORD, 1);
    void *conn = connect_to(&fh);
    snprintf(sql, sizeof sql, "%s `%s`", verb, dbname);
    ok(&fh, conn, sql);
    D->disconnect(conn);
    fh_free(&fh);
}

static void db_setup(void)
{
    nx_err e;
    tu_base_setup();
    mod = nx_module_load(NX_TEST_BINDIR "/modules/drivers/mariadb.so", NX_DRIVER, &e);
    ck_assert_msg(mod != NULL, "%s", e.msg);
    D = mod->driver;
    snprintf(dbname, sizeof dbname, "nexo_t_%ld_%u", (long)getpid(), ++dbseq);
    admin("CREATE DATABASE");
    setenv("NEXO_DB_PASSWORD", MY_PASSWORD, 1);
}

static void db_teardown(void)
{
    admin("DROP DATABASE IF EXISTS");
    nx_module_unload(mod);
    mod = NULL;
    tu_base_teardown();
}

/* -------------------------------------------------------------- tests */

START_TEST(descriptor_and_version)
{
    ck_assert_str_eq(D->name, "mariadb");
    ck_assert_str_eq(D->dialect, "mariadb");
    ck_assert_uint_eq(D->flags & NEXO_DRIVER_TRANSACTIONAL_DDL, 0);
    struct fakehost fh;
    host_for(&fh, dbname);
    void *conn = connect_to(&fh);
    char v[64];
    ck_assert_int_eq(D->server_version(&fh.table, fh_ctx(&fh), conn, v, sizeof v), 0);
    unsigned a, b, c;
    char rest = 0;
    ck_assert_msg(sscanf(v, "%u.%u.%u%c", &a, &b, &c, &rest) == 3, "version %s", v);
    ck_assert_int_eq(D->server_version(&fh.table, fh_ctx(&fh), conn, v, 3), NEXO_EINVAL);
    /* the session's sql_mode is ours */
    rows_eq(&fh, conn, "SELECT @@SESSION.sql_mode, @@SESSION.explicit_defaults_for_timestamp",
            "STRICT_TRANS_TABLES,ERROR_FOR_DIVISION_BY_ZERO,NO_ENGINE_SUBSTITUTION|1\n");
    char want[128];
    snprintf(want, sizeof want, "%s|utf8mb4\n", dbname);
    rows_eq(&fh, conn, "SELECT DATABASE(), @@character_set_client", want);
    D->disconnect(conn);
    fh_free(&fh);
}
END_TEST

START_TEST(password_file_and_wrong_password)
{
    struct fakehost fh;
    host_for(&fh, dbname);
    unsetenv("NEXO_DB_PASSWORD");
    char text[256];
    snprintf(text, sizeof text, "%s\n", MY_PASSWORD);
    char *pf = tu_write("db.password", text);
    ck_assert_int_eq(chmod(pf, 0644), 0);
    json_object_set_new(fh.config, "database.password_file", json_string(pf));
    void *conn = NULL;
    ck_assert_int_eq(D->connect(&fh.table, fh_ctx(&fh), &conn), NEXO_EINVAL);
    ck_assert_ptr_null(conn);
    ck_assert_msg(strstr(fh.msg, pf) && strstr(fh.msg, "chmod 600"), "%s", fh.msg);
    ck_assert_int_eq(chmod(pf, 0600), 0);
    conn = connect_to(&fh);
    D->disconnect(conn);

    json_object_del(fh.config, "database.password_file");
    setenv("NEXO_DB_PASSWORD", "not-the-password", 1);
    conn = NULL;
    int rc = D->connect(&fh.table, fh_ctx(&fh), &conn);
    ck_assert_int_lt(rc, 0);
    ck_assert_ptr_null(conn);
    char where[160];
    snprintf(where, sizeof where, "%s:%s/%s", MY_HOST, MY_PORT, dbname);
    ck_assert_msg(strstr(fh.msg, where) && strstr(fh.msg, "Access denied"), "%s", fh.msg);
    ck_assert_ptr_null(strstr(fh.msg, "not-the-password"));

    json_object_del(fh.config, "database.name");
    ck_assert_int_eq(D->connect(&fh.table, fh_ctx(&fh), &conn), NEXO_EINVAL);
    ck_assert_ptr_nonnull(strstr(fh.msg, "name is not set"));
    free(pf);
    fh_free(&fh);
}
END_TEST

static int stop_at_second(void *arg, int n, const char *const *names, const char *const *values)
{
    (void)n;
    (void)names;
    (void)values;
    return ++*(int *)arg == 2 ? 42 : 0;
}

START_TEST(exec_and_query_with_params)
{
    struct fakehost fh;
    host_for(&fh, dbname);
    void *conn = connect_to(&fh);
    ok(&fh, conn, "CREATE TABLE t (id INT AUTO_INCREMENT PRIMARY KEY, name VARCHAR(20) NOT NULL,"
                  " note LONGTEXT NULL, n INT NULL, at DATETIME NULL)");
    const char *p1[] = { "ann", NULL, "7", "2026-01-02 03:04:05" };
    const char *p2[] = { "bob", "it's \"quoted\" \\ here", NULL, NULL };
    const char *sql = "INSERT INTO t (name, note, n, at) VALUES (?, ?, ?, ?)";
    ck_assert_int_eq(t_exec(&fh, conn, sql, 4, p1), 0);
    ck_assert_int_eq(t_exec(&fh, conn, sql, 4, p2), 0);
    const char *q[] = { "ann" };
    char *r = rows(&fh, conn, "SELECT id, name, note, n, at FROM t WHERE name = ?", 1, q);
    ck_assert_str_eq(r, "1|ann|NULL|7|2026-01-02 03:04:05\n");
    free(r);
    rows_eq(&fh, conn, "SELECT id, name, note, n, at FROM t ORDER BY id",
            "1|ann|NULL|7|2026-01-02 03:04:05\n2|bob|it's \"quoted\" \\ here|NULL|NULL\n");
    const char *isnull[] = { NULL };
    r = rows(&fh, conn, "SELECT name FROM t WHERE n <=> ?", 1, isnull);
    ck_assert_str_eq(r, "bob\n");
    free(r);

    /* a value far longer than the first fetch buffer, through both protocols */
    size_t big = 100000;
    char *long_value = malloc(big + 1);
    for (size_t i = 0; i < big; i++)
        long_value[i] = (char)('a' + i % 26);
    long_value[big] = '\0';
    const char *p3[] = { long_value, "bob" };
    ck_assert_int_eq(t_exec(&fh, conn, "UPDATE t SET note = ? WHERE name = ?", 2, p3), 0);
    r = rows(&fh, conn, "SELECT note, name FROM t WHERE id = ?", 1, (const char *[]){ "2" });
    ck_assert_uint_eq(strlen(r), big + 5);
    ck_assert_int_eq(strncmp(r, long_value, big), 0);
    ck_assert_str_eq(r + big, "|bob\n");
    free(r);
    r = rows(&fh, conn, "SELECT note FROM t WHERE id = 2", 0, NULL);
    ck_assert_uint_eq(strlen(r), big + 1);
    free(r);
    free(long_value);

    /* a callback's non-zero result stops the query and is returned */
    int seen = 0;
    ck_assert_int_eq(D->query(&fh.table, fh_ctx(&fh), conn, "SELECT id FROM t", 0, NULL,
                              stop_at_second, &seen), 42);
    seen = 0;
    ck_assert_int_eq(D->query(&fh.table, fh_ctx(&fh), conn, "SELECT id FROM t WHERE id > ?", 1,
                              (const char *[]){ "0" }, stop_at_second, &seen), 42);
    rows_eq(&fh, conn, "SELECT COUNT(*) FROM t", "2\n"); /* the connection is still in sync */
    D->disconnect(conn);
    fh_free(&fh);
}
END_TEST

START_TEST(errors_name_the_sql)
{
    struct fakehost fh;
    host_for(&fh, dbname);
    void *conn = connect_to(&fh);
    ck_assert_int_eq(t_exec(&fh, conn, "SELEC 1 FROM nowhere", 0, NULL), NEXO_EDB);
    ck_assert_msg(strstr(fh.msg, "SELEC 1 FROM nowhere") && strstr(fh.msg, "syntax"), "%s",
                  fh.msg);
    const char *p[] = { "x" };
    ck_assert_int_eq(t_exec(&fh, conn, "INSERT INTO missing_table VALUES (?)", 1, p), NEXO_EDB);
    ck_assert_msg(strstr(fh.msg, "INSERT INTO missing_table VALUES (?)") &&
                  strstr(fh.msg, "missing_table' doesn't exist"), "%s", fh.msg);
    ck_assert_int_eq(t_exec(&fh, conn, "SELECT ?, ?", 1, p), NEXO_EINVAL);
    ck_assert_ptr_nonnull(strstr(fh.msg, "SELECT ?, ?"));
    /* long statements are cut at 200 characters */
    char sql[600];
    snprintf(sql, sizeof sql, "SELECT nosuchcolumn FROM %0300d", 0);
    ck_assert_int_eq(t_exec(&fh, conn, sql, 0, NULL), NEXO_EDB);
    ck_assert_ptr_nonnull(strstr(fh.msg, "SELECT nosuchcolumn FROM 000"));
    ck_assert_ptr_nonnull(strstr(fh.msg, "..."));
    ck_assert_ptr_null(strstr(fh.msg, sql));
    D->disconnect(conn);
    fh_free(&fh);
}
END_TEST

START_TEST(transactions_on_dml)
{
    struct fakehost fh;
    host_for(&fh, dbname);
    void *conn = connect_to(&fh);
    nexo_ctx *c = fh_ctx(&fh);
    ok(&fh, conn, "CREATE TABLE t (v INT)");
    const char *p[] = { "1" };
    ck_assert_int_eq(D->begin(&fh.table, c, conn), 0);
    ck_assert_int_eq(t_exec(&fh, conn, "INSERT INTO t VALUES (?)", 1, p), 0);
    rows_eq(&fh, conn, "SELECT COUNT(*) FROM t", "1\n");
    ck_assert_int_eq(D->rollback(&fh.table, c, conn), 0);
    rows_eq(&fh, conn, "SELECT COUNT(*) FROM t", "0\n");
    ck_assert_int_eq(D->begin(&fh.table, c, conn), 0);
    ck_assert_int_eq(t_exec(&fh, conn, "INSERT INTO t VALUES (?)", 1, p), 0);
    ck_assert_int_eq(D->commit(&fh.table, c, conn), 0);
    D->disconnect(conn);
    conn = connect_to(&fh);
    rows_eq(&fh, conn, "SELECT v FROM t", "1\n");
    D->disconnect(conn);
    fh_free(&fh);
}
END_TEST

START_TEST(exists_and_quote_ident)
{
    struct fakehost fh;
    host_for(&fh, dbname);
    void *conn = connect_to(&fh);
    nexo_ctx *c = fh_ctx(&fh);
    ok(&fh, conn, "CREATE TABLE users (id INT PRIMARY KEY, email VARCHAR(50), KEY idx_email (email))");
    ck_assert_int_eq(D->exists(&fh.table, c, conn, "users", NULL, NULL), 1);
    ck_assert_int_eq(D->exists(&fh.table, c, conn, "Users", NULL, NULL), 0);
    ck_assert_int_eq(D->exists(&fh.table, c, conn, "nope", NULL, NULL), 0);
    ck_assert_int_eq(D->exists(&fh.table, c, conn, "users", "email", NULL), 1);
    ck_assert_int_eq(D->exists(&fh.table, c, conn, "users", "phone", NULL), 0);
    ck_assert_int_eq(D->exists(&fh.table, c, conn, "users", NULL, "idx_email"), 1);
    ck_assert_int_eq(D->exists(&fh.table, c, conn, "users", NULL, "PRIMARY"), 1);
    ck_assert_int_eq(D->exists(&fh.table, c, conn, "users", NULL, "idx_phone"), 0);
    ck_assert_int_eq(D->exists(&fh.table, c, conn, "users", "email", "idx_email"), 1);
    ck_assert_int_eq(D->exists(&fh.table, c, conn, "nope", "email", NULL), 0);
    D->disconnect(conn);
    fh_free(&fh);

    char buf[200];
    ck_assert_int_eq(D->quote_ident("users", buf, sizeof buf), 0);
    ck_assert_str_eq(buf, "`users`");
    ck_assert_int_eq(D->quote_ident("a`b", buf, sizeof buf), 0);
    ck_assert_str_eq(buf, "`a``b`");
    ck_assert_int_eq(D->quote_ident("users", buf, 7), NEXO_EINVAL);
    ck_assert_int_eq(D->quote_ident("users", buf, 8), 0);
    ck_assert_int_eq(D->quote_ident("", buf, sizeof buf), NEXO_EINVAL);
    ck_assert_int_eq(D->quote_ident("trailing ", buf, sizeof buf), NEXO_EINVAL);
    char long_name[70];
    memset(long_name, 'x', 65);
    long_name[65] = '\0';
    ck_assert_int_eq(D->quote_ident(long_name, buf, sizeof buf), NEXO_EINVAL);
    long_name[64] = '\0';
    ck_assert_int_eq(D->quote_ident(long_name, buf, sizeof buf), 0);
}
END_TEST

START_TEST(lock_excludes_a_second_session)
{
    struct fakehost fh;
    host_for(&fh, dbname);
    void *a = connect_to(&fh);
    void *b = connect_to(&fh);
    nexo_ctx *c = fh_ctx(&fh);
    ck_assert_int_eq(D->lock(&fh.table, c, a, "migrate", 0), 0);
    ck_assert_int_eq(D->lock(&fh.table, c, b, "migrate", 0), NEXO_EBUSY);
    ck_assert_msg(strstr(fh.msg, "migrate") && strstr(fh.msg, dbname), "%s", fh.msg);
    ck_assert_int_eq(D->lock(&fh.table, c, b, "other", 0), 0);
    ck_assert_int_eq(D->unlock(&fh.table, c, a, "migrate"), 0);
    ck_assert_int_eq(D->lock(&fh.table, c, b, "migrate", 1), 0);
    ck_assert_int_eq(D->lock(&fh.table, c, a, "migrate", 1), NEXO_EBUSY);
    ck_assert_int_eq(D->unlock(&fh.table, c, b, "migrate"), 0);
    ck_assert_int_eq(D->unlock(&fh.table, c, b, "other"), 0);
    ck_assert_int_eq(D->lock(&fh.table, c, b, "forever", -1), 0); /* negative: no limit */
    ck_assert_int_eq(D->unlock(&fh.table, c, b, "forever"), 0);
    /* unlocking what is not held warns */
    ck_assert_int_eq(D->unlock(&fh.table, c, a, "migrate"), 0);
    ck_assert_ptr_nonnull(strstr(fh.logbuf, "did not hold"));
    /* the lock ends with its session */
    ck_assert_int_eq(D->lock(&fh.table, c, a, "migrate", 0), 0);
    D->disconnect(a);
    ck_assert_int_eq(D->lock(&fh.table, c, b, "migrate", 5), 0);
    D->disconnect(b);
    fh_free(&fh);
}
END_TEST

/* ------------------------------------------------------ backup/restore */

/* mariadb-dump --skip-dump-date --skip-comments of the test database. */
static char *dump_text(void)
{
    char cnf[256], cmd[1024];
    snprintf(cnf, sizeof cnf, "%s/test.cnf", tu_dir);
    FILE *f = fopen(cnf, "w");
    ck_assert_ptr_nonnull(f);
    fprintf(f, "[client]\nuser=%s\npassword=\"%s\"\nhost=%s\nport=%s\n", MY_USER, MY_PASSWORD,
            MY_HOST, MY_PORT);
    fclose(f);
    chmod(cnf, 0600);
    snprintf(cmd, sizeof cmd, "mariadb-dump --defaults-extra-file=%s --skip-dump-date "
             "--skip-comments --routines --triggers --events %s", cnf, dbname);
    FILE *p = popen(cmd, "r");
    ck_assert_ptr_nonnull(p);
    struct text t = { NULL, 0 };
    text_add(&t, "");
    char buf[4096];
    size_t n;
    while ((n = fread(buf, 1, sizeof buf - 1, p)) > 0) {
        buf[n] = '\0';
        text_add(&t, buf);
    }
    ck_assert_int_eq(pclose(p), 0);
    return t.s;
}

START_TEST(backup_then_restore_gives_the_same_database)
{
    struct fakehost fh;
    host_for(&fh, dbname);
    void *conn = connect_to(&fh);
    nexo_ctx *c = fh_ctx(&fh);
    ok(&fh, conn, "CREATE TABLE users (id INT UNSIGNED AUTO_INCREMENT PRIMARY KEY, "
                  "email VARCHAR(100) NOT NULL, photo BLOB NULL)");
    ok(&fh, conn, "CREATE TABLE posts (id INT AUTO_INCREMENT PRIMARY KEY, user_id INT UNSIGNED "
                  "NOT NULL, body TEXT, CONSTRAINT fk_posts_user FOREIGN KEY (user_id) "
                  "REFERENCES users (id) ON DELETE CASCADE)");
    ok(&fh, conn, "INSERT INTO users (email, photo) VALUES ('a@x', X'00FF10'), ('b@x', NULL), "
                  "('c@x', NULL)");
    ok(&fh, conn, "DELETE FROM users WHERE email = 'c@x'"); /* AUTO_INCREMENT stays at 4 */
    ok(&fh, conn, "INSERT INTO posts (user_id, body) VALUES (1, 'hello\\nworld'), (2, 'ünïcødé')");
    ok(&fh, conn, "CREATE VIEW user_posts AS SELECT u.email, p.body FROM users u JOIN posts p "
                  "ON p.user_id = u.id");
    ok(&fh, conn, "CREATE TRIGGER posts_bi BEFORE INSERT ON posts FOR EACH ROW "
                  "SET NEW.body = COALESCE(NEW.body, '')");
    ok(&fh, conn, "CREATE PROCEDURE p_count() SELECT COUNT(*) FROM users");
    char *before = dump_text();

    char *path = nx_path_join(tu_dir, "db.sql");
    ck_assert_msg(D->backup(&fh.table, c, conn, path) == 0, "backup: %s", fh.msg);
    struct stat st;
    ck_assert_int_eq(stat(path, &st), 0);
    ck_assert_uint_eq(st.st_mode & 0777, 0600);
    ck_assert_int_gt(st.st_size, 100);

    /* changes after the backup */
    ok(&fh, conn, "CREATE TABLE extra (v INT)");
    ok(&fh, conn, "INSERT INTO extra VALUES (1)");
    ok(&fh, conn, "INSERT INTO users (email) VALUES ('d@x'), ('e@x')"); /* bumps to 6 */
    ok(&fh, conn, "UPDATE users SET email = 'changed' WHERE id = 1");
    ok(&fh, conn, "DROP VIEW user_posts");
    ok(&fh, conn, "DROP TABLE posts");
    ok(&fh, conn, "CREATE FUNCTION f_new() RETURNS INT RETURN 1");
    ok(&fh, conn, "CREATE VIEW v_new AS SELECT 1 AS one");
    char *changed = dump_text();
    ck_assert_str_ne(before, changed);

    /* a file that is not a dump is refused before anything is dropped */
    char *junk = tu_write("junk.sql", "DROP TABLE users;\n");
    ck_assert_int_eq(D->restore(&fh.table, c, conn, junk), NEXO_EINVAL);
    ck_assert_ptr_nonnull(strstr(fh.msg, "not touched"));
    ck_assert_int_eq(D->exists(&fh.table, c, conn, "extra", NULL, NULL), 1);

    ck_assert_msg(D->restore(&fh.table, c, conn, path) == 0, "restore: %s", fh.msg);
    char *after = dump_text();
    ck_assert_str_eq(before, after);
    ck_assert_int_eq(D->exists(&fh.table, c, conn, "extra", NULL, NULL), 0);
    ck_assert_int_eq(D->exists(&fh.table, c, conn, "v_new", NULL, NULL), 0);
    ok(&fh, conn, "INSERT INTO users (email) VALUES ('next')");
    rows_eq(&fh, conn, "SELECT id, email, HEX(photo) FROM users ORDER BY id",
            "1|a@x|00FF10\n2|b@x|NULL\n4|next|NULL\n");
    rows_eq(&fh, conn, "SELECT body FROM posts ORDER BY id", "hello\nworld\nünïcødé\n");
    rows_eq(&fh, conn, "CALL p_count()", "3\n"); /* the routine is back */
    ok(&fh, conn, "CALL p_count()");
    /* the same connection goes on working, with our session settings */
    rows_eq(&fh, conn, "SELECT @@SESSION.foreign_key_checks", "1\n");

    free(before);
    free(changed);
    free(after);
    free(junk);
    free(path);
    D->disconnect(conn);
    fh_free(&fh);
}
END_TEST

START_TEST(restore_failure_is_reported)
{
    struct fakehost fh;
    host_for(&fh, dbname);
    void *conn = connect_to(&fh);
    nexo_ctx *c = fh_ctx(&fh);
    char *bad = tu_write("bad.sql", "-- MariaDB dump 10.19\nCREATE TABLE ok1 (v INT);\n"
                                     "THIS IS NOT SQL;\n");
    ck_assert_int_eq(D->restore(&fh.table, c, conn, bad), NEXO_EDB);
    ck_assert_msg(strstr(fh.msg, "restore") && strstr(fh.msg, "ERROR"), "%s", fh.msg);
    ck_assert_ptr_nonnull(strstr(fh.logbuf, "partly restored"));
    char *missing = nx_path_join(tu_dir, "missing.sql");
    ck_assert_int_eq(D->restore(&fh.table, c, conn, missing), NEXO_ENOTFOUND);
    /* a backup into a folder that does not exist */
    char *nowhere = nx_path_join(tu_dir, "no/such/dir.sql");
    ck_assert_int_eq(D->backup(&fh.table, c, conn, nowhere), NEXO_EIO);
    free(bad);
    free(missing);
    free(nowhere);
    D->disconnect(conn);
    fh_free(&fh);
}
END_TEST

/* -------------------------------------------------------------- render */

static int apply(struct fakehost *fh, void *conn, const struct nexo_op *op, char **sql0)
{
    struct nexo_stmt *st = NULL;
    size_t n = 0;
    fh->msg[0] = '\0';
    int rc = D->render(&fh->table, fh_ctx(fh), conn, op, &st, &n);
    if (rc)
        return rc;
    if (sql0)
        *sql0 = n ? strdup(st[0].sql) : NULL;
    for (size_t i = 0; i < n && !rc; i++)
        rc = D->exec(&fh->table, fh_ctx(fh), conn, st[i].sql, st[i].nparams,
                     (const char *const *)st[i].params);
    D->free_stmts(st, n);
    return rc;
}

static void apply_ok(struct fakehost *fh, void *conn, const struct nexo_op *op)
{
    int rc = apply(fh, conn, op, NULL);
    ck_assert_msg(rc == 0, "op %d on %s: %s", (int)op->kind, op->table, fh->msg);
}

static const char *const cols_user_id[] = { "user_id" };
static const char *const cols_read_at[] = { "read_at" };
static const char *const cols_email[] = { "email" };
static const char *const cols_avatar[] = { "avatar_url" };

/* spec §5.2, with a users table to refer to */
static void create_spec_tables(struct fakehost *fh, void *conn)
{
    const struct nexo_column users[] = {
        { .name = "id", .type = NEXO_T_INT, .is_unsigned = 1, .autoincrement = 1, .primary = 1 },
        { .name = "email", .type = NEXO_T_VARCHAR, .length = 255 },
        { .name = "bio", .type = NEXO_T_VARCHAR, .length = 100, .default_value = "none" },
        { .name = "deprecated_field", .type = NEXO_T_INT, .nullable = 1 },
        { .name = "active", .type = NEXO_T_BOOLEAN, .default_value = "true" },
        { .name = "score", .type = NEXO_T_DECIMAL, .length = 10, .scale = 2,
          .default_value = "0.50" },
        { .name = "code", .type = NEXO_T_VARCHAR, .length = 10, .nullable = 1,
          .default_value = "007" },
        { .name = "quote", .type = NEXO_T_VARCHAR, .length = 40, .nullable = 1,
          .default_value = "it's a \\ test" },
        { .name = "seen", .type = NEXO_T_TIMESTAMP, .nullable = 1 },
        { .name = "created", .type = NEXO_T_DATETIME, .default_value = "CURRENT_TIMESTAMP" },
    };
    const struct nexo_index uix[] = { { "uq_email", cols_email, 1, 1 } };
    struct nexo_op op = { .kind = NEXO_OP_CREATE_TABLE, .table = "users", .columns = users,
                          .ncolumns = 10, .indexes = uix, .nindexes = 1,
                          .file = "install.xml", .line = 3 };
    apply_ok(fh, conn, &op);

    const struct nexo_column notif[] = {
        { .name = "id", .type = NEXO_T_BIGINT, .is_unsigned = 1, .autoincrement = 1,
          .primary = 1 },
        { .name = "user_id", .type = NEXO_T_INT, .is_unsigned = 1 },
        { .name = "title", .type = NEXO_T_VARCHAR, .length = 255, .nullable = 1 },
        { .name = "message", .type = NEXO_T_TEXT, .nullable = 1 },
        { .name = "read_at", .type = NEXO_T_INT, .is_unsigned = 1, .nullable = 1 },
        { .name = "created_at", .type = NEXO_T_INT, .is_unsigned = 1 },
    };
    const struct nexo_index nix[] = { { "idx_user_id", cols_user_id, 1, 0 },
                                       { "idx_read_at", cols_read_at, 1, 0 } };
    const struct nexo_foreign_key fk[] = { { "user_id", "users", "id", "CASCADE", NULL } };
    struct nexo_op op2 = { .kind = NEXO_OP_CREATE_TABLE, .table = "notifications",
                           .columns = notif, .ncolumns = 6, .indexes = nix, .nindexes = 2,
                           .fkeys = fk, .nfkeys = 1, .file = "upgrade_1.4.0_1.5.0.xml",
                           .line = 7 };
    char *sql = NULL;
    ck_assert_msg(apply(fh, conn, &op2, &sql) == 0, "%s", fh->msg);
    ck_assert_msg(strstr(sql, "CONSTRAINT `fk_notifications_user_id` FOREIGN KEY (`user_id`) "
                              "REFERENCES `users` (`id`) ON DELETE CASCADE") &&
                  strstr(sql, "ENGINE=InnoDB DEFAULT CHARSET=utf8mb4") &&
                  strstr(sql, "`id` BIGINT UNSIGNED NOT NULL AUTO_INCREMENT"), "%s", sql);
    free(sql);
}

START_TEST(render_create_table_types_and_defaults)
{
    struct fakehost fh;
    host_for(&fh, dbname);
    void *conn = connect_to(&fh);
    create_spec_tables(&fh, conn);
    rows_eq(&fh, conn, "SELECT COLUMN_NAME, COLUMN_TYPE, IS_NULLABLE, COLUMN_DEFAULT, EXTRA "
                       "FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = DATABASE() AND "
                       "TABLE_NAME = 'users' ORDER BY ORDINAL_POSITION",
            "id|int(10) unsigned|NO|NULL|auto_increment\n"
            "email|varchar(255)|NO|NULL|\n"
            "bio|varchar(100)|NO|'none'|\n"
            "deprecated_field|int(11)|YES|NULL|\n"
            "active|tinyint(1)|NO|1|\n"
            "score|decimal(10,2)|NO|0.50|\n"
            "code|varchar(10)|YES|'007'|\n"
            "quote|varchar(40)|YES|'it''s a \\\\ test'|\n"
            "seen|timestamp|YES|NULL|\n"
            "created|datetime|NO|current_timestamp()|\n");
    rows_eq(&fh, conn, "SELECT INDEX_NAME, NON_UNIQUE, COLUMN_NAME FROM "
                       "information_schema.STATISTICS WHERE TABLE_SCHEMA = DATABASE() AND "
                       "TABLE_NAME = 'notifications' ORDER BY INDEX_NAME",
            "idx_read_at|1|read_at\nidx_user_id|1|user_id\nPRIMARY|0|id\n");
    rows_eq(&fh, conn, "SELECT DELETE_RULE, REFERENCED_TABLE_NAME FROM "
                       "information_schema.REFERENTIAL_CONSTRAINTS WHERE "
                       "CONSTRAINT_SCHEMA = DATABASE()", "CASCADE|users\n");
    rows_eq(&fh, conn, "SELECT ENGINE, TABLE_COLLATION LIKE 'utf8mb4%' FROM "
                       "information_schema.TABLES WHERE TABLE_SCHEMA = DATABASE() "
                       "AND TABLE_NAME = 'notifications'", "InnoDB|1\n");

    /* every other type */
    const struct nexo_column all[] = {
        { .name = "a", .type = NEXO_T_TINYINT, .is_unsigned = 1, .nullable = 1 },
        { .name = "b", .type = NEXO_T_SMALLINT, .nullable = 1 },
        { .name = "c", .type = NEXO_T_FLOAT, .nullable = 1 },
        { .name = "d", .type = NEXO_T_DOUBLE, .nullable = 1 },
        { .name = "e", .type = NEXO_T_CHAR, .length = 2, .nullable = 1 },
        { .name = "f", .type = NEXO_T_TEXT, .length = 50, .nullable = 1 }, /* 200 bytes */
        { .name = "g", .type = NEXO_T_TEXT, .length = 2000, .nullable = 1 },
        { .name = "h", .type = NEXO_T_MEDIUMTEXT, .nullable = 1 },
        { .name = "i", .type = NEXO_T_LONGTEXT, .nullable = 1 },
        { .name = "j", .type = NEXO_T_BLOB, .nullable = 1 },
        { .name = "k", .type = NEXO_T_DATE, .nullable = 1 },
        { .name = "l", .type = NEXO_T_JSON, .nullable = 1 },
        { .name = "m", .type = NEXO_T_TIMESTAMP, .default_value = "CURRENT_TIMESTAMP" },
        { .name = "n", .type = NEXO_T_DECIMAL, .nullable = 1, .default_value = "NULL" },
    };
    struct nexo_op op = { .kind = NEXO_OP_CREATE_TABLE, .table = "alltypes", .columns = all,
                          .ncolumns = 14, .file = "f.xml", .line = 1 };
    apply_ok(&fh, conn, &op);
    rows_eq(&fh, conn, "SELECT GROUP_CONCAT(COLUMN_TYPE ORDER BY ORDINAL_POSITION) FROM "
                       "information_schema.COLUMNS WHERE TABLE_SCHEMA = DATABASE() AND "
                       "TABLE_NAME = 'alltypes'",
            "tinyint(3) unsigned,smallint(6),float,double,char(2),tinytext,text,mediumtext,"
            "longtext,blob,date,longtext,timestamp,decimal(10,0)\n");
    ok(&fh, conn, "INSERT INTO alltypes (l) VALUES ('{\"a\": 1}')");
    ck_assert_int_eq(t_exec(&fh, conn, "INSERT INTO alltypes (l) VALUES ('not json')", 0, NULL),
                     NEXO_EDB);

    /* errors name the file and line */
    const struct nexo_column bad[] = { { .name = "x", .type = NEXO_T_VARCHAR } };
    struct nexo_op op3 = { .kind = NEXO_OP_CREATE_TABLE, .table = "bad", .columns = bad,
                           .ncolumns = 1, .file = "upgrade_1_2.xml", .line = 42 };
    ck_assert_int_eq(apply(&fh, conn, &op3, NULL), NEXO_EINVAL);
    ck_assert_msg(strstr(fh.msg, "upgrade_1_2.xml:42:") && strstr(fh.msg, "length"), "%s",
                  fh.msg);
    const struct nexo_column one[] = { { .name = "x", .type = NEXO_T_INT } };
    const struct nexo_foreign_key badfk[] = { { "x", "users", "id", "EXPLODE", NULL } };
    struct nexo_op op4 = { .kind = NEXO_OP_CREATE_TABLE, .table = "bad", .columns = one,
                           .ncolumns = 1, .fkeys = badfk, .nfkeys = 1, .file = "u.xml",
                           .line = 9 };
    ck_assert_int_eq(apply(&fh, conn, &op4, NULL), NEXO_EINVAL);
    ck_assert_msg(strstr(fh.msg, "u.xml:9:") && strstr(fh.msg, "EXPLODE"), "%s", fh.msg);
    /* a server error is an error too */
    const struct nexo_foreign_key nofk[] = { { "x", "missing", "id", NULL, NULL } };
    op4.fkeys = nofk;
    ck_assert_int_eq(apply(&fh, conn, &op4, NULL), NEXO_EDB);
    ck_assert_ptr_nonnull(strstr(fh.msg, "CREATE TABLE `bad`"));
    D->disconnect(conn);
    fh_free(&fh);
}
END_TEST

static char *column_order(struct fakehost *fh, void *conn, const char *table)
{
    const char *p[] = { table };
    return rows(fh, conn, "SELECT GROUP_CONCAT(COLUMN_NAME ORDER BY ORDINAL_POSITION) FROM "
                          "information_schema.COLUMNS WHERE TABLE_SCHEMA = DATABASE() AND "
                          "TABLE_NAME = ?", 1, p);
}

START_TEST(render_modify_table_and_data)
{
    struct fakehost fh;
    host_for(&fh, dbname);
    void *conn = connect_to(&fh);
    nexo_ctx *c = fh_ctx(&fh);
    create_spec_tables(&fh, conn);
    ok(&fh, conn, "INSERT INTO users (email, bio) VALUES ('a@x', 'my bio'), ('b@x', 'other')");
    ok(&fh, conn, "CREATE TABLE obsolete_table (v INT)");

    /* add_column after email */
    const struct nexo_column avatar[] = {
        { .name = "avatar_url", .type = NEXO_T_VARCHAR, .length = 255, .nullable = 1,
          .after = "email" },
    };
    struct nexo_op add = { .kind = NEXO_OP_ADD_COLUMN, .table = "users", .columns = avatar,
                           .ncolumns = 1, .file = "u.xml", .line = 20 };
    apply_ok(&fh, conn, &add);
    char *order = column_order(&fh, conn, "users");
    ck_assert_str_eq(order, "id,email,avatar_url,bio,deprecated_field,active,score,code,quote,"
                            "seen,created\n");
    free(order);

    /* modify_column keeps NOT NULL, the default and the data */
    const struct nexo_column bio[] = { { .name = "bio", .type = NEXO_T_TEXT, .length = 2000,
                                         .nullable = 1 } };
    struct nexo_op mod_bio = { .kind = NEXO_OP_MODIFY_COLUMN, .table = "users", .columns = bio,
                               .ncolumns = 1, .file = "u.xml", .line = 21 };
    apply_ok(&fh, conn, &mod_bio);
    const char *isq = "SELECT COLUMN_TYPE, IS_NULLABLE, COLUMN_DEFAULT FROM "
                      "information_schema.COLUMNS WHERE TABLE_SCHEMA = DATABASE() AND "
                      "TABLE_NAME = 'users' AND COLUMN_NAME = ?";
    char *r = rows(&fh, conn, isq, 1, (const char *[]){ "bio" });
    ck_assert_str_eq(r, "text|NO|'none'\n");
    free(r);
    rows_eq(&fh, conn, "SELECT bio FROM users ORDER BY id", "my bio\nother\n");
    /* ... and changes them when told to */
    const struct nexo_column bio2[] = { { .name = "bio", .type = NEXO_T_VARCHAR, .length = 500,
                                          .nullable = 1, .default_value = "n/a" } };
    mod_bio.columns = bio2;
    mod_bio.modify_null = 1;
    mod_bio.modify_default = 1;
    apply_ok(&fh, conn, &mod_bio);
    r = rows(&fh, conn, isq, 1, (const char *[]){ "bio" });
    ck_assert_str_eq(r, "varchar(500)|YES|'n/a'\n");
    free(r);
    /* the auto-increment primary key stays one */
    const struct nexo_column id[] = { { .name = "id", .type = NEXO_T_BIGINT, .is_unsigned = 1 } };
    struct nexo_op mod_id = { .kind = NEXO_OP_MODIFY_COLUMN, .table = "users", .columns = id,
                              .ncolumns = 1, .file = "u.xml", .line = 22 };
    /* (the foreign key of notifications refers to it: drop it first) */
    ok(&fh, conn, "ALTER TABLE notifications DROP FOREIGN KEY fk_notifications_user_id");
    apply_ok(&fh, conn, &mod_id);
    r = rows(&fh, conn, "SELECT COLUMN_TYPE, IS_NULLABLE, EXTRA FROM information_schema.COLUMNS "
                        "WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = 'users' AND "
                        "COLUMN_NAME = ?", 1, (const char *[]){ "id" });
    ck_assert_str_eq(r, "bigint(20) unsigned|NO|auto_increment\n");
    free(r);
    /* ON UPDATE, the comment and a column's own collation are kept too */
    ok(&fh, conn, "ALTER TABLE users ADD COLUMN updated TIMESTAMP NOT NULL DEFAULT "
                  "CURRENT_TIMESTAMP ON UPDATE CURRENT_TIMESTAMP COMMENT 'last change', "
                  "ADD COLUMN token VARCHAR(10) COLLATE utf8mb4_bin NULL");
    const struct nexo_column upd_col[] = { { .name = "updated", .type = NEXO_T_DATETIME } };
    struct nexo_op mod_upd = { .kind = NEXO_OP_MODIFY_COLUMN, .table = "users",
                               .columns = upd_col, .ncolumns = 1, .file = "u.xml", .line = 22 };
    apply_ok(&fh, conn, &mod_upd);
    const struct nexo_column tok_col[] = { { .name = "token", .type = NEXO_T_VARCHAR,
                                             .length = 64 } };
    mod_upd.columns = tok_col;
    apply_ok(&fh, conn, &mod_upd);
    rows_eq(&fh, conn, "SELECT COLUMN_NAME, COLUMN_TYPE, IS_NULLABLE, COLUMN_DEFAULT, EXTRA, "
                       "COLUMN_COMMENT, COLLATION_NAME FROM information_schema.COLUMNS WHERE "
                       "TABLE_SCHEMA = DATABASE() AND TABLE_NAME = 'users' AND COLUMN_NAME IN "
                       "('updated', 'token') ORDER BY 1",
            "token|varchar(64)|YES|NULL|||utf8mb4_bin\n"
            "updated|datetime|NO|current_timestamp()|on update current_timestamp()|"
            "last change|NULL\n");
    ok(&fh, conn, "ALTER TABLE users DROP COLUMN updated, DROP COLUMN token");
    /* a missing column is named with file:line */
    const struct nexo_column ghost[] = { { .name = "ghost", .type = NEXO_T_INT } };
    struct nexo_op mod_ghost = { .kind = NEXO_OP_MODIFY_COLUMN, .table = "users",
                                 .columns = ghost, .ncolumns = 1, .file = "u.xml", .line = 23 };
    ck_assert_int_eq(apply(&fh, conn, &mod_ghost, NULL), NEXO_ENOTFOUND);
    ck_assert_msg(strstr(fh.msg, "u.xml:23:") && strstr(fh.msg, "users.ghost"), "%s", fh.msg);

    /* add_index, drop_column, drop_table */
    const struct nexo_index ix[] = { { "idx_avatar", cols_avatar, 1, 0 } };
    struct nexo_op addix = { .kind = NEXO_OP_ADD_INDEX, .table = "users", .indexes = ix,
                             .nindexes = 1, .file = "u.xml", .line = 24 };
    apply_ok(&fh, conn, &addix);
    ck_assert_int_eq(D->exists(&fh.table, c, conn, "users", NULL, "idx_avatar"), 1);
    const struct nexo_index uix[] = { { "uq_code", (const char *const[]){ "email", "code" }, 2,
                                        1 } };
    addix.indexes = uix;
    apply_ok(&fh, conn, &addix);
    rows_eq(&fh, conn, "SELECT GROUP_CONCAT(COLUMN_NAME ORDER BY SEQ_IN_INDEX), NON_UNIQUE FROM "
                       "information_schema.STATISTICS WHERE TABLE_SCHEMA = DATABASE() AND "
                       "INDEX_NAME = 'uq_code' GROUP BY NON_UNIQUE", "email,code|0\n");
    struct nexo_op drop = { .kind = NEXO_OP_DROP_COLUMN, .table = "users",
                            .column = "deprecated_field", .file = "u.xml", .line = 25 };
    apply_ok(&fh, conn, &drop);
    ck_assert_int_eq(D->exists(&fh.table, c, conn, "users", "deprecated_field", NULL), 0);
    struct nexo_op dropt = { .kind = NEXO_OP_DROP_TABLE, .table = "obsolete_table",
                             .file = "u.xml", .line = 26 };
    apply_ok(&fh, conn, &dropt);
    apply_ok(&fh, conn, &dropt); /* IF EXISTS */
    ck_assert_int_eq(D->exists(&fh.table, c, conn, "obsolete_table", NULL, NULL), 0);

    /* insert (with NULL), update, delete */
    ok(&fh, conn, "CREATE TABLE config (config_key VARCHAR(100) PRIMARY KEY, config_value TEXT "
                  "NULL, category VARCHAR(20) NULL)");
    const char *const names[] = { "config_key", "config_value", "category" };
    const char *const values[] = { "notifications.enabled", "true", "notifications",
                                   "site.name", NULL, "it's" };
    struct nexo_op ins = { .kind = NEXO_OP_INSERT, .table = "config", .names = names,
                           .nnames = 3, .values = values, .nrows = 2, .file = "u.xml",
                           .line = 30 };
    apply_ok(&fh, conn, &ins);
    rows_eq(&fh, conn, "SELECT config_key, config_value, category FROM config ORDER BY 1",
            "notifications.enabled|true|notifications\nsite.name|NULL|it's\n");
    struct nexo_op upd = { .kind = NEXO_OP_UPDATE, .table = "users",
                           .set_sql = "avatar_url='/assets/images/default-avatar.png'",
                           .where_sql = "avatar_url IS NULL AND email = 'a@x'", .file = "u.xml",
                           .line = 31 };
    apply_ok(&fh, conn, &upd);
    rows_eq(&fh, conn, "SELECT email, avatar_url FROM users ORDER BY id",
            "a@x|/assets/images/default-avatar.png\nb@x|NULL\n");
    struct nexo_op del = { .kind = NEXO_OP_DELETE, .table = "config",
                           .where_sql = "config_value IS NULL", .file = "u.xml", .line = 32 };
    apply_ok(&fh, conn, &del);
    rows_eq(&fh, conn, "SELECT COUNT(*) FROM config", "1\n");
    del.where_sql = NULL;
    apply_ok(&fh, conn, &del);
    rows_eq(&fh, conn, "SELECT COUNT(*) FROM config", "0\n");
    /* a bad author expression names the file and the statement */
    upd.set_sql = "nosuch = 1";
    ck_assert_int_eq(apply(&fh, conn, &upd, NULL), NEXO_EDB);
    ck_assert_ptr_nonnull(strstr(fh.msg, "UPDATE `users` SET nosuch = 1"));
    D->disconnect(conn);
    fh_free(&fh);
}
END_TEST

START_TEST(render_insert_booleans)
{
    struct fakehost fh;
    host_for(&fh, dbname);
    void *conn = connect_to(&fh);
    const struct nexo_column tags[] = {
        { .name = "id", .type = NEXO_T_INT, .autoincrement = 1, .primary = 1 },
        { .name = "name", .type = NEXO_T_VARCHAR, .length = 50 },
        { .name = "visible", .type = NEXO_T_BOOLEAN, .default_value = "true" },
        { .name = "label", .type = NEXO_T_VARCHAR, .length = 20, .nullable = 1 },
        { .name = "level", .type = NEXO_T_TINYINT, .nullable = 1 },
    };
    struct nexo_op create = { .kind = NEXO_OP_CREATE_TABLE, .table = "tags", .columns = tags,
                              .ncolumns = 5, .file = "upgrade_1.3.0_1.4.0.xml", .line = 6 };
    apply_ok(&fh, conn, &create);
    rows_eq(&fh, conn, "SELECT COLUMN_NAME, COLUMN_TYPE FROM information_schema.COLUMNS WHERE "
                       "TABLE_SCHEMA = DATABASE() AND TABLE_NAME = 'tags' AND COLUMN_NAME IN "
                       "('visible', 'level') ORDER BY 1", "level|tinyint(4)\nvisible|tinyint(1)\n");

    const char *const names[] = { "name", "VISIBLE", "label" };
    const char *const values[] = { "a", "true", "true", "b", "FALSE", "true",
                                   "c", "1", "true", "d", "0", "true" };
    struct nexo_op ins = { .kind = NEXO_OP_INSERT, .table = "tags", .names = names,
                           .nnames = 3, .values = values, .nrows = 4,
                           .file = "upgrade_1.3.0_1.4.0.xml", .line = 19 };
    struct nexo_stmt *st = NULL;
    size_t n = 0;
    ck_assert_int_eq(D->render(&fh.table, fh_ctx(&fh), conn, &ins, &st, &n), 0);
    ck_assert_uint_eq(n, 4);
    ck_assert_str_eq(st[0].sql, "INSERT INTO `tags` (`name`, `VISIBLE`, `label`) VALUES (?, ?, ?)");
    ck_assert_str_eq(st[0].params[1], "1");
    ck_assert_str_eq(st[0].params[2], "true");
    ck_assert_str_eq(st[1].params[1], "0");
    D->free_stmts(st, n);
    /* without a connection (a dry run) the values stay as written */
    ck_assert_int_eq(D->render(&fh.table, fh_ctx(&fh), NULL, &ins, &st, &n), 0);
    ck_assert_uint_eq(n, 4);
    ck_assert_str_eq(st[0].params[1], "true");
    ck_assert_str_eq(st[1].params[1], "FALSE");
    D->free_stmts(st, n);

    apply_ok(&fh, conn, &ins);
    rows_eq(&fh, conn, "SELECT name, visible, visible + 0 = visible, label FROM tags ORDER BY id",
            "a|1|1|true\nb|0|1|true\nc|1|1|true\nd|0|1|true\n");
    /* white space around, any case; NULL and other text untouched */
    const char *const more[] = { "e", " True\n", "False", "f", "\tfalse ", NULL };
    ins.values = more;
    ins.nrows = 2;
    apply_ok(&fh, conn, &ins);
    rows_eq(&fh, conn, "SELECT visible, label FROM tags WHERE name IN ('e', 'f') ORDER BY id",
            "1|False\n0|NULL\n");
    ok(&fh, conn, "INSERT INTO tags (name) VALUES ('g')");
    rows_eq(&fh, conn, "SELECT visible FROM tags WHERE name = 'g'", "1\n");

    /* only TINYINT(1) columns: 'true' in a TINYINT(4) is refused, and a word
     * that is not a boolean in the BOOLEAN column too; the error names the SQL */
    const char *const lnames[] = { "name", "level" };
    const char *const lvalues[] = { "h", "true" };
    struct nexo_op lins = { .kind = NEXO_OP_INSERT, .table = "tags", .names = lnames,
                            .nnames = 2, .values = lvalues, .nrows = 1, .file = "u.xml",
                            .line = 40 };
    ck_assert_int_eq(apply(&fh, conn, &lins, NULL), NEXO_EDB);
    ck_assert_msg(strstr(fh.msg, "Incorrect integer value") &&
                  strstr(fh.msg, "INSERT INTO `tags` (`name`, `level`) VALUES (?, ?)"), "%s",
                  fh.msg);
    const char *const bad[] = { "h", "yes", NULL };
    ins.values = bad;
    ins.nrows = 1;
    ck_assert_int_eq(apply(&fh, conn, &ins, NULL), NEXO_EDB);
    ck_assert_msg(strstr(fh.msg, "Incorrect integer value: 'yes'") &&
                  strstr(fh.msg, "INSERT INTO `tags` (`name`, `VISIBLE`, `label`) VALUES "
                                 "(?, ?, ?)"), "%s", fh.msg);
    rows_eq(&fh, conn, "SELECT COUNT(*) FROM tags", "7\n");
    D->disconnect(conn);
    fh_free(&fh);
}
END_TEST

START_TEST(render_without_connection)
{
    struct fakehost fh;
    fh_init(&fh, NULL);
    nexo_ctx *c = fh_ctx(&fh);
    const struct nexo_column bio[] = { { .name = "bio", .type = NEXO_T_TEXT } };
    struct nexo_op op = { .kind = NEXO_OP_MODIFY_COLUMN, .table = "users", .columns = bio,
                          .ncolumns = 1, .file = "u.xml", .line = 5 };
    struct nexo_stmt *st = NULL;
    size_t n = 0;
    ck_assert_int_eq(D->render(&fh.table, c, NULL, &op, &st, &n), NEXO_EINVAL);
    ck_assert_ptr_nonnull(strstr(fh.msg, "u.xml:5:"));
    ck_assert_ptr_null(st);
    op.kind = NEXO_OP_DROP_TABLE;
    ck_assert_int_eq(D->render(&fh.table, c, NULL, &op, &st, &n), 0);
    ck_assert_uint_eq(n, 1);
    ck_assert_str_eq(st[0].sql, "DROP TABLE IF EXISTS `users`");
    D->free_stmts(st, n);
    op.kind = (enum nexo_op_kind)99;
    ck_assert_int_eq(D->render(&fh.table, c, NULL, &op, &st, &n), NEXO_EINVAL);
    ck_assert_ptr_nonnull(strstr(fh.msg, "u.xml:5:"));
    const char *const names[] = { "a" };
    struct nexo_op ins = { .kind = NEXO_OP_INSERT, .table = "t", .names = names, .nnames = 1,
                           .nrows = 0, .file = "u.xml", .line = 6 };
    ck_assert_int_eq(D->render(&fh.table, c, NULL, &ins, &st, &n), 0);
    ck_assert_uint_eq(n, 0);
    D->free_stmts(st, n);
    fh_free(&fh);
}
END_TEST

/* ------------------------------------------------------------------ TLS */

static void set_tls(struct fakehost *fh, const char *mode, const char *root)
{
    if (mode)
        json_object_set_new(fh->config, "database.sslmode", json_string(mode));
    else
        json_object_del(fh->config, "database.sslmode");
    if (root)
        json_object_set_new(fh->config, "database.sslrootcert", json_string(root));
    else
        json_object_del(fh->config, "database.sslrootcert");
}

/* The session's Ssl_cipher as the server sees it ("" without TLS). */
static char *server_cipher(struct fakehost *fh, void *conn)
{
    return rows(fh, conn, "SELECT VARIABLE_VALUE FROM information_schema.SESSION_STATUS "
                          "WHERE VARIABLE_NAME = 'SSL_CIPHER'", 0, NULL);
}

static void expect_tls(struct fakehost *fh, const char *mode, const char *root, int on)
{
    set_tls(fh, mode, root);
    fh->logbuf[0] = '\0';
    void *conn = connect_to(fh);
    char *cipher = server_cipher(fh, conn);
    ck_assert_msg(on ? strlen(cipher) > 2 : strcmp(cipher, "\n") == 0,
                  "sslmode %s: Ssl_cipher \"%s\"", mode ? mode : "(unset)", cipher);
    ck_assert_msg(strstr(fh->logbuf, on ? "over TLS (server: TLSv1." : "without TLS"), "%s",
                  fh->logbuf);
    free(cipher);
    D->disconnect(conn);
}

static void expect_refused(struct fakehost *fh, const char *mode, const char *root, int code,
                           const char *want1, const char *want2)
{
    void *conn = NULL;
    set_tls(fh, mode, root);
    ck_assert_int_eq(D->connect(&fh->table, fh_ctx(fh), &conn), code);
    ck_assert_ptr_null(conn);
    ck_assert_msg(strstr(fh->msg, want1) && (!want2 || strstr(fh->msg, want2)), "%s", fh->msg);
}

START_TEST(tls_modes_as_the_server_sees_them)
{
    struct fakehost fh;
    ck_assert_msg(access(TLS_CA, R_OK) == 0, "%s: run tests/servers.sh", TLS_CA);
    host_for(&fh, dbname);
    expect_tls(&fh, NULL, NULL, 0); /* unset: as before, no TLS */
    expect_tls(&fh, "disable", NULL, 0);
    expect_tls(&fh, "allow", NULL, 1);
    expect_tls(&fh, "prefer", NULL, 1);
    expect_tls(&fh, "require", NULL, 1);
    expect_tls(&fh, NULL, TLS_CA, 1); /* a CA alone: prefer, verified */
    expect_tls(&fh, "verify-ca", TLS_CA, 1);
    expect_tls(&fh, "verify-full", TLS_CA, 1);

    char where[160];
    snprintf(where, sizeof where, "%s:%s/%s", MY_HOST, MY_PORT, dbname);
    /* a CA that did not sign the server's certificate */
    expect_refused(&fh, "verify-full", WRONG_CA, NEXO_EIO, where, "TLS/SSL error");
    ck_assert_msg(strstr(fh.msg, "sslmode verify-full, sslrootcert " WRONG_CA), "%s", fh.msg);
    expect_refused(&fh, "verify-ca", WRONG_CA, NEXO_EIO, where, "TLS/SSL error");
    expect_refused(&fh, "require", WRONG_CA, NEXO_EIO, where, "TLS/SSL error");
    /* what the driver cannot honour or find */
    expect_refused(&fh, "verify-full", NULL, NEXO_EINVAL,
                   "[database] sslmode = verify-full: the mariadb driver needs "
                   "[database] sslrootcert", NULL);
    expect_refused(&fh, "verify-ca", NULL, NEXO_EINVAL, "sslmode = verify-ca", "sslrootcert");
    expect_refused(&fh, "sometimes", NULL, NEXO_EINVAL, "[database] sslmode = sometimes",
                   "mariadb driver");
    expect_refused(&fh, "require", "/nonexistent/ca.pem", NEXO_EINVAL,
                   "[database] sslrootcert /nonexistent/ca.pem", "No such file");
    /* the REQUIRE SSL user is turned away without TLS */
    json_object_set_new(fh.config, "database.user", json_string(TLS_USER));
    expect_refused(&fh, "disable", NULL, NEXO_EDB, where, "Access denied");
    expect_tls(&fh, "verify-full", TLS_CA, 1);
    fh_free(&fh);
}
END_TEST

/* mariadb-dump and mariadb get the session's TLS on their command line:
 * the REQUIRE SSL user backs up and restores with verify-full. */
START_TEST(tls_backup_and_restore)
{
    struct fakehost fh;
    host_for(&fh, dbname);
    json_object_set_new(fh.config, "database.user", json_string(TLS_USER));
    set_tls(&fh, "verify-full", TLS_CA);
    void *conn = connect_to(&fh);
    nexo_ctx *c = fh_ctx(&fh);
    ok(&fh, conn, "CREATE TABLE t (id INT PRIMARY KEY, v VARCHAR(10))");
    ok(&fh, conn, "INSERT INTO t VALUES (1, 'one'), (2, 'two')");
    char *path = nx_path_join(tu_dir, "tls.sql");
    ck_assert_msg(D->backup(&fh.table, c, conn, path) == 0, "backup: %s", fh.msg);
    ok(&fh, conn, "DROP TABLE t");
    ok(&fh, conn, "CREATE TABLE later (x INT)");
    ck_assert_msg(D->restore(&fh.table, c, conn, path) == 0, "restore: %s", fh.msg);
    rows_eq(&fh, conn, "SELECT id, v FROM t ORDER BY id", "1|one\n2|two\n");
    ck_assert_int_eq(D->exists(&fh.table, c, conn, "later", NULL, NULL), 0);
    D->disconnect(conn);

    /* sslmode disable with the ordinary user: the tools are told --skip-ssl
     * and still work (plain connections stay allowed) */
    json_object_set_new(fh.config, "database.user", json_string(MY_USER));
    set_tls(&fh, "disable", NULL);
    conn = connect_to(&fh);
    ck_assert_msg(D->backup(&fh.table, c, conn, path) == 0, "backup: %s", fh.msg);
    ck_assert_msg(D->restore(&fh.table, c, conn, path) == 0, "restore: %s", fh.msg);
    free(path);
    D->disconnect(conn);
    fh_free(&fh);
}
END_TEST

/* ----------------------------------------------------------------- main */

static int server_listens(void)
{
    struct addrinfo hints = { .ai_socktype = SOCK_STREAM }, *res = NULL;
    if (getaddrinfo(MY_HOST, MY_PORT, &hints, &res) != 0)
        return 0;
    int up = 0;
    for (struct addrinfo *a = res; a && !up; a = a->ai_next) {
        int fd = socket(a->ai_family, a->ai_socktype, a->ai_protocol);
        up = fd >= 0 && connect(fd, a->ai_addr, a->ai_addrlen) == 0;
        if (fd >= 0)
            close(fd);
    }
    freeaddrinfo(res);
    return up;
}

static void add(Suite *s, const char *name, const TTest *t)
{
    TCase *tc = tcase_create(name);
    tcase_add_unchecked_fixture(tc, db_setup, db_teardown);
    tcase_add_checked_fixture(tc, tu_tmp_setup, NULL);
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, t);
    suite_add_tcase(s, tc);
}

int main(void)
{
    if (!server_listens()) {
        printf("SKIP: no MariaDB at %s:%s (start it with tests/servers.sh)\n", MY_HOST, MY_PORT);
        return 77;
    }
    Suite *s = suite_create("driver_mariadb");
    add(s, "descriptor", descriptor_and_version);
    add(s, "password", password_file_and_wrong_password);
    add(s, "params", exec_and_query_with_params);
    add(s, "errors", errors_name_the_sql);
    add(s, "transactions", transactions_on_dml);
    add(s, "exists", exists_and_quote_ident);
    add(s, "lock", lock_excludes_a_second_session);
    add(s, "backup", backup_then_restore_gives_the_same_database);
    add(s, "restore_failure", restore_failure_is_reported);
    add(s, "render_create", render_create_table_types_and_defaults);
    add(s, "render_modify", render_modify_table_and_data);
    add(s, "render_offline", render_without_connection);
    add(s, "render_insert_booleans", render_insert_booleans);
    add(s, "tls_modes", tls_modes_as_the_server_sees_them);
    add(s, "tls_backup", tls_backup_and_restore);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
