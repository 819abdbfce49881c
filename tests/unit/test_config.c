/* Unit tests for core/config.c and core/inifile.c (Check). */
#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "buildconf.h"
#include "config.h"
#include "defaults.h"
#include "testutil.h"
#include "util.h"

#define N_ELEMS(a) (sizeof(a) / sizeof((a)[0]))

/* ---- helpers ----------------------------------------------------------- */


static nx_config *load_text(const char *text, char **path_out)
{
    char *path = tu_write("nexo-update.ini", text);
    nx_err e = {{0}};
    nx_config *c = nx_config_load(path, &e);
    ck_assert_msg(c != NULL, "load failed: %s", e.msg);
    if (path_out)
        *path_out = path;
    else
        free(path);
    return c;
}

/* Load `text` expecting failure; the error must carry "<file>:<line>: "
 * and every needle (NULL-terminated list). */
static void expect_error_at(const char *text, int line, const char *const *needles)
{
    char *path = tu_write("nexo-update.ini", text);
    nx_err e = {{0}};
    nx_config *c = nx_config_load(path, &e);
    ck_assert_msg(c == NULL, "loaded although it should fail:\n%s", text);
    char where[256];
    snprintf(where, sizeof where, "%s:%d: ", path, line);
    ck_assert_msg(strstr(e.msg, where) != NULL, "'%s' lacks '%s'", e.msg, where);
    for (const char *const *n = needles; *n; n++)
        ck_assert_msg(strstr(e.msg, *n) != NULL, "'%s' lacks '%s'", e.msg, *n);
    ck_assert_msg(strchr(e.msg, '\n') == NULL, "message spans lines: '%s'", e.msg);
    free(path);
}

static void assert_get(const nx_config *c, const char *sec, const char *key, const char *want)
{
    const char *got = nx_config_get(c, sec, key);
    if (!want) {
        ck_assert_msg(got == NULL, "[%s] %s: expected unset, got '%s'", sec, key, got);
        return;
    }
    ck_assert_msg(got != NULL, "[%s] %s: expected '%s', got NULL", sec, key, want);
    ck_assert_msg(strcmp(got, want) == 0, "[%s] %s: expected '%s', got '%s'", sec, key, want,
                  got);
}

static char *in_dir(const char *rel)
{
    return nx_path_join(tu_dir, rel);
}

/* ---- loading ------------------------------------------------------------ */

START_TEST(test_defaults)
{
    char *path = NULL;
    nx_config *c = load_text("[site]\nroot = /var/www/site\n", &path);
    ck_assert_str_eq(nx_config_file(c), path);
    assert_get(c, "site", "root", "/var/www/site");
    assert_get(c, "site", "managed", "core public_html resources database");
    assert_get(c, "site", "preserve", ".env var modules/plugins");
    assert_get(c, "database", "host", "127.0.0.1");
    assert_get(c, "database", "driver", NULL);
    assert_get(c, "database", "port", NULL);
    assert_get(c, "database", "password_file", NULL);
    assert_get(c, "server", "timeout", "30");
    assert_get(c, "server", "allow_http", "false");
    assert_get(c, "server", "url", NULL);
    assert_get(c, "server", "api_key", NULL);
    nx_defaults d;
    nx_defaults_init(&d);
    assert_get(c, "paths", "state", d.state);
    assert_get(c, "paths", "backups", d.backups);
    assert_get(c, "paths", "modules", d.modules);
    assert_get(c, "paths", "pipelines", d.pipelines);
    assert_get(c, "backup", "keep", "5");
    assert_get(c, "backup", "keep_days", "30");
    assert_get(c, "notify", "smtp_url", "smtp://127.0.0.1:25");
    assert_get(c, "notify", "from", "nexo-update@localhost");
    assert_get(c, "notify", "email", NULL);
    assert_get(c, "auto", "apply", "none");
    assert_get(c, "server", "channel", "stable");
    assert_get(c, "php", "binary", "php");
    assert_get(c, "php", "check", "on");
    /* Keys the host does not know. */
    assert_get(c, "site", "nonsense", NULL);
    assert_get(c, "nosuchsection", "root", NULL);
    nx_config_free(c);
    free(path);
}
END_TEST

START_TEST(test_empty_file_all_defaults)
{
    nx_config *c = load_text("", NULL);
    assert_get(c, "server", "timeout", "30");
    assert_get(c, "auto", "apply", "none");
    assert_get(c, "site", "root", NULL);
    nx_config_free(c);
}
END_TEST

START_TEST(test_values_set_override_defaults)
{
    nx_config *c = load_text("[server]\n"
                             "url = https://updates.example.com/api\n"
                             "timeout = 0\n"
                             "allow_http = yes\n"
                             "[backup]\n"
                             "keep = 12\n"
                             "[database]\n"
                             "driver = sqlite\n"
                             "port = 5432\n"
                             "[auto]\n"
                             "apply = minor\n"
                             "window = 02:00-04:00\n",
                             NULL);
    assert_get(c, "server", "url", "https://updates.example.com/api");
    assert_get(c, "server", "timeout", "0");
    assert_get(c, "server", "allow_http", "yes");
    assert_get(c, "backup", "keep", "12");
    assert_get(c, "backup", "keep_days", "30");
    assert_get(c, "database", "driver", "sqlite");
    assert_get(c, "database", "port", "5432");
    assert_get(c, "auto", "apply", "minor");
    assert_get(c, "auto", "window", "02:00-04:00");
    nx_config_free(c);
}
END_TEST

START_TEST(test_every_boolean_and_choice_accepted)
{
    static const char *const bools[] = { "true", "false", "yes", "no", "1", "0" };
    static const char *const drivers[] = { "pgsql", "mariadb", "sqlite" };
    static const char *const applies[] = { "none", "patch", "minor" };
    for (size_t i = 0; i < N_ELEMS(bools); i++) {
        char *text = nx_xasprintf("[server]\nallow_http = %s\n", bools[i]);
        nx_config *c = load_text(text, NULL);
        assert_get(c, "server", "allow_http", bools[i]);
        nx_config_free(c);
        free(text);
    }
    for (size_t i = 0; i < N_ELEMS(drivers); i++) {
        char *text = nx_xasprintf("[database]\ndriver = %s\n[auto]\napply = %s\n", drivers[i],
                                  applies[i]);
        nx_config *c = load_text(text, NULL);
        assert_get(c, "database", "driver", drivers[i]);
        assert_get(c, "auto", "apply", applies[i]);
        nx_config_free(c);
        free(text);
    }
}
END_TEST

START_TEST(test_relative_paths_resolved)
{
    nx_config *c = load_text("[site]\n"
                             "root = site\n"
                             "[database]\n"
                             "password_file = secrets/db.password\n"
                             "path = /abs/site.db\n"
                             "[server]\n"
                             "url = relative/not/a/path\n"
                             "trusted_keys = keys\n"
                             "[paths]\n"
                             "state = ./state\n"
                             "modules = ../modules\n",
                             NULL);
    char *p;
    p = in_dir("site");
    assert_get(c, "site", "root", p);
    free(p);
    p = in_dir("secrets/db.password");
    assert_get(c, "database", "password_file", p);
    free(p);
    p = in_dir("keys");
    assert_get(c, "server", "trusted_keys", p);
    free(p);
    p = in_dir("./state");
    assert_get(c, "paths", "state", p);
    free(p);
    p = in_dir("../modules");
    assert_get(c, "paths", "modules", p);
    free(p);
    /* Absolute paths stay, other keys are no paths. */
    assert_get(c, "database", "path", "/abs/site.db");
    assert_get(c, "server", "url", "relative/not/a/path");
    nx_defaults d;
    nx_defaults_init(&d);
    assert_get(c, "paths", "backups", d.backups);
    nx_config_free(c);
}
END_TEST

/* A config file named relative to the working folder: its paths resolve
 * against the absolute folder, not against a relative one. */
START_TEST(test_relative_config_file_name)
{
    char *path = tu_write("nexo-update.ini", "[site]\nroot = www\n");
    char cwd[4096];
    ck_assert_ptr_nonnull(getcwd(cwd, sizeof cwd));
    ck_assert_int_eq(chdir(tu_dir), 0);
    nx_err e = {{0}};
    nx_config *c = nx_config_load("nexo-update.ini", &e);
    nx_config *c2 = nx_config_load("./nexo-update.ini", &e);
    int back = chdir(cwd);
    ck_assert_int_eq(back, 0);
    ck_assert_msg(c != NULL && c2 != NULL, "load failed: %s", e.msg);
    char *want = in_dir("www");
    assert_get(c, "site", "root", want);
    const char *root2 = nx_config_get(c2, "site", "root");
    ck_assert_ptr_nonnull(root2);
    ck_assert_msg(root2[0] == '/', "not absolute: %s", root2);
    ck_assert_msg(strncmp(root2, tu_dir, strlen(tu_dir)) == 0, "not under %s: %s", tu_dir, root2);
    ck_assert_str_eq(nx_config_file(c), "nexo-update.ini");
    free(want);
    free(path);
    nx_config_free(c);
    nx_config_free(c2);
}
END_TEST

START_TEST(test_shipped_config_loads)
{
    nx_err e = {{0}};
    /* the example, written for the configured prefix */
    nx_config *c = nx_config_load(NX_TEST_BINDIR "/conf/nexo-update.ini", &e);
    ck_assert_msg(c != NULL, "%s", e.msg);
    assert_get(c, "database", "driver", "sqlite");
    assert_get(c, "server", "api_key", "");
    assert_get(c, "notify", "email", "");
    assert_get(c, "auto", "apply", "none");
    assert_get(c, "site", "root", "/var/www/nexosupport");
    nx_config_free(c);
}
END_TEST

/* ---- errors with file:line ------------------------------------------- */

START_TEST(test_err_unknown_section)
{
    static const char *const n[] = { "unknown section [bogus]", NULL };
    expect_error_at("[site]\nroot = /x\n\n[bogus]\nkey = 1\n", 4, n);
}
END_TEST

START_TEST(test_err_unknown_section_empty)
{
    static const char *const n[] = { "unknown section [bogus]", NULL };
    /* A section without keys is reported at its header too. */
    expect_error_at("; comment\n[bogus]\n", 2, n);
}
END_TEST

START_TEST(test_err_unknown_key)
{
    static const char *const n[] = { "unknown key 'color'", "[server]", NULL };
    expect_error_at("[server]\nurl = https://x\n# hash comment\ncolor = blue\n", 4, n);
}
END_TEST

START_TEST(test_err_key_of_other_section)
{
    /* root belongs to [site], not to [paths]. */
    static const char *const n[] = { "unknown key 'root'", "[paths]", NULL };
    expect_error_at("[site]\nroot = /x\n[paths]\nroot = /y\n", 4, n);
}
END_TEST

START_TEST(test_err_duplicate_key)
{
    static const char *const n[] = { "keep", "[backup]", "first on line 2", NULL };
    expect_error_at("[backup]\nkeep = 3\n; comment\n\nkeep = 4\n", 5, n);
}
END_TEST

START_TEST(test_err_duplicate_key_across_sections)
{
    /* The same section opened twice still knows the first value. */
    static const char *const n[] = { "root", "first on line 2", NULL };
    expect_error_at("[site]\nroot = /a\n[server]\nurl = x\n[site]\nroot = /b\n", 6, n);
}
END_TEST

START_TEST(test_err_bad_integer)
{
    static const char *const bad[] = { "3x", "-1", "abc", "1.5", "99999999999999999999" };
    for (size_t i = 0; i < N_ELEMS(bad); i++) {
        char *text = nx_xasprintf("[site]\nroot = /x\n[server]\ntimeout = %s\n", bad[i]);
        char *quoted = nx_xasprintf("'%s'", bad[i]);
        const char *n[] = { "timeout", "[server]", quoted, "whole number", NULL };
        expect_error_at(text, 4, n);
        free(quoted);
        free(text);
    }
    static const char *const n2[] = { "keep_days", "[backup]", NULL };
    expect_error_at("[backup]\nkeep = 1\nkeep_days = ten\n", 3, n2);
}
END_TEST

START_TEST(test_err_empty_integer)
{
    static const char *const n[] = { "port", "[database]", NULL };
    expect_error_at("[database]\nport =\n", 2, n);
}
END_TEST

START_TEST(test_err_bad_boolean)
{
    static const char *const n[] = { "allow_http", "[server]", "'maybe'", "true or false",
                                     NULL };
    expect_error_at("[server]\nallow_http = maybe\n", 2, n);
    static const char *const n2[] = { "allow_http", "'TRUE'", NULL };
    expect_error_at("[server]\n\n\nallow_http = TRUE\n", 4, n2);
}
END_TEST

START_TEST(test_err_bad_choice)
{
    static const char *const n[] = { "driver", "[database]", "'oracle'", "pgsql|mariadb|sqlite",
                                     NULL };
    expect_error_at("[site]\nroot = /x\n[database]\ndriver = oracle\n", 4, n);
    static const char *const n2[] = { "apply", "[auto]", "'major'", "none|patch|minor", NULL };
    expect_error_at("[auto]\napply = major\n", 2, n2);
    /* A prefix of a choice is no choice. */
    static const char *const n3[] = { "driver", "'pg'", NULL };
    expect_error_at("[database]\ndriver = pg\n", 2, n3);
    static const char *const n4[] = { "[server] channel", "'nightly'", "stable|rc|beta|alpha",
                                      NULL };
    expect_error_at("[server]\nurl = https://x\nchannel = nightly\n", 3, n4);
    static const char *const n5[] = { "[php] check", "'maybe'", "on|off", NULL };
    expect_error_at("[php]\nbinary = /usr/bin/php8.2\ncheck = maybe\n", 3, n5);
}
END_TEST

START_TEST(test_channel_and_php_set)
{
    static const char *const channels[] = { "stable", "rc", "beta", "alpha" };
    for (size_t i = 0; i < N_ELEMS(channels); i++) {
        char *text = nx_xasprintf("[server]\nchannel = %s\n[php]\nbinary = /usr/bin/php8.2\n"
                                  "check = %s\n", channels[i], i % 2 ? "off" : "on");
        nx_config *c = load_text(text, NULL);
        assert_get(c, "server", "channel", channels[i]);
        assert_get(c, "php", "binary", "/usr/bin/php8.2");
        assert_get(c, "php", "check", i % 2 ? "off" : "on");
        nx_config_free(c);
        free(text);
    }
}
END_TEST

START_TEST(test_err_empty_path)
{
    static const char *const n[] = { "root", "empty path", NULL };
    expect_error_at("[site]\nroot =\n", 2, n);
}
END_TEST

START_TEST(test_err_syntax_no_equals)
{
    static const char *const n[] = { "syntax error", NULL };
    expect_error_at("[site]\nroot = /x\nthis line has no equals sign\n", 3, n);
}
END_TEST

START_TEST(test_err_section_without_bracket)
{
    static const char *const n[] = { "']'", NULL };
    expect_error_at("[site]\nroot = /x\n[server\nurl = y\n", 3, n);
}
END_TEST

START_TEST(test_err_line_after_long_line)
{
    /* Line numbers stay right after a line inih could not have held. */
    char *val = nx_xmalloc(1001);
    memset(val, 'v', 1000);
    val[1000] = '\0';
    char *text = nx_xasprintf("[notify]\nemail = %s\n\n[server]\nnope = 1\n", val);
    static const char *const n[] = { "unknown key 'nope'", NULL };
    expect_error_at(text, 5, n);
    free(text);
    free(val);
}
END_TEST

START_TEST(test_err_long_bad_value)
{
    /* A long line's value is validated like any other, at its line. */
    char *val = nx_xmalloc(401);
    memset(val, '7', 399);
    val[399] = 'x';
    val[400] = '\0';
    char *text = nx_xasprintf("[server]\n\ntimeout = %s\n", val);
    static const char *const n[] = { "timeout", "whole number", NULL };
    expect_error_at(text, 3, n);
    free(text);
    free(val);
}
END_TEST

START_TEST(test_err_missing_file)
{
    char *path = in_dir("does-not-exist.ini");
    nx_err e = {{0}};
    nx_config *c = nx_config_load(path, &e);
    ck_assert_ptr_null(c);
    ck_assert_msg(strstr(e.msg, path) != NULL, "'%s' lacks '%s'", e.msg, path);
    ck_assert_msg(strstr(e.msg, "No such file") != NULL, "'%s'", e.msg);
    free(path);
}
END_TEST

/* ---- inifile features ------------------------------------------------- */

START_TEST(test_long_value_intact)
{
    /* inih's own line buffer holds 200 bytes; values of any length must
     * arrive whole. Lengths around the boundary too. */
    static const size_t lens[] = { 150, 185, 186, 187, 188, 189, 190, 191, 192, 193, 194,
                                   195, 196, 197, 198, 199, 200, 201, 255, 256, 501, 4000,
                                   70000 };
    for (size_t i = 0; i < N_ELEMS(lens); i++) {
        size_t n = lens[i];
        char *val = nx_xmalloc(n + 1);
        for (size_t k = 0; k < n; k++)
            val[k] = (char)('a' + (k % 26));
        val[n] = '\0';
        char *text = nx_xasprintf("[site]\nroot = /x\n[notify]\nemail = %s\nfrom = after@x\n",
                                  val);
        nx_config *c = load_text(text, NULL);
        const char *got = nx_config_get(c, "notify", "email");
        ck_assert_ptr_nonnull(got);
        ck_assert_msg(strlen(got) == n, "length %zu: got %zu", n, strlen(got));
        ck_assert_msg(strcmp(got, val) == 0, "length %zu: value differs", n);
        assert_get(c, "notify", "from", "after@x");
        assert_get(c, "site", "root", "/x");
        nx_config_free(c);
        free(text);
        free(val);
    }
}
END_TEST

START_TEST(test_long_value_with_comment_and_spaces)
{
    char *val = nx_xmalloc(601);
    for (size_t k = 0; k < 600; k++)
        val[k] = (k % 10 == 9) ? ' ' : 'x';
    val[599] = 'y'; /* no trailing space */
    val[600] = '\0';
    char *text = nx_xasprintf("[notify]\nemail =    %s   ; trailing comment\n", val);
    nx_config *c = load_text(text, NULL);
    assert_get(c, "notify", "email", val);
    nx_config_free(c);
    free(text);
    free(val);
}
END_TEST

START_TEST(test_long_path_resolved)
{
    char *val = nx_xmalloc(521);
    memset(val, 'p', 520);
    val[0] = 'r';
    val[520] = '\0';
    char *text = nx_xasprintf("[site]\nroot = %s\n", val);
    nx_config *c = load_text(text, NULL);
    char *want = in_dir(val);
    assert_get(c, "site", "root", want);
    free(want);
    nx_config_free(c);
    free(text);
    free(val);
}
END_TEST

START_TEST(test_continuation_line)
{
    nx_config *c = load_text("[site]\n"
                             "root = /x\n"
                             "managed = core\n"
                             "   public_html\n"
                             "\tresources\n"
                             "preserve = .env\n"
                             "\n"
                             "[notify]\n"
                             "email = a@example.com\n"
                             "  b@example.com\n",
                             NULL);
    assert_get(c, "site", "managed", "core public_html resources");
    assert_get(c, "site", "preserve", ".env");
    assert_get(c, "notify", "email", "a@example.com b@example.com");
    nx_config_free(c);
}
END_TEST

START_TEST(test_continuation_keeps_line_numbers)
{
    static const char *const n[] = { "managed", "first on line 2", NULL };
    expect_error_at("[site]\nmanaged = core\n  public_html\n  resources\nmanaged = x\n", 5, n);
}
END_TEST

START_TEST(test_inline_comment_stripped)
{
    nx_config *c = load_text("; leading comment\n"
                             "# hash comment\n"
                             "[database]        ; section comment\n"
                             "driver = pgsql            ; pgsql | mariadb | sqlite\n"
                             "port = 5432\t; tab before\n"
                             "name = nexo;not-a-comment\n"
                             "[server]\n"
                             "url = https://u.example.com/a;b ; trailing\n"
                             "api_key =    ; empty value\n",
                             NULL);
    assert_get(c, "database", "driver", "pgsql");
    assert_get(c, "database", "port", "5432");
    assert_get(c, "database", "name", "nexo;not-a-comment");
    assert_get(c, "server", "url", "https://u.example.com/a;b");
    assert_get(c, "server", "api_key", "");
    nx_config_free(c);
}
END_TEST

START_TEST(test_crlf_and_bom)
{
    nx_config *c = load_text("\xEF\xBB\xBF[site]\r\nroot = /bom\r\n[server]\r\ntimeout = 7\r\n",
                             NULL);
    assert_get(c, "site", "root", "/bom");
    assert_get(c, "server", "timeout", "7");
    nx_config_free(c);
}
END_TEST

START_TEST(test_no_final_newline)
{
    nx_config *c = load_text("[server]\ntimeout = 42", NULL);
    assert_get(c, "server", "timeout", "42");
    nx_config_free(c);
}
END_TEST

START_TEST(test_control_char_refused)
{
    static const char *const n[] = { "control character", NULL };
    expect_error_at("[notify]\nemail = a\x1e"
                    "0\n",
                    2, n);
}
END_TEST

/* ---- snapshot --------------------------------------------------------- */

START_TEST(test_snapshot_omits_api_key)
{
    char *path = NULL;
    nx_config *c = load_text("[site]\nroot = /srv/site\n"
                             "[server]\nurl = https://u\napi_key = s3cr3t-K3Y\n",
                             &path);
    assert_get(c, "server", "api_key", "s3cr3t-K3Y");
    json_t *snap = nx_config_snapshot(c);
    ck_assert_ptr_nonnull(snap);
    ck_assert_str_eq(json_string_value(json_object_get(snap, "file")), path);
    json_t *vals = json_object_get(snap, "values");
    ck_assert(json_is_object(vals));
    ck_assert_ptr_null(json_object_get(vals, "server.api_key"));
    ck_assert_str_eq(json_string_value(json_object_get(vals, "server.url")), "https://u");
    ck_assert_str_eq(json_string_value(json_object_get(vals, "site.root")), "/srv/site");
    ck_assert_str_eq(json_string_value(json_object_get(vals, "server.timeout")), "30");
    /* Unset keys without default are absent. */
    ck_assert_ptr_null(json_object_get(vals, "database.port"));
    char *dump = json_dumps(snap, JSON_COMPACT);
    ck_assert_ptr_nonnull(dump);
    ck_assert_msg(strstr(dump, "s3cr3t") == NULL, "secret in snapshot: %s", dump);
    ck_assert_msg(strstr(dump, "api_key") == NULL, "api_key in snapshot: %s", dump);
    free(dump);
    json_decref(snap);
    nx_config_free(c);
    free(path);
}
END_TEST

START_TEST(test_snapshot_round_trip)
{
    static const char *const keys[][2] = {
        { "site", "root" },          { "site", "managed" },       { "site", "preserve" },
        { "database", "driver" },    { "database", "host" },      { "database", "port" },
        { "database", "name" },      { "database", "user" },      { "database", "password_file" },
        { "database", "path" },      { "server", "url" },         { "server", "timeout" },
        { "server", "trusted_keys" }, { "server", "allow_http" }, { "paths", "state" },
        { "paths", "backups" },      { "paths", "modules" },      { "paths", "pipelines" },
        { "backup", "keep" },        { "backup", "keep_days" },   { "notify", "email" },
        { "notify", "smtp_url" },    { "notify", "from" },        { "auto", "apply" },
        { "auto", "window" },
    };
    char *path = NULL;
    nx_config *c = load_text("[site]\nroot = www\nmanaged = core\n  database\n"
                             "[database]\ndriver = mariadb\nport = 3306\nname = nexo\n"
                             "password_file = db.pw\n"
                             "[server]\nurl = https://u\napi_key = hidden\ntimeout = 9\n"
                             "allow_http = 1\n"
                             "[paths]\nstate = st\n"
                             "[notify]\nemail = ops@example.com\n"
                             "[auto]\napply = patch\nwindow = 01:00-02:00\n",
                             &path);
    json_t *snap = nx_config_snapshot(c);
    /* Through text, as the journal stores it. */
    char *text = json_dumps(snap, JSON_COMPACT);
    json_decref(snap);
    json_error_t je;
    json_t *back = json_loads(text, 0, &je);
    ck_assert_msg(back != NULL, "%s", je.text);
    nx_err e = {{0}};
    nx_config *r = nx_config_from_json(back, &e);
    ck_assert_msg(r != NULL, "%s", e.msg);
    ck_assert_str_eq(nx_config_file(r), path);
    for (size_t i = 0; i < N_ELEMS(keys); i++)
        assert_get(r, keys[i][0], keys[i][1], nx_config_get(c, keys[i][0], keys[i][1]));
    assert_get(r, "server", "api_key", NULL);
    assert_get(r, "site", "managed", "core database");
    assert_get(r, "database", "port", "3306");
    assert_get(r, "database", "user", NULL);
    char *abs = in_dir("st");
    assert_get(r, "paths", "state", abs);
    free(abs);
    /* And a second snapshot of the rebuilt one is the same. */
    json_t *snap2 = nx_config_snapshot(r);
    ck_assert(json_equal(back, snap2));
    json_decref(snap2);
    json_decref(back);
    free(text);
    nx_config_free(r);
    nx_config_free(c);
    free(path);
}
END_TEST

START_TEST(test_from_json_malformed)
{
    static const char *const bad[] = {
        "{}",
        "{\"file\": \"/x.ini\"}",
        "{\"values\": {}}",
        "{\"file\": 3, \"values\": {}}",
        "{\"file\": \"/x.ini\", \"values\": []}",
        "[]",
    };
    for (size_t i = 0; i < N_ELEMS(bad); i++) {
        json_t *j = json_loads(bad[i], 0, NULL);
        ck_assert_ptr_nonnull(j);
        nx_err e = {{0}};
        nx_config *c = nx_config_from_json(j, &e);
        ck_assert_msg(c == NULL, "accepted %s", bad[i]);
        ck_assert_msg(strstr(e.msg, "malformed") != NULL, "%s: '%s'", bad[i], e.msg);
        json_decref(j);
    }
}
END_TEST

/* ---- regressions: bugs these tests found and that were fixed ---------- */

START_TEST(regress_indented_first_key_is_continuation)
{
    /* An indented key right after a section header is an ordinary key for
     * inih (nothing to continue), but the reader marks it cont=1. */
    nx_config *c = load_text("[site]\n  root = /x\n", NULL);
    assert_get(c, "site", "root", "/x");
    nx_config_free(c);
}
END_TEST

START_TEST(regress_continuation_not_validated)
{
    static const char *const n[] = { "timeout", NULL };
    expect_error_at("[server]\ntimeout = 30\n  abc\n", 3, n);
}
END_TEST

START_TEST(regress_long_comment_line)
{
    char *val = nx_xmalloc(301);
    memset(val, 'c', 300);
    val[300] = '\0';
    char *text = nx_xasprintf("[site]\n; %s\nroot = /x\n", val);
    nx_config *c = load_text(text, NULL);
    assert_get(c, "site", "root", "/x");
    nx_config_free(c);
    free(text);
    free(val);
}
END_TEST

START_TEST(regress_continuation_inline_comment)
{
    /* inih r55 keeps "; comment" on continuation lines; the reader strips
     * it on long lines only. */
    nx_config *c = load_text("[site]\nmanaged = core\n  resources ; a comment\n", NULL);
    assert_get(c, "site", "managed", "core resources");
    nx_config_free(c);
}
END_TEST

START_TEST(regress_section_name_with_spaces)
{
    /* The reader trims "[ site ]" to "site" for the header callback but
     * inih passes " site " with the keys. */
    nx_config *c = load_text("[ site ]\nroot = /x\n", NULL);
    assert_get(c, "site", "root", "/x");
    nx_config_free(c);
}
END_TEST

static Suite *config_suite(void)
{
    Suite *s = suite_create("config");
    TCase *tc = tcase_create("load");
    tcase_add_unchecked_fixture(tc, tu_base_setup, tu_base_teardown);
    tcase_add_checked_fixture(tc, tu_tmp_setup, tu_tmp_teardown);
    tcase_add_test(tc, test_defaults);
    tcase_add_test(tc, test_empty_file_all_defaults);
    tcase_add_test(tc, test_values_set_override_defaults);
    tcase_add_test(tc, test_every_boolean_and_choice_accepted);
    tcase_add_test(tc, test_relative_paths_resolved);
    tcase_add_test(tc, test_relative_config_file_name);
    tcase_add_test(tc, test_shipped_config_loads);
    suite_add_tcase(s, tc);

    tc = tcase_create("errors");
    tcase_add_unchecked_fixture(tc, tu_base_setup, tu_base_teardown);
    tcase_add_checked_fixture(tc, tu_tmp_setup, tu_tmp_teardown);
    tcase_add_test(tc, test_err_unknown_section);
    tcase_add_test(tc, test_err_unknown_section_empty);
    tcase_add_test(tc, test_err_unknown_key);
    tcase_add_test(tc, test_err_key_of_other_section);
    tcase_add_test(tc, test_err_duplicate_key);
    tcase_add_test(tc, test_err_duplicate_key_across_sections);
    tcase_add_test(tc, test_err_bad_integer);
    tcase_add_test(tc, test_err_empty_integer);
    tcase_add_test(tc, test_err_bad_boolean);
    tcase_add_test(tc, test_err_bad_choice);
    tcase_add_test(tc, test_channel_and_php_set);
    tcase_add_test(tc, test_err_empty_path);
    tcase_add_test(tc, test_err_syntax_no_equals);
    tcase_add_test(tc, test_err_section_without_bracket);
    tcase_add_test(tc, test_err_line_after_long_line);
    tcase_add_test(tc, test_err_long_bad_value);
    tcase_add_test(tc, test_err_missing_file);
    suite_add_tcase(s, tc);

    tc = tcase_create("inifile");
    tcase_add_unchecked_fixture(tc, tu_base_setup, tu_base_teardown);
    tcase_add_checked_fixture(tc, tu_tmp_setup, tu_tmp_teardown);
    tcase_add_test(tc, test_long_value_intact);
    tcase_add_test(tc, test_long_value_with_comment_and_spaces);
    tcase_add_test(tc, test_long_path_resolved);
    tcase_add_test(tc, test_continuation_line);
    tcase_add_test(tc, test_continuation_keeps_line_numbers);
    tcase_add_test(tc, test_inline_comment_stripped);
    tcase_add_test(tc, test_crlf_and_bom);
    tcase_add_test(tc, test_no_final_newline);
    tcase_add_test(tc, test_control_char_refused);
    suite_add_tcase(s, tc);

    tc = tcase_create("snapshot");
    tcase_add_unchecked_fixture(tc, tu_base_setup, tu_base_teardown);
    tcase_add_checked_fixture(tc, tu_tmp_setup, tu_tmp_teardown);
    tcase_add_test(tc, test_snapshot_omits_api_key);
    tcase_add_test(tc, test_snapshot_round_trip);
    tcase_add_test(tc, test_from_json_malformed);
    suite_add_tcase(s, tc);

    {
        tc = tcase_create("regressions");
        tcase_add_unchecked_fixture(tc, tu_base_setup, tu_base_teardown);
    tcase_add_checked_fixture(tc, tu_tmp_setup, tu_tmp_teardown);
        tcase_add_test(tc, regress_indented_first_key_is_continuation);
        tcase_add_test(tc, regress_continuation_not_validated);
        tcase_add_test(tc, regress_long_comment_line);
        tcase_add_test(tc, regress_continuation_inline_comment);
        tcase_add_test(tc, regress_section_name_with_spaces);
        suite_add_tcase(s, tc);
    }
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(config_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed != 0 ? EXIT_FAILURE : EXIT_SUCCESS;
}
