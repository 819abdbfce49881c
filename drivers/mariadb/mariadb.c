/*
 * mariadb — the MariaDB driver (MariaDB Connector/C), for MariaDB 10.3 and
 * later (written against 10.11).
 *
 * Connection: [database] host, port, name, user and the password from
 * password_file (trailing newline stripped; refused when group or others
 * may access it) or $NEXO_DB_PASSWORD. utf8mb4, a 10 s connect timeout,
 * LOCAL INFILE off, no automatic reconnect (a reconnect would silently drop
 * the advisory lock and any transaction).
 *
 * TLS ([database] sslmode and sslrootcert, libpq's names and meanings;
 * docs/database.md "TLS"): disable: no TLS. allow, prefer:
 * MYSQL_OPT_SSL_ENFORCE — TLS when the server offers it, else a plain
 * session (allow cannot mean "plain first" here: it asks for TLS like
 * prefer). require: the same, and a plain session is refused after
 * connecting. verify-ca: also MYSQL_OPT_SSL_CA = sslrootcert (the connector
 * then verifies the chain). verify-full: also
 * MYSQL_OPT_SSL_VERIFY_SERVER_CERT (the host name). With sslrootcert set,
 * prefer and require verify the chain too, as libpq does with a root
 * certificate; verify-ca and verify-full without sslrootcert are refused
 * (the connector has no default CA file). Unset (and no sslrootcert): no
 * TLS option, the connector's default: a plain session, as before. The
 * dump and client tools follow the session: see tool_argv. Every session runs with
 *   sql_mode = STRICT_TRANS_TABLES,ERROR_FOR_DIVISION_BY_ZERO,NO_ENGINE_SUBSTITUTION
 *   explicit_defaults_for_timestamp = 1
 * whatever the server's own defaults, so that a migration behaves the same
 * on every site. ANSI_QUOTES is deliberately not set: identifiers are
 * quoted with backticks, and the set/where expressions of migration files
 * keep MariaDB's usual meaning of "..." (a string). NO_BACKSLASH_ESCAPES
 * is not set either, which the literal quoting below relies on.
 *
 * Statements: without parameters through the text protocol, with `?`
 * parameters through prepared statements, every parameter bound as a
 * string (NULL as SQL NULL) and every result column fetched as text.
 *
 * Lock: GET_LOCK(CONCAT(DATABASE(), ':', name), timeout) — the lock is the
 * server's, so two nexo-update processes on two nodes that share one
 * database exclude each other. A negative timeout waits for ever (a year).
 * MariaDB counts nested GET_LOCKs of one session: unlock as often as you
 * lock. Unlocking a lock the session does not hold logs a warning.
 *
 * Backup: mariadb-dump (or mysqldump) of the one database, without CREATE
 * DATABASE, with routines, triggers and events, into the 0600 file. Restore
 * drops every table, view, sequence, routine and event of the database and
 * feeds the dump to the mariadb (or mysql) client on its standard input —
 * not through mysql_real_query, because a dump with triggers or routines
 * uses the client's DELIMITER command. Both tools get the password in a
 * 0600 option file (--defaults-extra-file, first argument, removed
 * afterwards); user, host and port are also on their command lines so that
 * a ~/.my.cnf, read after the extra file, cannot redirect them.
 *
 * Types and defaults (render): see docs at render_type and default_clause.
 * Inserted values are text parameters; in BOOLEAN (TINYINT(1)) columns the
 * words true/false become 1/0 first (see render_insert): strict mode
 * refuses 'true' for an integer column.
 * DDL is not transactional in MariaDB: each CREATE/ALTER/DROP commits.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <nexo/driver.h>

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <mysql.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <strings.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "util.h"

#define SQL_MODE "STRICT_TRANS_TABLES,ERROR_FOR_DIVISION_BY_ZERO,NO_ENGINE_SUBSTITUTION"
#define INIT_SQL \
    "SET SESSION sql_mode = '" SQL_MODE "', SESSION explicit_defaults_for_timestamp = 1"
#define SQL_SHOWN 200       /* characters of a failed statement in messages */
#define TOOL_ERR 3000       /* bytes of a tool's stderr kept for messages */
#define PW_MAX 4096
#define PATH_LEN 4096
#define LOCK_FOREVER 31536000 /* GET_LOCK refuses a negative timeout: a year */

/* [database] sslmode as this driver honours it (docs/database.md "TLS"). */
enum tls_mode {
    TLS_UNSET,       /* no TLS options: the connector's default, no TLS */
    TLS_DISABLE,     /* no TLS; the tools get --skip-ssl */
    TLS_PREFER,      /* allow, prefer: TLS when the server offers it */
    TLS_REQUIRE,     /* TLS or no connection */
    TLS_VERIFY_CA,   /* TLS, the server's certificate signed by sslrootcert */
    TLS_VERIFY_FULL, /* and issued for the host connected to */
};

struct myconn {
    MYSQL *my;
    char *host;     /* NULL: localhost (the local socket) */
    unsigned port;  /* 0: the default, 3306 */
    char *user;     /* NULL: the login name */
    char *name;
    char *password; /* NULL: none */
    enum tls_mode tls;
    char *sslmode;       /* the configured text, for messages (NULL: unset) */
    char *rootcert;      /* [database] sslrootcert (NULL: none) */
    int tls_on;          /* the session runs over TLS */
    int drop_on_close;   /* a dry run's scratch database (my_scratch): dropped */
};

/* ---------------------------------------------------------------- text */

struct sb {
    char *p;
    size_t len, cap;
};

static void sb_put(struct sb *b, const char *s, size_t n)
{
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        while (cap < b->len + n + 1)
            cap *= 2;
        b->p = nx_xrealloc(b->p, cap);
        b->cap = cap;
    }
    memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = '\0';
}

static void sb_add(struct sb *b, const char *s)
{
    sb_put(b, s, strlen(s));
}

static void sb_uint(struct sb *b, unsigned long v)
{
    char num[32];
    snprintf(num, sizeof num, "%lu", v);
    sb_add(b, num);
}

/* `ident` with backticks doubled. */
static void sb_ident(struct sb *b, const char *id)
{
    sb_put(b, "`", 1);
    for (const char *s = id; *s; s++)
        sb_put(b, s, 1 + (*s == '`'));
    sb_put(b, "`", 1);
}

/* 'text' with quotes doubled and backslashes escaped (no
 * NO_BACKSLASH_ESCAPES in our sql_mode). */
static void sb_literal(struct sb *b, const char *s)
{
    sb_put(b, "'", 1);
    for (; *s; s++) {
        if (*s == '\'')
            sb_put(b, "''", 2);
        else if (*s == '\\')
            sb_put(b, "\\\\", 2);
        else
            sb_put(b, s, 1);
    }
    sb_put(b, "'", 1);
}

static void sb_free_secret(struct sb *b)
{
    if (b->p)
        explicit_bzero(b->p, b->cap);
    free(b->p);
    *b = (struct sb){ 0 };
}

/* --------------------------------------------------------------- errors */

static int fail_sql(const struct nexo_host *h, nexo_ctx *c, const char *err, unsigned no,
                    const char *sql)
{
    size_t n = strlen(sql);
    int shown = (int)(n > SQL_SHOWN ? SQL_SHOWN : n);
    return h->fail(c, NEXO_EDB, "%s (error %u) in SQL: %.*s%s", err, no, shown, sql,
                   n > SQL_SHOWN ? "..." : "");
}

static int fail_my(const struct nexo_host *h, nexo_ctx *c, struct myconn *m, const char *sql)
{
    return fail_sql(h, c, mysql_error(m->my), mysql_errno(m->my), sql);
}

static int fail_stmt(const struct nexo_host *h, nexo_ctx *c, MYSQL_STMT *st, const char *sql)
{
    return fail_sql(h, c, mysql_stmt_error(st), mysql_stmt_errno(st), sql);
}

/* "host:port/db" for messages. */
static void conn_where(const struct myconn *m, char *buf, size_t len)
{
    snprintf(buf, len, "%s:%u/%s", m->host ? m->host : "localhost", m->port ? m->port : 3306,
             m->name);
}

/* ------------------------------------------------------------- connect */

static int read_secret(const struct nexo_host *h, nexo_ctx *c, const char *path, int fd,
                       char **out)
{
    char buf[PW_MAX + 1];
    size_t n = 0;
    while (n < PW_MAX) {
        ssize_t r = read(fd, buf + n, PW_MAX - n);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            explicit_bzero(buf, sizeof buf);
            return h->fail(c, NEXO_EIO, "[database] password_file %s: %s", path,
                           strerror(errno));
        }
        if (r == 0)
            break;
        n += (size_t)r;
    }
    int bad = n == PW_MAX || memchr(buf, '\0', n) != NULL;
    while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == '\r'))
        n--;
    buf[n] = '\0';
    if (!bad)
        *out = nx_xstrdup(buf);
    explicit_bzero(buf, sizeof buf);
    if (bad)
        return h->fail(c, NEXO_EINVAL, "[database] password_file %s: not a password "
                       "(NUL bytes or longer than %d bytes)", path, PW_MAX - 1);
    return 0;
}

static int read_password_file(const struct nexo_host *h, nexo_ctx *c, const char *path,
                              char **out)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return h->fail(c, errno == ENOENT ? NEXO_ENOTFOUND : NEXO_EIO,
                       "[database] password_file %s: %s", path, strerror(errno));
    struct stat st;
    int rc = 0;
    if (fstat(fd, &st) != 0)
        rc = h->fail(c, NEXO_EIO, "[database] password_file %s: %s", path, strerror(errno));
    else if (!S_ISREG(st.st_mode))
        rc = h->fail(c, NEXO_EINVAL, "[database] password_file %s is not a regular file", path);
    else if (st.st_mode & 077)
        rc = h->fail(c, NEXO_EINVAL,
                     "[database] password_file %s is open to group or others (mode %04o): "
                     "refusing it; make it readable by its owner only (chmod 600 %s)",
                     path, (unsigned)(st.st_mode & 07777), path);
    if (!rc)
        rc = read_secret(h, c, path, fd, out);
    close(fd);
    return rc;
}

static int get_password(const struct nexo_host *h, nexo_ctx *c, char **out)
{
    *out = NULL;
    const char *file = h->config(c, "database", "password_file");
    if (file && *file)
        return read_password_file(h, c, file, out);
    const char *env = getenv("NEXO_DB_PASSWORD");
    if (env)
        *out = nx_xstrdup(env);
    return 0;
}

static int parse_port(const struct nexo_host *h, nexo_ctx *c, const char *s, unsigned *port)
{
    *port = 0;
    if (!s || !*s)
        return 0;
    char *end = NULL;
    errno = 0;
    unsigned long v = strtoul(s, &end, 10);
    if (errno || *end || v == 0 || v > 65535 || s[0] < '0' || s[0] > '9')
        return h->fail(c, NEXO_EINVAL, "[database] port = %s: expected 1 to 65535", s);
    *port = (unsigned)v;
    return 0;
}

static char *dup_nonempty(const char *s)
{
    return s && *s ? nx_xstrdup(s) : NULL;
}

/* [database] sslmode and sslrootcert: every libpq mode maps onto the
 * connector's options (see open_conn); verification needs the CA file. */
static int tls_settings(const struct nexo_host *h, nexo_ctx *c, struct myconn *m)
{
    static const struct {
        const char *name;
        enum tls_mode mode;
    } modes[] = {
        { "disable", TLS_DISABLE }, { "allow", TLS_PREFER },
        { "prefer", TLS_PREFER }, { "require", TLS_REQUIRE },
        { "verify-ca", TLS_VERIFY_CA }, { "verify-full", TLS_VERIFY_FULL },
    };
    const char *mode = h->config(c, "database", "sslmode");
    const char *root = h->config(c, "database", "sslrootcert");
    m->tls = TLS_UNSET;
    m->sslmode = dup_nonempty(mode);
    if (m->sslmode) {
        size_t i = 0;
        while (i < sizeof modes / sizeof modes[0] && strcmp(modes[i].name, mode) != 0)
            i++;
        if (i == sizeof modes / sizeof modes[0])
            return h->fail(c, NEXO_EINVAL, "[database] sslmode = %s: the mariadb driver knows "
                           "disable, allow, prefer, require, verify-ca and verify-full", mode);
        m->tls = modes[i].mode;
    }
    if (m->tls >= TLS_VERIFY_CA && (!root || !*root))
        return h->fail(c, NEXO_EINVAL, "[database] sslmode = %s: the mariadb driver needs "
                       "[database] sslrootcert, the CA certificate (PEM) to verify the "
                       "server with", mode);
    if (!root || !*root || m->tls == TLS_DISABLE)
        return 0;
    if (access(root, R_OK) != 0)
        return h->fail(c, NEXO_EINVAL, "[database] sslrootcert %s: %s", root, strerror(errno));
    m->rootcert = nx_xstrdup(root);
    if (m->tls == TLS_UNSET)
        m->tls = TLS_PREFER;  /* a CA alone: TLS when offered, verified (libpq's default) */
    return 0;
}

static int conn_settings(const struct nexo_host *h, nexo_ctx *c, struct myconn *m)
{
    const char *name = h->config(c, "database", "name");
    if (!name || !*name)
        return h->fail(c, NEXO_EINVAL, "[database] name is not set");
    int rc = parse_port(h, c, h->config(c, "database", "port"), &m->port);
    if (rc)
        return rc;
    m->name = nx_xstrdup(name);
    m->host = dup_nonempty(h->config(c, "database", "host"));
    m->user = dup_nonempty(h->config(c, "database", "user"));
    rc = tls_settings(h, c, m);
    if (rc)
        return rc;
    return get_password(h, c, &m->password);
}

/* The connector's TLS options for m->tls. MYSQL_OPT_SSL_ENFORCE asks for
 * TLS but falls back to a plain session when the server offers none
 * (checked after connecting); a CA makes the connector verify the chain;
 * MYSQL_OPT_SSL_VERIFY_SERVER_CERT adds the host name check. */
static void tls_options(struct myconn *m)
{
    my_bool on = 1;
    if (m->tls <= TLS_DISABLE)
        return;
    mysql_options(m->my, MYSQL_OPT_SSL_ENFORCE, &on);
    if (m->rootcert)
        mysql_options(m->my, MYSQL_OPT_SSL_CA, m->rootcert);
    if (m->tls == TLS_VERIFY_FULL)
        mysql_options(m->my, MYSQL_OPT_SSL_VERIFY_SERVER_CERT, &on);
}

/* " (sslmode verify-full, sslrootcert /etc/ca.pem)" for messages, or "". */
static void tls_text(const struct myconn *m, char *buf, size_t len)
{
    buf[0] = '\0';
    if (m->sslmode && m->rootcert)
        snprintf(buf, len, " (sslmode %s, sslrootcert %s)", m->sslmode, m->rootcert);
    else if (m->sslmode || m->rootcert)
        snprintf(buf, len, " (%s %s)", m->sslmode ? "sslmode" : "sslrootcert",
                 m->sslmode ? m->sslmode : m->rootcert);
}

static int open_conn(const struct nexo_host *h, nexo_ctx *c, struct myconn *m)
{
    char where[512];
    conn_where(m, where, sizeof where);
    m->my = mysql_init(NULL);
    if (!m->my)
        return h->fail(c, NEXO_ERROR, "MariaDB at %s: mysql_init: out of memory", where);
    unsigned timeout = 10, local_infile = 0;
    my_bool reconnect = 0;
    mysql_options(m->my, MYSQL_OPT_CONNECT_TIMEOUT, &timeout);
    mysql_options(m->my, MYSQL_OPT_LOCAL_INFILE, &local_infile);
    mysql_options(m->my, MYSQL_OPT_RECONNECT, &reconnect);
    mysql_options(m->my, MYSQL_SET_CHARSET_NAME, "utf8mb4");
    mysql_options(m->my, MYSQL_INIT_COMMAND, INIT_SQL);
    tls_options(m);
    char tls[PATH_LEN + 64];
    tls_text(m, tls, sizeof tls);
    if (mysql_real_connect(m->my, m->host, m->user, m->password, m->name, m->port, NULL, 0)) {
        m->tls_on = mysql_get_ssl_cipher(m->my) != NULL;
        if (m->tls_on || m->tls < TLS_REQUIRE)
            return 0;
        return h->fail(c, NEXO_EIO, "cannot connect to MariaDB at %s as %s%s: the server "
                       "offers no TLS (its have_ssl is not YES)", where,
                       m->user ? m->user : "the login user", tls);
    }
    unsigned no = mysql_errno(m->my);
    return h->fail(c, no >= 2000 && no < 3000 ? NEXO_EIO : NEXO_EDB,
                   "cannot connect to MariaDB at %s as %s%s: %s (error %u)", where,
                   m->user ? m->user : "the login user", tls, mysql_error(m->my), no);
}

static void free_conn(struct myconn *m)
{
    if (!m)
        return;
    if (m->my && m->drop_on_close) {
        char q[200];
        snprintf(q, sizeof q, "DROP DATABASE IF EXISTS `%s`", m->name); /* ours: no ` */
        mysql_real_query(m->my, q, strlen(q));
    }
    if (m->my)
        mysql_close(m->my);
    if (m->password)
        explicit_bzero(m->password, strlen(m->password));
    free(m->password);
    free(m->host);
    free(m->user);
    free(m->name);
    free(m->rootcert);
    free(m->sslmode);
    free(m);
}

/* Log how the session is protected, as the server sees it (its session
 * status Ssl_version and Ssl_cipher) when TLS is in use. */
static void log_tls(const struct nexo_host *h, nexo_ctx *c, struct myconn *m)
{
    char where[512], version[64] = "?", cipher[128] = "?";
    conn_where(m, where, sizeof where);
    const char *user = m->user ? m->user : "the login user";
    if (!m->tls_on) {
        h->log(c, NEXO_LOG_DEBUG, "connected to %s as %s without TLS", where, user);
        return;
    }
    static const char sql[] =
        "SHOW SESSION STATUS WHERE Variable_name IN ('Ssl_version', 'Ssl_cipher')";
    MYSQL_RES *res = mysql_real_query(m->my, sql, sizeof sql - 1) == 0
                         ? mysql_store_result(m->my) : NULL;
    MYSQL_ROW r;
    while (res && (r = mysql_fetch_row(res)) != NULL) {
        if (!r[0] || !r[1] || !r[1][0])
            continue;
        if (strcasecmp(r[0], "Ssl_version") == 0)
            snprintf(version, sizeof version, "%s", r[1]);
        else
            snprintf(cipher, sizeof cipher, "%s", r[1]);
    }
    mysql_free_result(res);
    h->log(c, NEXO_LOG_DEBUG, "connected to %s as %s over TLS (server: %s %s)", where, user,
           version, cipher);
}

static int my_connect(const struct nexo_host *h, nexo_ctx *c, void **conn)
{
    *conn = NULL;
    struct myconn *m = nx_xcalloc(1, sizeof *m);
    int rc = conn_settings(h, c, m);
    if (!rc)
        rc = open_conn(h, c, m);
    if (rc) {
        free_conn(m);
        return rc;
    }
    if (!strstr(mysql_get_server_info(m->my), "MariaDB"))
        h->log(c, NEXO_LOG_WARN, "the server (%s) is not MariaDB; this driver is written for "
               "MariaDB 10.3 or later", mysql_get_server_info(m->my));
    log_tls(h, c, m);
    *conn = m;
    return 0;
}

static void my_disconnect(void *conn)
{
    free_conn(conn);
}

static int my_server_version(const struct nexo_host *h, nexo_ctx *c, void *conn, char *buf,
                             size_t len)
{
    struct myconn *m = conn;
    const char *v = mysql_get_server_info(m->my);
    if (strncmp(v, "5.5.5-", 6) == 0) /* the replication-compatible prefix */
        v += 6;
    size_t n = strcspn(v, "-");
    if (n + 1 > len)
        return h->fail(c, NEXO_EINVAL, "server version %s does not fit %zu bytes", v, len);
    memcpy(buf, v, n);
    buf[n] = '\0';
    return 0;
}

/* ----------------------------------------------------------- statements */

/* Skip the further result sets of a CALL. */
static int drain_results(struct myconn *m)
{
    while (mysql_more_results(m->my)) {
        if (mysql_next_result(m->my) > 0)
            return -1;
        mysql_free_result(mysql_store_result(m->my));
    }
    return 0;
}

static int text_rows(MYSQL_RES *res, nexo_row_fn row, void *arg)
{
    unsigned n = mysql_num_fields(res);
    MYSQL_FIELD *f = mysql_fetch_fields(res);
    const char **names = nx_xcalloc(n ? n : 1, sizeof *names);
    for (unsigned i = 0; i < n; i++)
        names[i] = f[i].name;
    int rc = 0;
    for (;;) {
        MYSQL_ROW r = mysql_fetch_row(res);
        if (!r)
            break;
        rc = row(arg, (int)n, names, (const char *const *)r);
        if (rc)
            break;
    }
    free(names);
    return rc;
}

static int text_stmt(const struct nexo_host *h, nexo_ctx *c, struct myconn *m, const char *sql,
                     nexo_row_fn row, void *arg)
{
    if (mysql_real_query(m->my, sql, strlen(sql)) != 0)
        return fail_my(h, c, m, sql);
    MYSQL_RES *res = mysql_store_result(m->my);
    if (!res && mysql_field_count(m->my) != 0)
        return fail_my(h, c, m, sql);
    int rc = res && row ? text_rows(res, row, arg) : 0;
    mysql_free_result(res);
    if (drain_results(m) != 0 && !rc)
        rc = fail_my(h, c, m, sql);
    return rc;
}

/* Result columns of a prepared statement, fetched as text. buffer_length
 * is always one less than the buffer, so that a NUL fits after the value. */
struct ps_res {
    unsigned n;
    MYSQL_BIND *bind;
    unsigned long *len;
    my_bool *isnull;
    const char **names;
    const char **values;
};

static void ps_res_init(struct ps_res *r, MYSQL_RES *meta)
{
    r->n = mysql_num_fields(meta);
    MYSQL_FIELD *f = mysql_fetch_fields(meta);
    size_t k = r->n ? r->n : 1;
    r->bind = nx_xcalloc(k, sizeof *r->bind);
    r->len = nx_xcalloc(k, sizeof *r->len);
    r->isnull = nx_xcalloc(k, sizeof *r->isnull);
    r->names = nx_xcalloc(k, sizeof *r->names);
    r->values = nx_xcalloc(k, sizeof *r->values);
    for (unsigned i = 0; i < r->n; i++) {
        r->names[i] = f[i].name;
        r->bind[i].buffer_type = MYSQL_TYPE_STRING;
        r->bind[i].buffer = nx_xmalloc(256);
        r->bind[i].buffer_length = 255;
        r->bind[i].length = &r->len[i];
        r->bind[i].is_null = &r->isnull[i];
    }
}

static void ps_res_free(struct ps_res *r)
{
    for (unsigned i = 0; i < r->n; i++)
        free(r->bind[i].buffer);
    free(r->bind);
    free(r->len);
    free(r->isnull);
    free(r->names);
    free(r->values);
}

/* After MYSQL_DATA_TRUNCATED: grow the buffers of the long values and
 * fetch those columns again. */
static int ps_refetch_long(MYSQL_STMT *st, struct ps_res *r)
{
    int grown = 0;
    for (unsigned i = 0; i < r->n; i++) {
        if (r->isnull[i] || r->len[i] <= r->bind[i].buffer_length)
            continue;
        r->bind[i].buffer = nx_xrealloc(r->bind[i].buffer, r->len[i] + 1);
        r->bind[i].buffer_length = r->len[i];
        grown = 1;
        if (mysql_stmt_fetch_column(st, &r->bind[i], i, 0) != 0)
            return -1;
    }
    return grown && mysql_stmt_bind_result(st, r->bind) ? -1 : 0;
}

static void ps_values(struct ps_res *r)
{
    for (unsigned i = 0; i < r->n; i++) {
        char *buf = r->bind[i].buffer;
        buf[r->len[i] <= r->bind[i].buffer_length ? r->len[i] : 0] = '\0';
        r->values[i] = r->isnull[i] ? NULL : buf;
    }
}

static int ps_rows(const struct nexo_host *h, nexo_ctx *c, MYSQL_STMT *st, const char *sql,
                   nexo_row_fn row, void *arg)
{
    MYSQL_RES *meta = mysql_stmt_result_metadata(st);
    if (!meta)
        return mysql_stmt_errno(st) ? fail_stmt(h, c, st, sql) : 0;
    struct ps_res r;
    ps_res_init(&r, meta);
    int rc = 0;
    if (mysql_stmt_bind_result(st, r.bind) != 0 || mysql_stmt_store_result(st) != 0)
        rc = fail_stmt(h, c, st, sql);
    while (!rc) {
        int f = mysql_stmt_fetch(st);
        if (f == MYSQL_NO_DATA)
            break;
        if (f == 1 || (f == MYSQL_DATA_TRUNCATED && ps_refetch_long(st, &r) != 0)) {
            rc = fail_stmt(h, c, st, sql);
            break;
        }
        ps_values(&r);
        rc = row(arg, (int)r.n, r.names, r.values);
    }
    ps_res_free(&r);
    mysql_free_result(meta);
    return rc;
}

static int ps_execute(const struct nexo_host *h, nexo_ctx *c, MYSQL_STMT *st, const char *sql,
                      int nparams, const char *const *params)
{
    if (mysql_stmt_prepare(st, sql, strlen(sql)) != 0)
        return fail_stmt(h, c, st, sql);
    unsigned long want = mysql_stmt_param_count(st);
    if (want != (unsigned long)nparams)
        return h->fail(c, NEXO_EINVAL, "%d parameters given for %lu placeholders in SQL: %.*s",
                       nparams, want, SQL_SHOWN, sql);
    MYSQL_BIND *b = nx_xcalloc((size_t)nparams, sizeof *b);
    for (int i = 0; i < nparams; i++) {
        b[i].buffer_type = params[i] ? MYSQL_TYPE_STRING : MYSQL_TYPE_NULL;
        b[i].buffer = (void *)params[i];
        b[i].buffer_length = params[i] ? strlen(params[i]) : 0;
    }
    int bad = mysql_stmt_bind_param(st, b) != 0 || mysql_stmt_execute(st) != 0;
    free(b);
    return bad ? fail_stmt(h, c, st, sql) : 0;
}

static int ps_stmt(const struct nexo_host *h, nexo_ctx *c, struct myconn *m, const char *sql,
                   int nparams, const char *const *params, nexo_row_fn row, void *arg)
{
    MYSQL_STMT *st = mysql_stmt_init(m->my);
    if (!st)
        return fail_my(h, c, m, sql);
    int rc = ps_execute(h, c, st, sql, nparams, params);
    if (!rc && row)
        rc = ps_rows(h, c, st, sql, row, arg);
    mysql_stmt_close(st);
    return rc;
}

static int run_sql(const struct nexo_host *h, nexo_ctx *c, void *conn, const char *sql,
                   int nparams, const char *const *params, nexo_row_fn row, void *arg)
{
    if (!sql)
        return h->fail(c, NEXO_EINVAL, "no SQL statement given");
    if (nparams < 0 || (nparams > 0 && !params))
        return h->fail(c, NEXO_EINVAL, "bad parameter list (%d) for SQL: %.*s", nparams,
                       SQL_SHOWN, sql);
    if (nparams == 0)
        return text_stmt(h, c, conn, sql, row, arg);
    return ps_stmt(h, c, conn, sql, nparams, params, row, arg);
}

static int my_exec(const struct nexo_host *h, nexo_ctx *c, void *conn, const char *sql,
                   int nparams, const char *const *params)
{
    return run_sql(h, c, conn, sql, nparams, params, NULL, NULL);
}

static int my_query(const struct nexo_host *h, nexo_ctx *c, void *conn, const char *sql,
                    int nparams, const char *const *params, nexo_row_fn row, void *arg)
{
    if (!row)
        return h->fail(c, NEXO_EINVAL, "query without a row callback: %.*s", SQL_SHOWN,
                       sql ? sql : "");
    return run_sql(h, c, conn, sql, nparams, params, row, arg);
}

static int my_begin(const struct nexo_host *h, nexo_ctx *c, void *conn)
{
    return text_stmt(h, c, conn, "START TRANSACTION", NULL, NULL);
}

static int my_commit(const struct nexo_host *h, nexo_ctx *c, void *conn)
{
    return text_stmt(h, c, conn, "COMMIT", NULL, NULL);
}

static int my_rollback(const struct nexo_host *h, nexo_ctx *c, void *conn)
{
    return text_stmt(h, c, conn, "ROLLBACK", NULL, NULL);
}

/* A MariaDB identifier: 1 to 64 characters, not ending in a space. */
static int my_quote_ident(const char *ident, char *buf, size_t len)
{
    if (!ident || !buf || !*ident || ident[strlen(ident) - 1] == ' ')
        return NEXO_EINVAL;
    size_t chars = 0, need = 3;
    for (const char *s = ident; *s; s++) {
        chars += ((unsigned char)*s & 0xC0) != 0x80;
        need += 1 + (*s == '`');
    }
    if (chars > 64 || need > len)
        return NEXO_EINVAL;
    char *o = buf;
    *o++ = '`';
    for (const char *s = ident; *s; s++) {
        *o++ = *s;
        if (*s == '`')
            *o++ = '`';
    }
    *o++ = '`';
    *o = '\0';
    return 0;
}

/* ------------------------------------------------- introspection, locks */

/* The first column of the first row (NULL for SQL NULL), and the number
 * of rows. */
struct scalar {
    int rows;
    char *value;
};

static int take_scalar(void *arg, int n, const char *const *names, const char *const *values)
{
    struct scalar *s = arg;
    (void)names;
    if (s->rows++ == 0 && n > 0 && values[0])
        s->value = nx_xstrdup(values[0]);
    return 0;
}

static int count_rows(const struct nexo_host *h, nexo_ctx *c, void *conn, const char *sql,
                      const char *a, const char *b)
{
    const char *p[2] = { a, b };
    struct scalar s = { 0, NULL };
    int rc = run_sql(h, c, conn, sql, b ? 2 : 1, p, take_scalar, &s);
    free(s.value);
    return rc ? rc : s.rows > 0;
}

static int my_exists(const struct nexo_host *h, nexo_ctx *c, void *conn, const char *table,
                     const char *column, const char *index)
{
    if (!table)
        return h->fail(c, NEXO_EINVAL, "exists: no table given");
    int rc = count_rows(h, c, conn, "SELECT 1 FROM information_schema.TABLES "
                        "WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = ?", table, NULL);
    if (rc == 1 && column)
        rc = count_rows(h, c, conn, "SELECT 1 FROM information_schema.COLUMNS "
                        "WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = ? "
                        "AND COLUMN_NAME = ?", table, column);
    if (rc == 1 && index)
        rc = count_rows(h, c, conn, "SELECT 1 FROM information_schema.STATISTICS "
                        "WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = ? "
                        "AND INDEX_NAME = ? LIMIT 1", table, index);
    return rc;
}

static int my_lock(const struct nexo_host *h, nexo_ctx *c, void *conn, const char *name,
                   int timeout_s)
{
    struct myconn *m = conn;
    if (!name || !*name)
        return h->fail(c, NEXO_EINVAL, "lock: no name given");
    char t[32];
    snprintf(t, sizeof t, "%d", timeout_s < 0 ? LOCK_FOREVER : timeout_s);
    const char *p[2] = { name, t };
    struct scalar s = { 0, NULL };
    int rc = run_sql(h, c, conn, "SELECT GET_LOCK(CONCAT(DATABASE(), ':', ?), ?)", 2, p,
                     take_scalar, &s);
    if (!rc && !s.value)
        rc = h->fail(c, NEXO_EDB, "GET_LOCK('%s:%s') failed (NULL)", m->name, name);
    else if (!rc && strcmp(s.value, "1") != 0)
        rc = h->fail(c, NEXO_EBUSY, "the lock '%s' on database %s is held by another "
                     "session (waited %d s); another nexo-update may be running against "
                     "this database", name, m->name, timeout_s);
    free(s.value);
    return rc;
}

static int my_unlock(const struct nexo_host *h, nexo_ctx *c, void *conn, const char *name)
{
    struct myconn *m = conn;
    if (!name || !*name)
        return h->fail(c, NEXO_EINVAL, "unlock: no name given");
    const char *p[1] = { name };
    struct scalar s = { 0, NULL };
    int rc = run_sql(h, c, conn, "SELECT RELEASE_LOCK(CONCAT(DATABASE(), ':', ?))", 1, p,
                     take_scalar, &s);
    if (!rc && (!s.value || strcmp(s.value, "1") != 0))
        h->log(c, NEXO_LOG_WARN, "unlock: this session did not hold the lock '%s' on %s",
               name, m->name);
    free(s.value);
    return rc;
}

/* ----------------------------------------------------- child processes */

/* The first of two programs found in $PATH. */
static int find_tool(const char *a, const char *b, char *out, size_t len)
{
    const char *names[2] = { a, b };
    const char *path = getenv("PATH");
    if (!path || !*path)
        path = "/usr/local/bin:/usr/bin:/bin";
    for (int k = 0; k < 2; k++) {
        for (const char *d = path; *d;) {
            size_t n = strcspn(d, ":");
            struct stat st;
            if ((size_t)snprintf(out, len, "%.*s/%s", (int)n, d, names[k]) < len &&
                n > 0 && stat(out, &st) == 0 && S_ISREG(st.st_mode) &&
                access(out, X_OK) == 0)
                return 0;
            d += n + (d[n] == ':');
        }
    }
    return -1;
}

static void cnf_value(struct sb *b, const char *key, const char *value)
{
    sb_add(b, key);
    sb_add(b, "=\"");
    for (const char *s = value; *s; s++) {
        const char *esc = *s == '\\' ? "\\\\" : *s == '"' ? "\\\"" : *s == '\n' ? "\\n"
                        : *s == '\r' ? "\\r" : *s == '\t' ? "\\t" : NULL;
        if (esc)
            sb_add(b, esc);
        else
            sb_put(b, s, 1);
    }
    sb_add(b, "\"\n");
}

static int write_all(int fd, const char *p, size_t n)
{
    while (n > 0) {
        ssize_t w = write(fd, p, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return -1;
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

/* A 0600 option file with the connection settings, in the update's work
 * folder when there is one. */
static int write_defaults(const struct nexo_host *h, nexo_ctx *c, struct myconn *m,
                          char *path, size_t len)
{
    const char *dir = h->info(c, "work_dir");
    if (!dir || !*dir)
        dir = getenv("TMPDIR");
    if (!dir || !*dir)
        dir = "/tmp";
    if ((size_t)snprintf(path, len, "%s/nexo-mariadb-XXXXXX", dir) >= len)
        return h->fail(c, NEXO_EINVAL, "temporary folder path too long: %s", dir);
    int fd = mkostemp(path, O_CLOEXEC);
    if (fd < 0) {
        int err = errno;
        path[0] = '\0';
        return h->fail(c, NEXO_EIO, "cannot create an option file in %s: %s", dir,
                       strerror(err));
    }
    struct sb b = { 0 };
    sb_add(&b, "[client]\n");
    if (m->user)
        cnf_value(&b, "user", m->user);
    cnf_value(&b, "password", m->password ? m->password : "");
    if (m->host)
        cnf_value(&b, "host", m->host);
    if (m->port) {
        sb_add(&b, "port=");
        sb_uint(&b, m->port);
        sb_add(&b, "\n");
    }
    int ok = fchmod(fd, 0600) == 0 && write_all(fd, b.p, b.len) == 0;
    int err = errno;
    sb_free_secret(&b);
    ok = close(fd) == 0 && ok;
    if (ok)
        return 0;
    unlink(path);
    path[0] = '\0';
    return h->fail(c, NEXO_EIO, "cannot write an option file in %s: %s", dir, strerror(err));
}

/* Runs in the child: never returns. Only async-signal-safe calls. */
static void child_exec(char *const argv[], int in_fd, int null_fd, int err_fd)
{
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
    signal(SIGPIPE, SIG_DFL);
    if (dup2(in_fd, 0) < 0 || dup2(null_fd, 1) < 0 || dup2(err_fd, 2) < 0)
        _exit(126);
    close_range(3, ~0U, 0);
    execv(argv[0], argv);
    static const char msg[] = "cannot execute the program\n";
    ssize_t w = write(2, msg, sizeof msg - 1);
    (void)w;
    _exit(127);
}

struct tool_out {
    char text[TOOL_ERR];
    size_t len;
};

static void read_output(int fd, struct tool_out *o)
{
    char tmp[4096];
    o->len = 0;
    for (;;) {
        ssize_t r = read(fd, tmp, sizeof tmp);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            break;
        size_t take = (size_t)r;
        if (take > sizeof o->text - 1 - o->len)
            take = sizeof o->text - 1 - o->len;
        memcpy(o->text + o->len, tmp, take);
        o->len += take;
    }
    while (o->len > 0 && (o->text[o->len - 1] == '\n' || o->text[o->len - 1] == ' '))
        o->len--;
    o->text[o->len] = '\0';
    for (char *p = o->text; *p; p++)
        if (*p == '\n')
            *p = ' ';
}

static int wait_child(pid_t pid)
{
    int status = 0;
    while (waitpid(pid, &status, 0) < 0) {
        if (errno != EINTR)
            return -1;
    }
    return status;
}

/* Run argv[0] (an absolute path) with stdin from in_fd (or /dev/null),
 * stdout to /dev/null and stderr kept for the message. */
static int run_tool(const struct nexo_host *h, nexo_ctx *c, char *const argv[], int in_fd,
                    const char *what)
{
    int errp[2];
    if (pipe2(errp, O_CLOEXEC) != 0)
        return h->fail(c, NEXO_EIO, "%s: pipe: %s", what, strerror(errno));
    int null_fd = open("/dev/null", O_RDWR | O_CLOEXEC);
    pid_t pid = null_fd < 0 ? -1 : fork();
    if (pid == 0)
        child_exec(argv, in_fd >= 0 ? in_fd : null_fd, null_fd, errp[1]);
    int err = errno;
    close(errp[1]);
    if (null_fd >= 0)
        close(null_fd);
    if (pid < 0) {
        close(errp[0]);
        return h->fail(c, NEXO_EIO, "%s: cannot start %s: %s", what, argv[0], strerror(err));
    }
    struct tool_out o;
    read_output(errp[0], &o);
    close(errp[0]);
    int st = wait_child(pid);
    if (st >= 0 && WIFEXITED(st) && WEXITSTATUS(st) == 0) {
        if (o.len)
            h->log(c, NEXO_LOG_WARN, "%s: %s", argv[0], o.text);
        return 0;
    }
    if (st >= 0 && WIFSIGNALED(st))
        return h->fail(c, NEXO_EDB, "%s: %s was killed by signal %d: %s", what, argv[0],
                       WTERMSIG(st), o.text);
    return h->fail(c, NEXO_EDB, "%s: %s failed (exit status %d): %s", what, argv[0],
                   st >= 0 && WIFEXITED(st) ? WEXITSTATUS(st) : -1,
                   o.len ? o.text : "no message");
}

/* argv of a client tool: the option file first, then user/host/port and
 * TLS (not secret), then `extra`, then the database. Free with free_argv.
 * TLS follows the driver's own session: --ssl when it runs over TLS (with
 * --ssl-ca and, for verify-full, --ssl-verify-server-cert: the tools verify
 * as the connector does), --skip-ssl when sslmode is set and it does not;
 * nothing when sslmode and sslrootcert are unset (the tools' own default).
 * On the command line, so that a ~/.my.cnf cannot weaken them. */
static char **tool_argv(const struct myconn *m, const char *tool, const char *cnf,
                        const char *const *extra)
{
    size_t n = 0;
    while (extra[n])
        n++;
    char **argv = nx_xcalloc(n + 10, sizeof *argv);
    size_t k = 0;
    argv[k++] = nx_xstrdup(tool);
    argv[k++] = nx_xasprintf("--defaults-extra-file=%s", cnf);
    if (m->user)
        argv[k++] = nx_xasprintf("--user=%s", m->user);
    if (m->host)
        argv[k++] = nx_xasprintf("--host=%s", m->host);
    if (m->port)
        argv[k++] = nx_xasprintf("--port=%u", m->port);
    if (m->tls_on) {
        argv[k++] = nx_xstrdup("--ssl");
        if (m->rootcert)
            argv[k++] = nx_xasprintf("--ssl-ca=%s", m->rootcert);
        if (m->tls == TLS_VERIFY_FULL)
            argv[k++] = nx_xstrdup("--ssl-verify-server-cert");
    } else if (m->tls != TLS_UNSET) {
        argv[k++] = nx_xstrdup("--skip-ssl");
    }
    for (size_t i = 0; i < n; i++)
        argv[k++] = nx_xstrdup(extra[i]);
    argv[k++] = nx_xstrdup(m->name);
    return argv;
}

static void free_argv(char **argv)
{
    for (size_t i = 0; argv && argv[i]; i++)
        free(argv[i]);
    free(argv);
}

static void fsync_parent(const char *path)
{
    char *dir = nx_dirname(path);
    nx_err e;
    nx_fsync_dir(dir, &e);
    free(dir);
}

/* --------------------------------------------------------------- backup */

static int dump_into(const struct nexo_host *h, nexo_ctx *c, struct myconn *m,
                     const char *tool, const char *path)
{
    char cnf[PATH_LEN];
    int rc = write_defaults(h, c, m, cnf, sizeof cnf);
    if (rc)
        return rc;
    char *result = nx_xasprintf("--result-file=%s", path);
    const char *extra[] = {
        "--default-character-set=utf8mb4", "--single-transaction", "--routines", "--triggers",
        "--events", "--hex-blob", "--add-drop-table", "--no-tablespaces", result, NULL,
    };
    char **argv = tool_argv(m, tool, cnf, extra);
    rc = run_tool(h, c, argv, -1, "backup");
    free_argv(argv);
    free(result);
    unlink(cnf);
    return rc;
}

static int my_backup(const struct nexo_host *h, nexo_ctx *c, void *conn, const char *path)
{
    struct myconn *m = conn;
    char tool[PATH_LEN];
    if (find_tool("mariadb-dump", "mysqldump", tool, sizeof tool) != 0)
        return h->fail(c, NEXO_ENOTFOUND, "backup: neither mariadb-dump nor mysqldump is "
                       "in PATH (install mariadb-client)");
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (fd < 0)
        return h->fail(c, NEXO_EIO, "backup: cannot create %s: %s", path, strerror(errno));
    int rc = fchmod(fd, 0600) == 0 ? 0 : h->fail(c, NEXO_EIO, "backup: chmod %s: %s", path,
                                                  strerror(errno));
    if (!rc)
        rc = dump_into(h, c, m, tool, path);
    if (!rc && fsync(fd) != 0)
        rc = h->fail(c, NEXO_EIO, "backup: fsync %s: %s", path, strerror(errno));
    struct stat st;
    if (!rc && fstat(fd, &st) == 0)
        h->log(c, NEXO_LOG_INFO, "database %s saved to %s (%lld bytes)", m->name, path,
               (long long)st.st_size);
    close(fd);
    if (rc)
        unlink(path);
    else
        fsync_parent(path);
    return rc;
}

/* -------------------------------------------------------------- restore */

static int check_dump(const struct nexo_host *h, nexo_ctx *c, int fd, const char *path)
{
    char head[1025];
    ssize_t n = pread(fd, head, sizeof head - 1, 0);
    if (n < 0)
        return h->fail(c, NEXO_EIO, "restore: %s: %s", path, strerror(errno));
    head[n] = '\0';
    if (!strstr(head, "-- MariaDB dump") && !strstr(head, "-- MySQL dump"))
        return h->fail(c, NEXO_EINVAL, "restore: %s is not a mariadb-dump file; the "
                       "database was not touched", path);
    return 0;
}

struct names {
    char **v;   /* kind, name, kind, name ... */
    size_t n;
};

static int take_pair(void *arg, int n, const char *const *names, const char *const *values)
{
    struct names *l = arg;
    (void)names;
    if (n < 2 || !values[0] || !values[1])
        return 0;
    l->v = nx_xrealloc(l->v, (l->n + 2) * sizeof *l->v);
    l->v[l->n++] = nx_xstrdup(values[0]);
    l->v[l->n++] = nx_xstrdup(values[1]);
    return 0;
}

#define LIST_OBJECTS                                                                        \
    "SELECT CASE TABLE_TYPE WHEN 'VIEW' THEN 'VIEW' WHEN 'SEQUENCE' THEN 'SEQUENCE' "      \
    "ELSE 'TABLE' END, TABLE_NAME FROM information_schema.TABLES "                          \
    "WHERE TABLE_SCHEMA = DATABASE() "                                                      \
    "UNION ALL SELECT ROUTINE_TYPE, ROUTINE_NAME FROM information_schema.ROUTINES "         \
    "WHERE ROUTINE_SCHEMA = DATABASE() AND ROUTINE_TYPE IN ('PROCEDURE', 'FUNCTION') "      \
    "UNION ALL SELECT 'EVENT', EVENT_NAME FROM information_schema.EVENTS "                 \
    "WHERE EVENT_SCHEMA = DATABASE()"

static int drop_listed(const struct nexo_host *h, nexo_ctx *c, struct myconn *m)
{
    struct names l = { NULL, 0 };
    int rc = text_stmt(h, c, m, LIST_OBJECTS, take_pair, &l);
    for (size_t i = 0; i + 1 < l.n && !rc; i += 2) {
        struct sb b = { 0 };
        sb_add(&b, "DROP ");
        sb_add(&b, l.v[i]); /* one of our own keywords */
        sb_add(&b, " IF EXISTS ");
        sb_ident(&b, l.v[i + 1]);
        rc = text_stmt(h, c, m, b.p, NULL, NULL);
        free(b.p);
    }
    for (size_t i = 0; i < l.n; i++)
        free(l.v[i]);
    free(l.v);
    return rc;
}

/* A dry run's private copy (driver.h, scratch): a new database
 * <name>_plan_<random> on the same server with every base table of the
 * site's made by CREATE TABLE ... LIKE — columns, types and indexes, which
 * is what rendering reads, no foreign keys — and the rows of the tables
 * of fewer than SCRATCH_ROWS rows (system_versions, configuration; the
 * big ones stay empty: rendering never reads rows), connected with
 * the same settings and dropped when that connection is closed. A dry run
 * killed before it leaves the database behind: its name says what it is.
 * Needs the CREATE privilege on the server. */
#define SCRATCH_ROWS "10000"

/* "<verb>`t`<link>`from`.`t`" on k: a table of the scratch copy made from
 * the site's database `from`. */
static int copy_stmt(const struct nexo_host *h, nexo_ctx *c, struct myconn *k, const char *verb,
                     const char *link, const char *from, const char *table)
{
    struct sb b = { 0 };
    sb_add(&b, verb);
    sb_ident(&b, table);
    sb_add(&b, link);
    sb_ident(&b, from);
    sb_add(&b, ".");
    sb_ident(&b, table);
    int rc = text_stmt(h, c, k, b.p, NULL, NULL);
    free(b.p);
    return rc;
}

static int my_scratch(const struct nexo_host *h, nexo_ctx *c, void *conn, const char *dir,
                      void **copy)
{
    (void)dir;
    struct myconn *m = conn;
    *copy = NULL;
    unsigned char rnd[6];
    if (getrandom(rnd, sizeof rnd, 0) != (ssize_t)sizeof rnd)
        return h->fail(c, NEXO_EIO, "scratch database: getrandom: %s", strerror(errno));
    /* named after the site's database (a user allowed "site_%" may create
     * it), else nexo_plan_...; 64 characters at most */
    char name[65];
    if (strlen(m->name) + 18 <= 64)
        snprintf(name, sizeof name, "%s_plan_%02x%02x%02x%02x%02x%02x", m->name, rnd[0],
                 rnd[1], rnd[2], rnd[3], rnd[4], rnd[5]);
    else
        snprintf(name, sizeof name, "nexo_plan_%02x%02x%02x%02x%02x%02x", rnd[0], rnd[1],
                 rnd[2], rnd[3], rnd[4], rnd[5]);
    struct sb b = { 0 };
    sb_add(&b, "CREATE DATABASE ");
    sb_ident(&b, name);
    int rc = text_stmt(h, c, m, b.p, NULL, NULL);
    free(b.p);
    if (rc)
        return rc;
    struct myconn *k = nx_xcalloc(1, sizeof *k);
    k->host = m->host ? nx_xstrdup(m->host) : NULL;
    k->port = m->port;
    k->user = m->user ? nx_xstrdup(m->user) : NULL;
    k->name = nx_xstrdup(name);
    k->password = m->password ? nx_xstrdup(m->password) : NULL;
    k->tls = m->tls;
    k->sslmode = m->sslmode ? nx_xstrdup(m->sslmode) : NULL;
    k->rootcert = m->rootcert ? nx_xstrdup(m->rootcert) : NULL;
    rc = open_conn(h, c, k);
    if (rc) {
        /* not connected: drop it from the site's connection */
        struct sb d = { 0 };
        sb_add(&d, "DROP DATABASE IF EXISTS ");
        sb_ident(&d, name);
        mysql_real_query(m->my, d.p, strlen(d.p));
        free(d.p);
        free_conn(k);
        return rc;
    }
    k->drop_on_close = 1;
    struct names l = { NULL, 0 };
    rc = text_stmt(h, c, m, "SELECT IF(TABLE_ROWS < " SCRATCH_ROWS ", 'rows', 'empty'), "
                   "TABLE_NAME FROM information_schema.TABLES WHERE TABLE_SCHEMA = DATABASE() "
                   "AND TABLE_TYPE = 'BASE TABLE'", take_pair, &l);
    for (size_t i = 0; i + 1 < l.n && !rc; i += 2) {
        rc = copy_stmt(h, c, k, "CREATE TABLE ", " LIKE ", m->name, l.v[i + 1]);
        if (!rc && strcmp(l.v[i], "rows") == 0)
            rc = copy_stmt(h, c, k, "INSERT INTO ", " SELECT * FROM ", m->name, l.v[i + 1]);
    }
    for (size_t i = 0; i < l.n; i++)
        free(l.v[i]);
    free(l.v);
    if (rc) {
        free_conn(k);
        return rc;
    }
    *copy = k;
    return 0;
}

/* Drop everything the database holds, so that the dump alone decides. */
static int drop_all(const struct nexo_host *h, nexo_ctx *c, struct myconn *m)
{
    int rc = text_stmt(h, c, m, "ROLLBACK", NULL, NULL);
    if (!rc)
        rc = text_stmt(h, c, m, "SET SESSION FOREIGN_KEY_CHECKS = 0", NULL, NULL);
    if (!rc)
        rc = drop_listed(h, c, m);
    int rc2 = text_stmt(h, c, m, "SET SESSION FOREIGN_KEY_CHECKS = 1", NULL, NULL);
    return rc ? rc : rc2;
}

static int load_dump(const struct nexo_host *h, nexo_ctx *c, struct myconn *m,
                     const char *tool, int fd)
{
    char cnf[PATH_LEN];
    int rc = write_defaults(h, c, m, cnf, sizeof cnf);
    if (rc)
        return rc;
    const char *extra[] = { "--default-character-set=utf8mb4", "--batch", NULL };
    char **argv = tool_argv(m, tool, cnf, extra);
    rc = run_tool(h, c, argv, fd, "restore");
    free_argv(argv);
    unlink(cnf);
    return rc;
}

static int my_restore(const struct nexo_host *h, nexo_ctx *c, void *conn, const char *path)
{
    struct myconn *m = conn;
    char tool[PATH_LEN];
    if (find_tool("mariadb", "mysql", tool, sizeof tool) != 0)
        return h->fail(c, NEXO_ENOTFOUND, "restore: neither mariadb nor mysql is in PATH "
                       "(install mariadb-client); the database was not touched");
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return h->fail(c, errno == ENOENT ? NEXO_ENOTFOUND : NEXO_EIO, "restore: %s: %s; "
                       "the database was not touched", path, strerror(errno));
    int rc = check_dump(h, c, fd, path);
    int touched = 0;
    if (!rc) {
        touched = 1;
        rc = drop_all(h, c, m);
    }
    if (!rc)
        rc = load_dump(h, c, m, tool, fd);
    close(fd);
    if (rc && touched)
        h->log(c, NEXO_LOG_ERROR, "restore of database %s from %s did not complete; the "
               "database may be partly restored: run the restore again", m->name, path);
    else if (!rc)
        h->log(c, NEXO_LOG_INFO, "database %s restored from %s", m->name, path);
    return rc;
}

/* --------------------------------------------------------------- render */

static int op_fail(const struct nexo_host *h, nexo_ctx *c, const struct nexo_op *op, int code,
                   const char *fmt, ...) NEXO_FORMAT(5, 6);

static int op_fail(const struct nexo_host *h, nexo_ctx *c, const struct nexo_op *op, int code,
                   const char *fmt, ...)
{
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return h->fail(c, code, "%s:%d: %s", op->file ? op->file : "?", op->line, msg);
}

static const char *const type_names[] = {
    [NEXO_T_TINYINT] = "TINYINT", [NEXO_T_SMALLINT] = "SMALLINT", [NEXO_T_INT] = "INT",
    [NEXO_T_BIGINT] = "BIGINT", [NEXO_T_DECIMAL] = "DECIMAL", [NEXO_T_FLOAT] = "FLOAT",
    [NEXO_T_DOUBLE] = "DOUBLE", [NEXO_T_BOOLEAN] = "TINYINT(1)", [NEXO_T_CHAR] = "CHAR",
    [NEXO_T_VARCHAR] = "VARCHAR", [NEXO_T_TEXT] = "TEXT", [NEXO_T_MEDIUMTEXT] = "MEDIUMTEXT",
    [NEXO_T_LONGTEXT] = "LONGTEXT", [NEXO_T_BLOB] = "BLOB", [NEXO_T_DATE] = "DATE",
    [NEXO_T_DATETIME] = "DATETIME", [NEXO_T_TIMESTAMP] = "TIMESTAMP", [NEXO_T_JSON] = "JSON",
};

static int is_numeric(enum nexo_coltype t)
{
    return t >= NEXO_T_TINYINT && t <= NEXO_T_BOOLEAN;
}

static int is_textual(enum nexo_coltype t)
{
    return t == NEXO_T_CHAR || t == NEXO_T_VARCHAR || t == NEXO_T_TEXT ||
           t == NEXO_T_MEDIUMTEXT || t == NEXO_T_LONGTEXT;
}

static int is_datetime(enum nexo_coltype t)
{
    return t == NEXO_T_DATETIME || t == NEXO_T_TIMESTAMP;
}

/* Takes "(length)": display widths of the integer types, CHAR, VARCHAR,
 * TEXT (MariaDB picks the smallest TEXT type that holds it) and BLOB. */
static int takes_length(enum nexo_coltype t)
{
    return (t >= NEXO_T_TINYINT && t <= NEXO_T_BIGINT) || t == NEXO_T_CHAR ||
           t == NEXO_T_VARCHAR || t == NEXO_T_TEXT || t == NEXO_T_BLOB;
}

static void length_pair(struct sb *b, unsigned a, unsigned s)
{
    sb_add(b, "(");
    sb_uint(b, a);
    sb_add(b, ",");
    sb_uint(b, s);
    sb_add(b, ")");
}

/* MySQL-style types are native. BOOLEAN is TINYINT(1); JSON is MariaDB's
 * alias of LONGTEXT with a JSON_VALID check; DECIMAL(p,s); FLOAT/DOUBLE
 * (M,D) when a length is given; DATETIME/TIMESTAMP(n) fractional seconds
 * up to 6; UNSIGNED on numeric types. */
static int render_type(const struct nexo_host *h, nexo_ctx *c, const struct nexo_op *op,
                       const struct nexo_column *col, struct sb *b)
{
    enum nexo_coltype t = col->type;
    if (t < NEXO_T_TINYINT || t > NEXO_T_JSON)
        return op_fail(h, c, op, NEXO_EINVAL, "column %s: unknown type %d", col->name, (int)t);
    if ((t == NEXO_T_CHAR || t == NEXO_T_VARCHAR) && !col->length)
        return op_fail(h, c, op, NEXO_EINVAL, "column %s: %s needs a length", col->name,
                       type_names[t]);
    if (is_datetime(t) && col->length > 6)
        return op_fail(h, c, op, NEXO_EINVAL, "column %s: %s fractional seconds %u > 6",
                       col->name, type_names[t], col->length);
    sb_add(b, type_names[t]);
    if (t == NEXO_T_DECIMAL && (col->length || col->scale))
        length_pair(b, col->length ? col->length : 10, col->scale);
    else if ((t == NEXO_T_FLOAT || t == NEXO_T_DOUBLE) && col->length)
        length_pair(b, col->length, col->scale);
    else if ((takes_length(t) || is_datetime(t)) && col->length) {
        sb_add(b, "(");
        sb_uint(b, col->length);
        sb_add(b, ")");
    }
    if (col->is_unsigned && is_numeric(t) && t != NEXO_T_BOOLEAN)
        sb_add(b, " UNSIGNED");
    return 0;
}

static int is_number(const char *s)
{
    const char *p = s + (*s == '-' || *s == '+');
    size_t digits = strspn(p, "0123456789");
    p += digits;
    if (*p == '.') {
        size_t frac = strspn(p + 1, "0123456789");
        digits += frac;
        p += 1 + frac;
    }
    if (digits && (*p == 'e' || *p == 'E')) {
        const char *q = p + 1 + (p[1] == '-' || p[1] == '+');
        size_t ex = strspn(q, "0123456789");
        p = ex ? q + ex : p;
    }
    return digits > 0 && *p == '\0';
}

static int is_now(const char *s)
{
    return strcasecmp(s, "CURRENT_TIMESTAMP") == 0 || strcasecmp(s, "CURRENT_TIMESTAMP()") == 0 ||
           strcasecmp(s, "NOW()") == 0;
}

/* DEFAULT as written in the file: NULL and CURRENT_TIMESTAMP (also
 * CURRENT_TIMESTAMP() and NOW()) as keywords, true/false as 1/0 on
 * BOOLEAN, numbers as they are on numeric types, everything else as a
 * quoted literal ('' doubled, backslashes escaped). A nullable TIMESTAMP
 * without a default gets DEFAULT NULL. */
static void default_clause(const struct nexo_column *col, int nullable, struct sb *b)
{
    const char *d = col->default_value;
    if (!d) {
        if (nullable && col->type == NEXO_T_TIMESTAMP)
            sb_add(b, " DEFAULT NULL");
        return;
    }
    sb_add(b, " DEFAULT ");
    if (strcasecmp(d, "NULL") == 0) {
        sb_add(b, "NULL");
    } else if (is_now(d)) {
        sb_add(b, "CURRENT_TIMESTAMP");
        if (is_datetime(col->type) && col->length) {
            sb_add(b, "(");
            sb_uint(b, col->length);
            sb_add(b, ")");
        }
    } else if (col->type == NEXO_T_BOOLEAN &&
               (strcasecmp(d, "true") == 0 || strcasecmp(d, "false") == 0)) {
        sb_add(b, strcasecmp(d, "true") == 0 ? "1" : "0");
    } else if (is_numeric(col->type) && is_number(d)) {
        sb_add(b, d);
    } else {
        sb_literal(b, d);
    }
}

/* `name` TYPE NULL|NOT NULL [DEFAULT ...] [AUTO_INCREMENT] */
static int column_def(const struct nexo_host *h, nexo_ctx *c, const struct nexo_op *op,
                      const struct nexo_column *col, struct sb *b)
{
    sb_ident(b, col->name);
    sb_add(b, " ");
    int rc = render_type(h, c, op, col, b);
    if (rc)
        return rc;
    int nullable = col->nullable && !col->primary;
    sb_add(b, nullable ? " NULL" : " NOT NULL");
    default_clause(col, nullable, b);
    if (col->autoincrement)
        sb_add(b, " AUTO_INCREMENT");
    return 0;
}

static void ident_list(struct sb *b, const char *const *names, size_t n)
{
    sb_add(b, "(");
    for (size_t i = 0; i < n; i++) {
        if (i)
            sb_add(b, ", ");
        sb_ident(b, names[i]);
    }
    sb_add(b, ")");
}

static int index_check(const struct nexo_host *h, nexo_ctx *c, const struct nexo_op *op,
                       const struct nexo_index *ix)
{
    if (!ix->name || !ix->ncolumns || !ix->columns)
        return op_fail(h, c, op, NEXO_EINVAL, "index %s on %s without a name or columns",
                       ix->name ? ix->name : "?", op->table);
    return 0;
}

static const char *fk_action(const char *a)
{
    static const char *const ok[] = { "CASCADE", "SET NULL", "RESTRICT", "NO ACTION" };
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++)
        if (strcasecmp(a, ok[i]) == 0)
            return ok[i];
    return NULL;
}

static int fk_clause(const struct nexo_host *h, nexo_ctx *c, const struct nexo_op *op,
                     const struct nexo_foreign_key *fk, struct sb *b)
{
    const char *acts[2] = { fk->on_delete, fk->on_update };
    const char *words[2] = { " ON DELETE ", " ON UPDATE " };
    if (!fk->column || !fk->ref_table || !fk->ref_column)
        return op_fail(h, c, op, NEXO_EINVAL, "foreign key on %s is incomplete", op->table);
    sb_add(b, "CONSTRAINT ");
    if (strlen(op->table) + strlen(fk->column) + 4 <= 64) { /* else MariaDB names it */
        char *name = nx_xasprintf("fk_%s_%s", op->table, fk->column);
        sb_ident(b, name);
        sb_add(b, " ");
        free(name);
    }
    sb_add(b, "FOREIGN KEY ");
    ident_list(b, &fk->column, 1);
    sb_add(b, " REFERENCES ");
    sb_ident(b, fk->ref_table);
    sb_add(b, " ");
    ident_list(b, &fk->ref_column, 1);
    for (int i = 0; i < 2; i++) {
        if (!acts[i])
            continue;
        const char *a = fk_action(acts[i]);
        if (!a)
            return op_fail(h, c, op, NEXO_EINVAL, "foreign key %s.%s: unknown action %s "
                           "(CASCADE, SET NULL, RESTRICT or NO ACTION)", op->table,
                           fk->column, acts[i]);
        sb_add(b, words[i]);
        sb_add(b, a);
    }
    return 0;
}

static void primary_key(const struct nexo_op *op, struct sb *b)
{
    int first = 1;
    for (size_t i = 0; i < op->ncolumns; i++) {
        if (!op->columns[i].primary)
            continue;
        sb_add(b, first ? ",\n  PRIMARY KEY (" : ", ");
        sb_ident(b, op->columns[i].name);
        first = 0;
    }
    if (!first)
        sb_add(b, ")");
}

static int table_parts(const struct nexo_host *h, nexo_ctx *c, const struct nexo_op *op,
                       struct sb *b)
{
    int rc = 0;
    for (size_t i = 0; i < op->ncolumns && !rc; i++) {
        sb_add(b, i ? ",\n  " : "\n  ");
        rc = column_def(h, c, op, &op->columns[i], b);
    }
    if (!rc)
        primary_key(op, b);
    for (size_t i = 0; i < op->nindexes && !rc; i++) {
        const struct nexo_index *ix = &op->indexes[i];
        rc = index_check(h, c, op, ix);
        sb_add(b, ix->unique ? ",\n  UNIQUE KEY " : ",\n  KEY ");
        sb_ident(b, ix->name ? ix->name : "");
        sb_add(b, " ");
        ident_list(b, ix->columns, ix->ncolumns);
    }
    for (size_t i = 0; i < op->nfkeys && !rc; i++) {
        sb_add(b, ",\n  ");
        rc = fk_clause(h, c, op, &op->fkeys[i], b);
    }
    return rc;
}

static int render_create(const struct nexo_host *h, nexo_ctx *c, const struct nexo_op *op,
                         struct sb *b)
{
    if (!op->ncolumns || !op->columns)
        return op_fail(h, c, op, NEXO_EINVAL, "create_table %s without columns", op->table);
    sb_add(b, "CREATE TABLE ");
    sb_ident(b, op->table);
    sb_add(b, " (");
    int rc = table_parts(h, c, op, b);
    sb_add(b, "\n) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4");
    return rc;
}

static int need_column(const struct nexo_host *h, nexo_ctx *c, const struct nexo_op *op)
{
    if (!op->ncolumns || !op->columns || !op->columns[0].name)
        return op_fail(h, c, op, NEXO_EINVAL, "no column given for table %s", op->table);
    return 0;
}

static int render_add_column(const struct nexo_host *h, nexo_ctx *c, const struct nexo_op *op,
                             struct sb *b)
{
    int rc = need_column(h, c, op);
    if (rc)
        return rc;
    const struct nexo_column *col = &op->columns[0];
    sb_add(b, "ALTER TABLE ");
    sb_ident(b, op->table);
    sb_add(b, " ADD COLUMN ");
    rc = column_def(h, c, op, col, b);
    if (col->primary)
        sb_add(b, " PRIMARY KEY");
    if (col->after) {
        sb_add(b, " AFTER ");
        sb_ident(b, col->after);
    }
    return rc;
}

/* What MODIFY COLUMN would otherwise reset: the column as it is now. */
struct curcol {
    int found;
    int nullable;
    char *def;          /* COLUMN_DEFAULT: SQL text (MariaDB 10.2.7+); NULL none */
    char *extra;
    char *comment;
    char *collation;
};

static int take_curcol(void *arg, int n, const char *const *names, const char *const *v)
{
    struct curcol *cc = arg;
    (void)names;
    if (n < 5 || cc->found++)
        return 0;
    cc->nullable = v[0] && strcmp(v[0], "YES") == 0;
    cc->def = v[1] ? nx_xstrdup(v[1]) : NULL;
    cc->extra = nx_xstrdup(v[2] ? v[2] : "");
    cc->comment = nx_xstrdup(v[3] ? v[3] : "");
    cc->collation = v[4] ? nx_xstrdup(v[4]) : NULL;
    return 0;
}

static void curcol_free(struct curcol *cc)
{
    free(cc->def);
    free(cc->extra);
    free(cc->comment);
    free(cc->collation);
}

static int read_column(const struct nexo_host *h, nexo_ctx *c, void *conn,
                       const struct nexo_op *op, struct curcol *cc)
{
    const char *p[2] = { op->table, op->columns[0].name };
    int rc = run_sql(h, c, conn, "SELECT IS_NULLABLE, COLUMN_DEFAULT, EXTRA, COLUMN_COMMENT, "
                     "COLLATION_NAME FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = "
                     "DATABASE() AND TABLE_NAME = ? AND COLUMN_NAME = ?", 2, p, take_curcol, cc);
    if (rc)
        return rc;
    if (!cc->found)
        return op_fail(h, c, op, NEXO_ENOTFOUND, "modify_column: %s.%s does not exist",
                       op->table, p[1]);
    if (strcasestr(cc->extra, "GENERATED"))
        return op_fail(h, c, op, NEXO_ENOTSUP, "modify_column: %s.%s is a generated column",
                       op->table, p[1]);
    return 0;
}

/* The kept parts: DEFAULT (not a NULL default on a NOT NULL column),
 * AUTO_INCREMENT, ON UPDATE ..., the collation of a text column, COMMENT. */
static void kept_parts(const struct nexo_op *op, const struct curcol *cc, int nullable,
                       struct sb *b)
{
    const struct nexo_column *col = &op->columns[0];
    if (op->modify_default)
        default_clause(col, nullable, b);
    else if (cc->def && (nullable || strcasecmp(cc->def, "NULL") != 0)) {
        sb_add(b, " DEFAULT ");
        sb_add(b, cc->def);
    } else if (nullable && col->type == NEXO_T_TIMESTAMP)
        sb_add(b, " DEFAULT NULL");
    if (col->autoincrement || strcasestr(cc->extra, "auto_increment"))
        sb_add(b, " AUTO_INCREMENT");
    const char *on = strcasestr(cc->extra, "on update ");
    if (on) {
        sb_add(b, " ");
        sb_put(b, on, 10 + strcspn(on + 10, " "));
    }
    if (cc->collation && is_textual(col->type) &&
        strspn(cc->collation, "abcdefghijklmnopqrstuvwxyz0123456789_") == strlen(cc->collation)) {
        sb_add(b, " COLLATE ");
        sb_add(b, cc->collation);
    }
    if (*cc->comment) {
        sb_add(b, " COMMENT ");
        sb_literal(b, cc->comment);
    }
}

/* MODIFY COLUMN resets what it does not repeat: NULL/DEFAULT come from the
 * column as it is unless modify_null/modify_default say otherwise. */
static int render_modify(const struct nexo_host *h, nexo_ctx *c, void *conn,
                         const struct nexo_op *op, struct sb *b)
{
    int rc = need_column(h, c, op);
    if (rc)
        return rc;
    if (!conn)
        return op_fail(h, c, op, NEXO_EINVAL, "modify_column %s.%s needs the database "
                       "connection to keep the column's NULL and DEFAULT", op->table,
                       op->columns[0].name);
    struct curcol cc = { 0 };
    rc = read_column(h, c, conn, op, &cc);
    const struct nexo_column *col = &op->columns[0];
    int nullable = op->modify_null ? col->nullable : cc.nullable;
    if (!rc) {
        sb_add(b, "ALTER TABLE ");
        sb_ident(b, op->table);
        sb_add(b, " MODIFY COLUMN ");
        sb_ident(b, col->name);
        sb_add(b, " ");
        rc = render_type(h, c, op, col, b);
    }
    if (!rc) {
        sb_add(b, nullable ? " NULL" : " NOT NULL");
        kept_parts(op, &cc, nullable, b);
    }
    curcol_free(&cc);
    return rc;
}

static int render_simple(const struct nexo_host *h, nexo_ctx *c, const struct nexo_op *op,
                         struct sb *b)
{
    switch (op->kind) {
    case NEXO_OP_DROP_TABLE:
        sb_add(b, "DROP TABLE IF EXISTS ");
        sb_ident(b, op->table);
        return 0;
    case NEXO_OP_DROP_COLUMN:
        if (!op->column)
            return op_fail(h, c, op, NEXO_EINVAL, "drop_column on %s without a column",
                           op->table);
        sb_add(b, "ALTER TABLE ");
        sb_ident(b, op->table);
        sb_add(b, " DROP COLUMN ");
        sb_ident(b, op->column);
        return 0;
    case NEXO_OP_ADD_INDEX:
        if (!op->nindexes || !op->indexes)
            return op_fail(h, c, op, NEXO_EINVAL, "add_index on %s without an index",
                           op->table);
        if (index_check(h, c, op, &op->indexes[0]))
            return NEXO_EINVAL;
        sb_add(b, op->indexes[0].unique ? "CREATE UNIQUE INDEX " : "CREATE INDEX ");
        sb_ident(b, op->indexes[0].name);
        sb_add(b, " ON ");
        sb_ident(b, op->table);
        sb_add(b, " ");
        ident_list(b, op->indexes[0].columns, op->indexes[0].ncolumns);
        return 0;
    default:
        return op_fail(h, c, op, NEXO_EINVAL, "unknown operation %d", (int)op->kind);
    }
}

static int render_data(const struct nexo_host *h, nexo_ctx *c, const struct nexo_op *op,
                       struct sb *b)
{
    if (op->kind == NEXO_OP_UPDATE && (!op->set_sql || !*op->set_sql))
        return op_fail(h, c, op, NEXO_EINVAL, "update of %s without set", op->table);
    sb_add(b, op->kind == NEXO_OP_UPDATE ? "UPDATE " : "DELETE FROM ");
    sb_ident(b, op->table);
    if (op->kind == NEXO_OP_UPDATE) {
        sb_add(b, " SET ");
        sb_add(b, op->set_sql);
    }
    if (op->where_sql && *op->where_sql) {
        sb_add(b, " WHERE ");
        sb_add(b, op->where_sql);
    }
    return 0;
}

static int render_one(const struct nexo_host *h, nexo_ctx *c, void *conn,
                      const struct nexo_op *op, struct sb *b)
{
    switch (op->kind) {
    case NEXO_OP_CREATE_TABLE:
        return render_create(h, c, op, b);
    case NEXO_OP_ADD_COLUMN:
        return render_add_column(h, c, op, b);
    case NEXO_OP_MODIFY_COLUMN:
        return render_modify(h, c, conn, op, b);
    case NEXO_OP_UPDATE:
    case NEXO_OP_DELETE:
        return render_data(h, c, op, b);
    default:
        return render_simple(h, c, op, b);
    }
}

/* "1" for "true", "0" for "false" (any case, white space around ignored);
 * NULL for anything else. */
static const char *bool_digit(const char *v)
{
    if (!v)
        return NULL;
    while (isspace((unsigned char)*v))
        v++;
    size_t n = strlen(v);
    while (n && isspace((unsigned char)v[n - 1]))
        n--;
    if (n == 4 && strncasecmp(v, "true", 4) == 0)
        return "1";
    if (n == 5 && strncasecmp(v, "false", 5) == 0)
        return "0";
    return NULL;
}

/* Row function: marks the insert's columns named in the first column. */
struct boolcols {
    const struct nexo_op *op;
    unsigned char *isbool;  /* one per op->names */
};

static int mark_bool(void *arg, int n, const char *const *names, const char *const *values)
{
    struct boolcols *bc = arg;
    (void)names;
    for (size_t i = 0; n > 0 && values[0] && i < bc->op->nnames; i++)
        if (strcasecmp(bc->op->names[i], values[0]) == 0)
            bc->isbool[i] = 1;
    return 0;
}

/* Which of the insert's columns are BOOLEAN, i.e. TINYINT(1) (what
 * render_type makes of it; MariaDB has no other trace of BOOLEAN): one
 * information_schema query, and only with a connection and a value that
 * would change. Without a connection (a dry run) values stay as written. */
static int bool_columns(const struct nexo_host *h, nexo_ctx *c, void *conn,
                        const struct nexo_op *op, unsigned char *isbool)
{
    int any = 0;
    for (size_t i = 0; !any && i < op->nrows * op->nnames; i++)
        any = bool_digit(op->values[i]) != NULL;
    if (!conn || !any)
        return 0;
    struct boolcols bc = { op, isbool };
    const char *p[1] = { op->table };
    return run_sql(h, c, conn, "SELECT COLUMN_NAME FROM information_schema.COLUMNS WHERE "
                   "TABLE_SCHEMA = DATABASE() AND TABLE_NAME = ? AND "
                   "COLUMN_TYPE = 'tinyint(1)'", 1, p, mark_bool, &bc);
}

/* One INSERT ... VALUES (?, ...) per row; "true"/"false" as "1"/"0" in
 * BOOLEAN columns (bool_columns), every other value as written. */
static int render_insert(const struct nexo_host *h, nexo_ctx *c, void *conn,
                         const struct nexo_op *op, struct nexo_stmt **out, size_t *nout)
{
    if (!op->nnames || !op->names || (op->nrows && !op->values))
        return op_fail(h, c, op, NEXO_EINVAL, "insert into %s without columns", op->table);
    unsigned char *isbool = nx_xcalloc(op->nnames, 1);
    int rc = bool_columns(h, c, conn, op, isbool);
    if (rc) {
        free(isbool);
        return rc;
    }
    struct sb b = { 0 };
    sb_add(&b, "INSERT INTO ");
    sb_ident(&b, op->table);
    sb_add(&b, " ");
    ident_list(&b, op->names, op->nnames);
    sb_add(&b, " VALUES (");
    for (size_t i = 0; i < op->nnames; i++)
        sb_add(&b, i ? ", ?" : "?");
    sb_add(&b, ")");
    struct nexo_stmt *s = op->nrows ? nx_xcalloc(op->nrows, sizeof *s) : NULL;
    for (size_t r = 0; r < op->nrows; r++) {
        s[r].sql = nx_xstrdup(b.p);
        s[r].nparams = (int)op->nnames;
        s[r].params = nx_xcalloc(op->nnames, sizeof *s[r].params);
        for (size_t i = 0; i < op->nnames; i++) {
            const char *v = op->values[r * op->nnames + i];
            const char *d = isbool[i] ? bool_digit(v) : NULL;
            s[r].params[i] = d ? nx_xstrdup(d) : v ? nx_xstrdup(v) : NULL;
        }
    }
    free(isbool);
    free(b.p);
    *out = s;
    *nout = op->nrows;
    return 0;
}

static int my_render(const struct nexo_host *h, nexo_ctx *c, void *conn,
                     const struct nexo_op *op, struct nexo_stmt **out, size_t *nout)
{
    *out = NULL;
    *nout = 0;
    if (!op)
        return h->fail(c, NEXO_EINVAL, "render: no operation");
    if (!op->table || !*op->table)
        return op_fail(h, c, op, NEXO_EINVAL, "operation %d without a table", (int)op->kind);
    if (op->kind == NEXO_OP_INSERT)
        return render_insert(h, c, conn, op, out, nout);
    struct sb b = { 0 };
    int rc = render_one(h, c, conn, op, &b);
    if (rc) {
        free(b.p);
        return rc;
    }
    *out = nx_xcalloc(1, sizeof **out);
    (*out)->sql = b.p;
    *nout = 1;
    return 0;
}

static void my_free_stmts(struct nexo_stmt *stmts, size_t n)
{
    for (size_t i = 0; stmts && i < n; i++) {
        for (int k = 0; k < stmts[i].nparams && stmts[i].params; k++)
            free(stmts[i].params[k]);
        free(stmts[i].params);
        free(stmts[i].sql);
    }
    free(stmts);
}

NEXO_DRIVER_MODULE = {
    NEXO_DRIVER_HEADER,
    .name = "mariadb",
    .version = "1.0.0",
    .summary = "MariaDB 10.3+ through MariaDB Connector/C; backups with mariadb-dump",
    .flags = 0, /* DDL commits implicitly */
    .connect = my_connect,
    .disconnect = my_disconnect,
    .server_version = my_server_version,
    .exec = my_exec,
    .query = my_query,
    .begin = my_begin,
    .commit = my_commit,
    .rollback = my_rollback,
    .quote_ident = my_quote_ident,
    .exists = my_exists,
    .lock = my_lock,
    .unlock = my_unlock,
    .backup = my_backup,
    .restore = my_restore,
    .render = my_render,
    .free_stmts = my_free_stmts,
    .dialect = "mariadb",
    .scratch = my_scratch,
};
