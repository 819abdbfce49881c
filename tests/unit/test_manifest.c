/* Unit tests for core/manifest.c (Check). */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "manifest.h"
#include "util.h"

#define NAME "core-1.1.0.tar.zst:nexo-release.json"
#define SHA_A "a665a45920422f9d417e4867efdc4fb8a04a1f3fff1fa07e998e86f7f7a27ae3"
#define SHA_B_UPPER "2C26B46B68FFC68FF99B453C1D30413413422D706483BFA0F98A5E886266E7AE"
#define SHA_B "2c26b46b68ffc68ff99b453c1d30413413422d706483bfa0f98a5e886266e7ae"
#define SHA_E "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"

/* A valid manifest (entries deliberately unsorted). */
static const char base_text[] =
    "{\n"
    "  \"format\": 1,\n"
    "  \"component\": \"core\",\n"
    "  \"version\": \"1.1.0\", \"version_code\": 1001000,\n"
    "  \"release_date\": \"2026-11-25\", \"branch\": \"stable\", \"build\": \"20261125\",\n"
    "  \"requires\": { \"php\": \">=8.1.0\", \"nexosupport\": \">=1.0.0\" },\n"
    "  \"compatibility\": { \"plugins\": { \"forum\": \">=2.0.0\" } },\n"
    "  \"x-future\": { \"anything\": [1, 2, 3] },\n"
    "  \"files\": [\n"
    "    { \"path\": \"core/version.php\", \"type\": \"file\", \"size\": 123,\n"
    "      \"mode\": \"0644\", \"sha256\": \"" SHA_A "\" },\n"
    "    { \"path\": \"public_html/assets\", \"type\": \"dir\", \"mode\": \"0755\" },\n"
    "    { \"path\": \"public_html/latest\", \"type\": \"symlink\", \"target\": \"v2\" },\n"
    "    { \"path\": \"public_html/assets/app.js\", \"type\": \"file\", \"size\": 77,\n"
    "      \"mode\": \"0640\", \"sha256\": \"" SHA_B_UPPER "\" },\n"
    "    { \"path\": \"core\", \"type\": \"dir\", \"mode\": \"755\" },\n"
    "    { \"path\": \"bin/run\", \"type\": \"file\", \"size\": 0, \"mode\": \"0755\",\n"
    "      \"sha256\": \"" SHA_E "\" },\n"
    "    { \"path\": \"public_html/assets/up\", \"type\": \"symlink\", \"target\": \"../latest/\" }\n"
    "  ],\n"
    "  \"total_size\": 200\n"
    "}\n";

/* ---- helpers ------------------------------------------------------------ */

static json_t *base_doc(void)
{
    json_error_t je;
    json_t *doc = json_loads(base_text, 0, &je);
    ck_assert_msg(doc != NULL, "base: %s", je.text);
    return doc;
}

static nx_manifest *parse_doc(const json_t *doc, nx_err *e)
{
    char *text = json_dumps(doc, JSON_COMPACT);
    ck_assert_ptr_nonnull(text);
    nx_manifest *m = nx_manifest_parse(text, strlen(text), NAME, e);
    free(text);
    return m;
}

static void expect_rejected_text(const char *what, const char *text, size_t len,
                                 const char *needle, const char *path)
{
    nx_err e = {{0}};
    nx_manifest *m = nx_manifest_parse(text, len, NAME, &e);
    ck_assert_msg(m == NULL, "%s: accepted", what);
    ck_assert_msg(strncmp(e.msg, NAME ": ", strlen(NAME) + 2) == 0, "%s: '%s' lacks the name",
                  what, e.msg);
    ck_assert_msg(strstr(e.msg, needle) != NULL, "%s: '%s' lacks '%s'", what, e.msg, needle);
    ck_assert_msg(strchr(e.msg, '\n') == NULL, "%s: message spans lines: '%s'", what, e.msg);
    if (path) {
        char *want = nx_xasprintf("(path %s)", path);
        ck_assert_msg(strstr(e.msg, want) != NULL, "%s: '%s' lacks '%s'", what, e.msg, want);
        size_t n = strlen(e.msg), w = strlen(want);
        ck_assert_msg(n >= w && strcmp(e.msg + n - w, want) == 0, "%s: '%s' does not end in '%s'",
                      what, e.msg, want);
        free(want);
    }
}

static void expect_rejected(const char *what, json_t *doc, const char *needle, const char *path)
{
    char *text = json_dumps(doc, JSON_COMPACT);
    ck_assert_ptr_nonnull(text);
    expect_rejected_text(what, text, strlen(text), needle, path);
    free(text);
    json_decref(doc);
}

/* One mutation of the base document: idx -1 sets the top-level `key`,
 * idx >= 0 sets files[idx].key, idx -2 appends the entry `val`; val NULL
 * deletes the key. */
typedef struct mutation {
    const char *what;
    int idx;
    const char *key;
    const char *val;
    const char *needle;
    const char *path;   /* expected "(path X)" at the end, or NULL */
} mutation;

static json_t *mutate(const mutation *c)
{
    json_t *doc = base_doc();
    json_t *val = NULL;
    if (c->val) {
        json_error_t je;
        val = json_loads(c->val, JSON_DECODE_ANY, &je);
        ck_assert_msg(val != NULL, "%s: bad test value %s: %s", c->what, c->val, je.text);
    }
    json_t *target = doc;
    if (c->idx >= 0)
        target = json_array_get(json_object_get(doc, "files"), (size_t)c->idx);
    if (c->idx == -2)
        ck_assert_int_eq(json_array_append_new(json_object_get(doc, "files"), val), 0);
    else if (val)
        ck_assert_int_eq(json_object_set_new(target, c->key, val), 0);
    else
        ck_assert_int_eq(json_object_del(target, c->key), 0);
    return doc;
}

/* ---- valid manifests ------------------------------------------------------ */

START_TEST(test_parse_valid)
{
    nx_err e = {{0}};
    nx_manifest *m = nx_manifest_parse(base_text, strlen(base_text), NAME, &e);
    ck_assert_msg(m != NULL, "%s", e.msg);
    ck_assert_str_eq(m->component, "core");
    ck_assert_str_eq(m->version, "1.1.0");
    ck_assert_uint_eq(m->version_code, 1001000);
    ck_assert_uint_eq(m->total_size, 200);
    ck_assert_uint_eq(m->nentries, 7);
    ck_assert_str_eq(json_string_value(json_object_get(json_object_get(m->doc, "requires"), "php")),
                     ">=8.1.0");
    ck_assert_ptr_nonnull(json_object_get(m->doc, "x-future"));

    /* Sorted by path (strcmp). */
    static const char *const order[] = {"bin/run",
                                        "core",
                                        "core/version.php",
                                        "public_html/assets",
                                        "public_html/assets/app.js",
                                        "public_html/assets/up",
                                        "public_html/latest"};
    for (size_t i = 0; i < m->nentries; i++)
        ck_assert_str_eq(m->entries[i].path, order[i]);

    const nx_entry *f = nx_manifest_find(m, "core/version.php");
    ck_assert_ptr_nonnull(f);
    ck_assert_int_eq(f->type, NX_ENTRY_FILE);
    ck_assert_uint_eq(f->size, 123);
    ck_assert_uint_eq(f->mode, 0644);
    ck_assert_str_eq(f->sha256, SHA_A);
    ck_assert_ptr_null(f->target);

    f = nx_manifest_find(m, "public_html/assets/app.js");
    ck_assert_ptr_nonnull(f);
    ck_assert_uint_eq(f->mode, 0640);
    ck_assert_str_eq(f->sha256, SHA_B);   /* lower-cased */

    f = nx_manifest_find(m, "bin/run");
    ck_assert_ptr_nonnull(f);
    ck_assert_uint_eq(f->size, 0);
    ck_assert_uint_eq(f->mode, 0755);

    f = nx_manifest_find(m, "core");
    ck_assert_ptr_nonnull(f);
    ck_assert_int_eq(f->type, NX_ENTRY_DIR);
    ck_assert_uint_eq(f->mode, 0755);

    f = nx_manifest_find(m, "public_html/latest");
    ck_assert_ptr_nonnull(f);
    ck_assert_int_eq(f->type, NX_ENTRY_SYMLINK);
    ck_assert_str_eq(f->target, "v2");
    ck_assert_uint_eq(f->mode, 0777);

    f = nx_manifest_find(m, "public_html/assets/up");
    ck_assert_ptr_nonnull(f);
    ck_assert_str_eq(f->target, "../latest/");

    ck_assert_ptr_null(nx_manifest_find(m, "public_html"));
    ck_assert_ptr_null(nx_manifest_find(m, "core/version.ph"));
    ck_assert_ptr_null(nx_manifest_find(m, "zzz"));
    ck_assert_ptr_null(nx_manifest_find(m, ""));
    ck_assert_ptr_null(nx_manifest_find(m, NX_MANIFEST_NAME));
    nx_manifest_free(m);
}
END_TEST

START_TEST(test_parse_minimal_plugin)
{
    static const char text[] = "{\"format\":1,\"component\":\"plugin:forum_x-2\","
                               "\"version\":\"2.0.0-rc.1+b7\",\"version_code\":2000000,"
                               "\"files\":[],\"total_size\":0,"
                               "\"dependencies\":{\"wiki\":\">=1.0.0 <2.0.0\"}}";
    nx_err e = {{0}};
    nx_manifest *m = nx_manifest_parse(text, strlen(text), NAME, &e);
    ck_assert_msg(m != NULL, "%s", e.msg);
    ck_assert_str_eq(m->component, "plugin:forum_x-2");
    ck_assert_str_eq(m->version, "2.0.0-rc.1+b7");
    ck_assert_uint_eq(m->nentries, 0);
    ck_assert_ptr_null(nx_manifest_find(m, "a"));
    nx_manifest_free(m);

    /* The longest slug (64) is fine; a symlink may point at the root. */
    json_t *doc = base_doc();
    char comp[7 + 64 + 1];
    memcpy(comp, "plugin:", 7);
    memset(comp + 7, 'a', 64);
    comp[71] = '\0';
    json_object_set_new(doc, "component", json_string(comp));
    json_array_append_new(json_object_get(doc, "files"),
                          json_pack("{s:s, s:s, s:s}", "path", "a/b/root", "type", "symlink",
                                    "target", "../.."));
    json_array_append_new(json_object_get(doc, "files"),
                          json_pack("{s:s, s:s, s:s}", "path", "a/b/c", "type", "symlink",
                                    "target", "./../../public_html/latest"));
    m = parse_doc(doc, &e);
    ck_assert_msg(m != NULL, "%s", e.msg);
    nx_manifest_free(m);
    json_decref(doc);
}
END_TEST

START_TEST(test_path_ok)
{
    ck_assert_int_eq(nx_manifest_path_ok("a"), 1);
    ck_assert_int_eq(nx_manifest_path_ok("core/lib/x.php"), 1);
    ck_assert_int_eq(nx_manifest_path_ok(".htaccess"), 1);
    ck_assert_int_eq(nx_manifest_path_ok("a/..b/c.."), 1);
    ck_assert_int_eq(nx_manifest_path_ok("caf\xc3\xa9/x"), 1);
    ck_assert_int_eq(nx_manifest_path_ok(""), 0);
    ck_assert_int_eq(nx_manifest_path_ok(NULL), 0);
    ck_assert_int_eq(nx_manifest_path_ok("/a"), 0);
    ck_assert_int_eq(nx_manifest_path_ok("a/"), 0);
    ck_assert_int_eq(nx_manifest_path_ok("a//b"), 0);
    ck_assert_int_eq(nx_manifest_path_ok("."), 0);
    ck_assert_int_eq(nx_manifest_path_ok(".."), 0);
    ck_assert_int_eq(nx_manifest_path_ok("a/./b"), 0);
    ck_assert_int_eq(nx_manifest_path_ok("a/../b"), 0);
    ck_assert_int_eq(nx_manifest_path_ok("a/.."), 0);
    ck_assert_int_eq(nx_manifest_path_ok("a\tb"), 0);
    ck_assert_int_eq(nx_manifest_path_ok("a\x7f"), 0);
    char *long_path = nx_xmalloc(4098);
    memset(long_path, 'a', 4097);
    long_path[4096] = '\0';
    ck_assert_int_eq(nx_manifest_path_ok(long_path), 1);
    long_path[4096] = 'a';
    long_path[4097] = '\0';
    ck_assert_int_eq(nx_manifest_path_ok(long_path), 0);
    free(long_path);
}
END_TEST

/* requires.php_extensions: a list of extension names, in a manifest and
 * alone (nx_requires_ok, which nexo-release pack uses too). */
START_TEST(test_requires_php_extensions)
{
    nx_err e = {{0}};
    json_t *doc = base_doc();
    json_object_set_new(doc, "requires", json_pack("{s:s, s:[s, s, s]}", "php", ">=8.1.0",
                                                   "php_extensions", "mbstring", "pdo_pgsql",
                                                   "Zend-OPcache"));
    nx_manifest *m = parse_doc(doc, &e);
    ck_assert_msg(m != NULL, "%s", e.msg);
    nx_manifest_free(m);
    json_decref(doc);
    static const char *const bad[][2] = {
        { "{\"php_extensions\": \"mbstring\"}", "is not a list of PHP extension names" },
        { "{\"php_extensions\": [\"mb string\"]}", "[0]: 'mb string' is not a PHP extension name" },
        { "{\"php_extensions\": [\"json\", 7]}", "[1]: '(not a string)'" },
        { "{\"php_extensions\": [\"\"]}", "is not a PHP extension name" },
        { "{\"php\": \">>8\", \"php_extensions\": []}", "\"requires\": \"php\"" },
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        json_error_t je;
        json_t *req = json_loads(bad[i][0], 0, &je);
        ck_assert_ptr_nonnull(req);
        ck_assert_int_eq(nx_requires_ok("m.json", req, &e), -1);
        ck_assert_msg(strstr(e.msg, bad[i][1]) && strstr(e.msg, "m.json"), "%s: %s", bad[i][0],
                      e.msg);
        json_decref(req);
    }
    ck_assert_int_eq(nx_php_ext_ok("pdo_sqlite"), 1);
    ck_assert_int_eq(nx_php_ext_ok("a/b"), 0);
}
END_TEST

/* ---- rejections ------------------------------------------------------------ */

START_TEST(test_reject_bad_json)
{
    expect_rejected_text("truncated", "{\"format\": 1,", 13, "not valid JSON", NULL);
    expect_rejected_text("empty", "", 0, "not valid JSON", NULL);
    expect_rejected_text("array", "[]", 2, "not a JSON object", NULL);
    expect_rejected_text("duplicate key", "{\"format\":1,\"format\":1}", 23, "not valid JSON",
                         NULL);
    expect_rejected_text("NUL escape", "{\"a\":\"\\u0000\"}", 14, "not valid JSON", NULL);
    /* The length is honoured: trailing bytes past len are ignored, bytes
     * before it count. */
    size_t len = strlen(base_text);
    char *copy = nx_xmalloc(len + 8);
    memcpy(copy, base_text, len);
    memcpy(copy + len, "garbage", 8);
    nx_err e = {{0}};
    nx_manifest *m = nx_manifest_parse(copy, len, NAME, &e);
    ck_assert_msg(m != NULL, "%s", e.msg);
    nx_manifest_free(m);
    expect_rejected_text("trailing garbage", copy, len + 7, "not valid JSON", NULL);
    free(copy);
}
END_TEST

static const mutation rejections[] = {
    /* top level */
    {"missing format", -1, "format", NULL, "missing \"format\"", NULL},
    {"format 2", -1, "format", "2", "unsupported \"format\"", NULL},
    {"format string", -1, "format", "\"1\"", "unsupported \"format\"", NULL},
    {"missing component", -1, "component", NULL, "missing \"component\"", NULL},
    {"component theme", -1, "component", "\"theme:x\"", "\"component\" must be", NULL},
    {"component empty slug", -1, "component", "\"plugin:\"", "\"component\" must be", NULL},
    {"component upper", -1, "component", "\"plugin:Forum\"", "\"component\" must be", NULL},
    {"component dash first", -1, "component", "\"plugin:-x\"", "\"component\" must be", NULL},
    {"component slash", -1, "component", "\"plugin:a/b\"", "\"component\" must be", NULL},
    {"component slug 65",
     -1,
     "component",
     "\"plugin:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\"",
     "\"component\" must be",
     NULL},
    {"component number", -1, "component", "1", "\"component\" must be", NULL},
    {"missing version", -1, "version", NULL, "missing \"version\"", NULL},
    {"version partial", -1, "version", "\"1.1\"", "bad \"version\"", NULL},
    {"version v", -1, "version", "\"v1.1.0\"", "bad \"version\"", NULL},
    {"version number", -1, "version", "1.1", "\"version\" is not a string", NULL},
    {"version minor 1000", -1, "version", "\"1.1000.0\"", "bad \"version\"", NULL},
    {"version_code mismatch", -1, "version_code", "1001001", "does not match version 1.1.0",
     NULL},
    {"version_code string", -1, "version_code", "\"1001000\"", "\"version_code\" is not an integer",
     NULL},
    {"version_code missing", -1, "version_code", NULL, "missing \"version_code\"", NULL},
    {"total_size mismatch", -1, "total_size", "199", "is not the sum of the file sizes (200)",
     NULL},
    {"total_size negative", -1, "total_size", "-1", "\"total_size\" is not an integer", NULL},
    {"total_size real", -1, "total_size", "200.0", "\"total_size\" is not an integer", NULL},
    {"total_size missing", -1, "total_size", NULL, "missing \"total_size\"", NULL},
    {"files missing", -1, "files", NULL, "missing \"files\"", NULL},
    {"files object", -1, "files", "{}", "\"files\" is not an array", NULL},
    {"release_date", -1, "release_date", "\"yesterday\"", "\"release_date\" is not a date", NULL},
    {"branch number", -1, "branch", "1", "\"branch\" is not a string", NULL},
    {"requires number", -1, "requires", "{\"php\": 8}", "is not a string", NULL},
    {"requires bad range", -1, "requires", "{\"php\": \">>8\"}", "\"requires\": \"php\"", NULL},
    {"requires array", -1, "requires", "[]", "\"requires\" is not an object", NULL},
    {"dependencies bad slug", -1, "dependencies", "{\"Bad Slug\": \">=1.0.0\"}",
     "is not a plugin slug", NULL},
    {"compatibility plugins", -1, "compatibility", "{\"plugins\": {\"forum\": 2}}",
     "compatibility.plugins", NULL},
    /* entries: paths */
    {"entry not object", -2, NULL, "\"core/x\"", "files[7] is not an object", NULL},
    {"path missing", 1, "path", NULL, "files[1]: missing \"path\"", NULL},
    {"path number", 1, "path", "7", "files[1]: \"path\" is not a string", NULL},
    {"absolute path", 0, "path", "\"/etc/passwd\"", "absolute path", "/etc/passwd"},
    {"dotdot", 0, "path", "\"core/../x.php\"", "'..' component", "core/../x.php"},
    {"leading dotdot", 0, "path", "\"../x.php\"", "'..' component", "../x.php"},
    {"dot", 0, "path", "\"./core/x.php\"", "'.' component", "./core/x.php"},
    {"empty component", 0, "path", "\"a//b\"", "empty path component", "a//b"},
    {"trailing slash", 0, "path", "\"core/\"", "empty path component", "core/"},
    {"empty path", 0, "path", "\"\"", "empty path", ""},
    {"control char", 0, "path", "\"core/\\u0001x\"", "control character in path",
     "core/\\x01x"},
    {"newline", 0, "path", "\"core/a\\nb\"", "control character in path", "core/a\\x0ab"},
    {"manifest listed", 0, "path", "\"nexo-release.json\"", "the manifest itself", NULL},
    {"duplicate path", -2, NULL, "{\"path\":\"core\",\"type\":\"dir\",\"mode\":\"0700\"}",
     "duplicate path", "core"},
    {"duplicate file", -2, NULL,
     "{\"path\":\"core/version.php\",\"type\":\"symlink\",\"target\":\"x\"}", "duplicate path",
     "core/version.php"},
    {"under a file", -2, NULL, "{\"path\":\"core/version.php/x\",\"type\":\"dir\",\"mode\":\"0755\"}",
     "under core/version.php, which is a file", "core/version.php/x"},
    {"under a symlink", -2, NULL,
     "{\"path\":\"public_html/latest/x/y\",\"type\":\"dir\",\"mode\":\"0755\"}",
     "under public_html/latest, which is a symlink", "public_html/latest/x/y"},
    /* entries: types and keys */
    {"unknown type", 1, "type", "\"fifo\"", "unknown type \"fifo\"", "public_html/assets"},
    {"type number", 1, "type", "3", "unknown type", "public_html/assets"},
    {"type missing", 1, "type", NULL, "missing \"type\"", "public_html/assets"},
    {"unknown key", 0, "owner", "\"root\"", "unknown key \"owner\" for a file", "core/version.php"},
    {"sha256 on dir", 1, "sha256", "\"" SHA_A "\"", "unknown key \"sha256\" for a dir",
     "public_html/assets"},
    {"mode on symlink", 2, "mode", "\"0777\"", "unknown key \"mode\" for a symlink",
     "public_html/latest"},
    /* entries: modes */
    {"setuid", 0, "mode", "\"4755\"", "setuid", "core/version.php"},
    {"setgid dir", 1, "mode", "\"2755\"", "setuid, setgid or sticky", "public_html/assets"},
    {"sticky", 1, "mode", "\"1777\"", "setuid, setgid or sticky", "public_html/assets"},
    {"mode symbolic", 0, "mode", "\"rw-r--r--\"", "mode is not an octal string",
     "core/version.php"},
    {"mode 8", 0, "mode", "\"0648\"", "mode is not an octal string", "core/version.php"},
    {"mode too long", 0, "mode", "\"00644\"", "mode is not an octal string", "core/version.php"},
    {"mode integer", 0, "mode", "420", "mode is not an octal string", "core/version.php"},
    {"mode missing", 0, "mode", NULL, "missing \"mode\"", "core/version.php"},
    {"dir mode missing", 1, "mode", NULL, "missing \"mode\"", "public_html/assets"},
    /* entries: files */
    {"sha256 short", 0, "sha256", "\"abc\"", "sha256 is not 64 hex digits", "core/version.php"},
    {"sha256 non-hex", 0, "sha256",
     "\"g665a45920422f9d417e4867efdc4fb8a04a1f3fff1fa07e998e86f7f7a27ae3\"",
     "sha256 is not 64 hex digits", "core/version.php"},
    {"sha256 missing", 0, "sha256", NULL, "missing \"sha256\"", "core/version.php"},
    {"size string", 0, "size", "\"123\"", "size is not an integer", "core/version.php"},
    {"size negative", 0, "size", "-1", "size is not an integer", "core/version.php"},
    {"size real", 0, "size", "123.0", "size is not an integer", "core/version.php"},
    {"size missing", 0, "size", NULL, "missing \"size\"", "core/version.php"},
    /* entries: symlinks */
    {"symlink escapes", 2, "target", "\"../../etc\"", "leaves the payload", "public_html/latest"},
    {"symlink escapes late", 2, "target", "\"a/../../../etc/passwd\"", "leaves the payload",
     "public_html/latest"},
    {"symlink absolute", 2, "target", "\"/etc/passwd\"", "symlink target is absolute",
     "public_html/latest"},
    {"symlink empty", 2, "target", "\"\"", "symlink target is empty", "public_html/latest"},
    {"symlink control", 2, "target", "\"a\\u001bb\"", "control character in symlink target",
     "public_html/latest"},
    {"symlink missing target", 2, "target", NULL, "missing \"target\"", "public_html/latest"},
    {"symlink target number", 2, "target", "1", "symlink target is not a string",
     "public_html/latest"},
    {"symlink through symlink", -2, NULL,
     "{\"path\":\"x\",\"type\":\"symlink\",\"target\":\"public_html/latest/../..\"}",
     "passes through another symlink", "x"},
    {"root symlink escapes", -2, NULL, "{\"path\":\"x\",\"type\":\"symlink\",\"target\":\"..\"}",
     "leaves the payload", "x"},
};

START_TEST(test_reject_mutation)
{
    const mutation *c = &rejections[_i];
    expect_rejected(c->what, mutate(c), c->needle, c->path);
}
END_TEST

START_TEST(test_reject_long_path)
{
    json_t *doc = base_doc();
    char *p = nx_xmalloc(5001);
    memset(p, 'a', 5000);
    p[5000] = '\0';
    json_object_set_new(json_array_get(json_object_get(doc, "files"), 1), "path", json_string(p));
    free(p);
    expect_rejected("long path", doc, "path longer than 4096 bytes", NULL);
}
END_TEST

START_TEST(test_reject_size_overflow)
{
    json_t *doc = base_doc();
    json_t *files = json_object_get(doc, "files");
    json_object_set_new(json_array_get(files, 0), "size", json_integer(INT64_MAX));
    json_object_set_new(json_array_get(files, 3), "size", json_integer(INT64_MAX));
    json_t *extra = json_pack("{s:s, s:s, s:I, s:s, s:s}", "path", "z", "type", "file", "size",
                              (json_int_t)INT64_MAX, "mode", "0644", "sha256", SHA_E);
    json_array_append_new(files, extra);
    expect_rejected("overflow", doc, "file sizes overflow", "z");
}
END_TEST

static Suite *manifest_suite(void)
{
    Suite *s = suite_create("manifest");
    TCase *tc = tcase_create("valid");
    tcase_add_test(tc, test_parse_valid);
    tcase_add_test(tc, test_parse_minimal_plugin);
    tcase_add_test(tc, test_path_ok);
    tcase_add_test(tc, test_requires_php_extensions);
    suite_add_tcase(s, tc);

    tc = tcase_create("rejected");
    tcase_add_test(tc, test_reject_bad_json);
    tcase_add_loop_test(tc, test_reject_mutation, 0,
                        (int)(sizeof rejections / sizeof rejections[0]));
    tcase_add_test(tc, test_reject_long_path);
    tcase_add_test(tc, test_reject_size_overflow);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(manifest_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed != 0 ? EXIT_FAILURE : EXIT_SUCCESS;
}
