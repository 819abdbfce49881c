/* Unit tests of the update check's C API (core/check.c) on a signed
 * file:// index: conflicts keep a release from the offer unless the
 * check is forced; force never offers a release with an environment
 * requirement unmet (php); nx_check_plugin_order. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "testutil.h"
#include "trust.h"
#include "update_check.h"

/* The site: core 1.0.0; forum 2.0.0 requires nexosupport <1.2.0 or
 * >=1.3.0; alpha and zeta 1.0.0. A php on the PATH that says 8.2.7. */
static void make_site(void)
{
    nx_err e = { { 0 } };
    char *d;
    static const char *const dirs[] = { "site/core", "site/modules/plugins/forum",
                                        "site/modules/plugins/alpha",
                                        "site/modules/plugins/zeta", "bin" };
    for (size_t i = 0; i < sizeof dirs / sizeof *dirs; i++) {
        d = nx_path_join(tu_dir, dirs[i]);
        ck_assert_msg(nx_mkdirs(d, 0755, &e) == 0, "%s", e.msg);
        free(d);
    }
    free(tu_write("site/core/version.php", "<?php\nreturn ['version' => '1.0.0'];\n"));
    free(tu_write("site/modules/plugins/forum/version.php",
                  "<?php\nreturn ['version' => '2.0.0', "
                  "'requires' => ['nexosupport' => '<1.2.0 || >=1.3.0']];\n"));
    free(tu_write("site/modules/plugins/alpha/version.php", "<?php\nreturn ['version' => '1.0.0'];\n"));
    free(tu_write("site/modules/plugins/zeta/version.php", "<?php\nreturn ['version' => '1.0.0'];\n"));
    char *php = tu_write("bin/php", "#!/bin/sh\n[ \"$1\" = -r ] && printf 8.2.7\n");
    ck_assert_int_eq(chmod(php, 0755), 0);
    free(php);
    d = nx_path_join(tu_dir, "bin");
    setenv("PATH", d, 1);
    free(d);
}

static json_t *rel(const char *comp, const char *version, const char *extra)
{
    char text[1024];
    snprintf(text, sizeof text,
             "{\"component\": \"%s\", \"version\": \"%s\", \"download_url\": \"p/%s-%s.zip\", "
             "\"checksum\": {\"sha256\": \"%064d\"}, \"signature\": \"c2ln\", "
             "\"size_bytes\": 10%s%s}",
             comp, version, comp, version, 0, extra ? ", " : "", extra ? extra : "");
    json_error_t je;
    json_t *j = json_loads(text, 0, &je);
    ck_assert_msg(j != NULL, "%s: %s", text, je.text);
    return j;
}

/* index.json signed with a fresh key; the zeta release depends on
 * alpha when `cycle`. Returns the config. */
static nx_config *make_repo(int cycle)
{
    nx_err e = { { 0 } };
    char stamp[2][32];
    time_t now = time(NULL), t[2] = { now - 60, now + 86400 };
    for (int i = 0; i < 2; i++)
        strftime(stamp[i], sizeof stamp[i], "%Y-%m-%dT%H:%M:%SZ", gmtime(&t[i]));
    json_t *releases = json_array();
    json_array_append_new(releases, rel("core", "1.1.0", NULL));
    json_array_append_new(releases, rel("core", "1.2.0", NULL)); /* forum: outside its range */
    json_array_append_new(releases, rel("core", "1.3.0", "\"requires\": {\"php\": \">=99.0\"}"));
    json_array_append_new(releases, rel("core", "1.4.0", "\"requires\": {\"php\": \">=99.0\"}, "
                                        "\"compatibility\": {\"plugins\": {\"forum\": \">=9\"}}"));
    json_array_append_new(releases, rel("plugin:alpha", "1.1.0",
                                        "\"dependencies\": {\"zeta\": \">=1.0.0\"}"));
    json_array_append_new(releases, rel("plugin:zeta", "1.1.0",
                                        cycle ? "\"dependencies\": {\"alpha\": \"^1\"}" : NULL));
    json_t *idx = json_pack("{s:i, s:s, s:s, s:o}", "format", 1, "generated_at", stamp[0],
                            "expires", stamp[1], "releases", releases);
    char *text = json_dumps(idx, JSON_INDENT(1));
    char *path = tu_write("index.json", text);
    free(text);
    json_decref(idx);
    char *prefix = nx_path_join(tu_dir, cycle ? "vendor-c" : "vendor");
    char *keyfile = nx_xasprintf("%s.key", prefix);
    ck_assert_msg(nx_keygen(prefix, &e) == 0, "%s", e.msg);
    static const char *const scope[] = { "index", "core", "plugin:*" };
    ck_assert_msg(nx_scope_write(prefix, scope, 3, &e) == 0, "%s", e.msg);
    nx_key *k = nx_key_load_private(keyfile, &e);
    ck_assert_msg(k != NULL, "%s", e.msg);
    ck_assert_msg(nx_sign_file_to_sig(k, path, &e) == 0, "%s", e.msg);
    nx_key_free(k);
    char *ini = nx_xasprintf("[site]\nroot = %s/site\n[server]\nurl = file://%s\n"
                             "trusted_keys = %s.pub\n[paths]\nstate = %s/state\n", tu_dir, path,
                             prefix, tu_dir);
    char *conf = tu_write("nexo.ini", ini);
    nx_config *cfg = nx_config_load(conf, &e);
    ck_assert_msg(cfg != NULL, "%s", e.msg);
    free(ini);
    free(conf);
    free(keyfile);
    free(prefix);
    free(path);
    return cfg;
}

static nx_check *run(const nx_config *cfg, int force)
{
    nx_out out = { .verbosity = 0 };
    nx_err e = { { 0 } };
    nx_check *c = nx_check_run_force(&out, cfg, NULL, force, &e);
    ck_assert_msg(c != NULL, "%s", e.msg);
    return c;
}

static const nx_release *release_of(const nx_check *c, const char *comp, const char *v)
{
    const nx_release *r = nx_component_release(nx_check_find(c, comp), v);
    ck_assert_msg(r != NULL, "%s %s not listed", comp, v);
    return r;
}

START_TEST(test_not_forced)
{
    make_site();
    nx_config *cfg = make_repo(0);
    nx_check *c = run(cfg, 0);
    const nx_component *core = nx_check_find(c, "core");
    ck_assert_ptr_nonnull(core->offer);
    ck_assert_str_eq(core->offer->version, "1.1.0");
    /* 1.2.0: one conflict, which is also why it is not offered */
    const nx_release *r = release_of(c, "core", "1.2.0");
    ck_assert_uint_eq(r->nenv, 0);
    ck_assert_uint_eq(json_array_size(r->conflicts), 1);
    ck_assert_uint_eq(json_array_size(r->unmet), 1);
    const char *msg = json_string_value(json_array_get(r->unmet, 0));
    ck_assert_str_eq(msg, "installed plugin forum 2.0.0 requires nexosupport <1.2.0 || "
                          ">=1.3.0 (core 1.2.0 is outside it)");
    ck_assert_str_eq(json_string_value(json_object_get(json_array_get(r->conflicts, 0),
                                                       "message")), msg);
    /* 1.3.0: php only */
    r = release_of(c, "core", "1.3.0");
    ck_assert_uint_eq(r->nenv, 1);
    ck_assert_uint_eq(json_array_size(r->conflicts), 0);
    ck_assert_str_eq(json_string_value(json_array_get(r->unmet, 0)),
                     "php >=99.0 (the site's php is 8.2.7)");
    nx_check_free(c);
    nx_config_free(cfg);
}
END_TEST

START_TEST(test_forced)
{
    make_site();
    nx_config *cfg = make_repo(0);
    nx_check *c = run(cfg, 1);
    const nx_component *core = nx_check_find(c, "core");
    /* 1.2.0's only problem is a conflict: offered; its conflict stays listed */
    ck_assert_ptr_nonnull(core->offer);
    ck_assert_str_eq(core->offer->version, "1.2.0");
    ck_assert_uint_eq(json_array_size(core->offer->conflicts), 1);
    ck_assert_uint_eq(json_array_size(core->offer->unmet), 0);
    /* 1.3.0 (php) and 1.4.0 (php and a conflict) never */
    const nx_release *r = release_of(c, "core", "1.3.0");
    ck_assert_uint_eq(json_array_size(r->unmet), 1);
    r = release_of(c, "core", "1.4.0");
    ck_assert_uint_eq(r->nenv, 1);
    ck_assert_uint_eq(json_array_size(r->unmet), 1);
    ck_assert_uint_eq(json_array_size(r->conflicts), 1);
    nx_check_free(c);
    nx_config_free(cfg);
}
END_TEST

START_TEST(test_plugin_order)
{
    make_site();
    nx_config *cfg = make_repo(0);
    nx_check *c = run(cfg, 0);
    char **slugs = NULL;
    size_t n = 9;
    nx_err e = { { 0 } };
    ck_assert_msg(nx_check_plugin_order(c, &slugs, &n, &e) == 0, "%s", e.msg);
    /* forum has no release; alpha depends on zeta */
    ck_assert_uint_eq(n, 2);
    ck_assert_str_eq(slugs[0], "zeta");
    ck_assert_str_eq(slugs[1], "alpha");
    for (size_t i = 0; i < n; i++)
        free(slugs[i]);
    free(slugs);
    nx_check_free(c);
    nx_config_free(cfg);

    cfg = make_repo(1);
    c = run(cfg, 0);
    ck_assert_int_eq(nx_check_plugin_order(c, &slugs, &n, &e), -1);
    ck_assert_str_eq(e.msg, "plugin dependency cycle: alpha -> zeta -> alpha");
    ck_assert_ptr_null(slugs);
    ck_assert_uint_eq(n, 0);
    nx_check_free(c);
    nx_config_free(cfg);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("check_force");
    TCase *tc = tcase_create("force");
    tcase_add_unchecked_fixture(tc, tu_base_setup, tu_base_teardown);
    tcase_add_checked_fixture(tc, tu_tmp_setup, tu_tmp_teardown);
    tcase_add_test(tc, test_not_forced);
    tcase_add_test(tc, test_forced);
    tcase_add_test(tc, test_plugin_order);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
