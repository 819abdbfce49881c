/* Unit tests for core/compat.c (Check): the conflicts of a release with
 * the installed core and plugins, and the dependency order of plugins. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "compat.h"

#define N_ELEMS(a) (sizeof(a) / sizeof((a)[0]))

static json_t *J(const char *text)
{
    json_error_t je;
    json_t *j = json_loads(text, 0, &je);
    ck_assert_msg(j != NULL, "bad test JSON %s: %s", text, je.text);
    return j;
}

/* ---- dependency order ------------------------------------------------- */

/* order of slugs[] given deps[] (JSON texts or NULL), as "a b c"; or
 * "error: MESSAGE". */
static void order_of(const char *const *slugs, const char *const *deps_text, size_t n,
                     char *out, size_t len)
{
    const json_t *deps[8] = { 0 };
    size_t order[8];
    nx_err e = { { 0 } };
    ck_assert(n <= 8);
    for (size_t i = 0; i < n; i++)
        deps[i] = deps_text[i] ? J(deps_text[i]) : NULL;
    out[0] = '\0';
    if (nx_compat_order(slugs, deps, n, order, &e) != 0)
        snprintf(out, len, "error: %.200s", e.msg);
    else
        for (size_t i = 0; i < n; i++) {
            size_t off = strlen(out);
            snprintf(out + off, len - off, "%s%s", i ? " " : "", slugs[order[i]]);
        }
    for (size_t i = 0; i < n; i++)
        json_decref((json_t *)deps[i]);
}

START_TEST(test_order_none)
{
    char got[256];
    const char *s[] = { "a", "b", "c" };
    const char *d[] = { NULL, "{}", NULL };
    order_of(s, d, 3, got, sizeof got);
    ck_assert_str_eq(got, "a b c");
    order_of(s, d, 0, got, sizeof got);
    ck_assert_str_eq(got, "");
}
END_TEST

START_TEST(test_order_chain)
{
    char got[256];
    /* a needs c, c needs b: b, then c, then a; d anywhere it was */
    const char *s[] = { "a", "b", "c", "d" };
    const char *d[] = { "{\"c\": \">=1.0\"}", NULL, "{\"b\": \"^2\"}", NULL };
    order_of(s, d, 4, got, sizeof got);
    ck_assert_str_eq(got, "b c a d");
}
END_TEST

START_TEST(test_order_diamond)
{
    char got[256];
    /* top needs left and right, both need base */
    const char *s[] = { "top", "left", "right", "base" };
    const char *d[] = { "{\"left\": \"*\", \"right\": \"*\"}", "{\"base\": \"*\"}",
                        "{\"base\": \"*\"}", NULL };
    order_of(s, d, 4, got, sizeof got);
    ck_assert_str_eq(got, "base left right top");
}
END_TEST

START_TEST(test_order_outside_and_self)
{
    char got[256];
    /* dependencies on plugins outside the set, and on itself, do not count */
    const char *s[] = { "a", "b" };
    const char *d[] = { "{\"zzz\": \">=1\", \"a\": \">=1\"}", "{\"a\": \">=1\"}" };
    order_of(s, d, 2, got, sizeof got);
    ck_assert_str_eq(got, "a b");
}
END_TEST

START_TEST(test_order_cycle_two)
{
    char got[256];
    const char *s[] = { "a", "b" };
    const char *d[] = { "{\"b\": \"*\"}", "{\"a\": \"*\"}" };
    order_of(s, d, 2, got, sizeof got);
    ck_assert_str_eq(got, "error: plugin dependency cycle: a -> b -> a");
}
END_TEST

START_TEST(test_order_cycle_named_without_its_tail)
{
    char got[256];
    /* x waits for the loop a -> b -> c -> a; d is free */
    const char *s[] = { "x", "a", "b", "c", "d" };
    const char *d[] = { "{\"a\": \"*\"}", "{\"b\": \"*\"}", "{\"c\": \"*\"}", "{\"a\": \"*\"}",
                        NULL };
    order_of(s, d, 5, got, sizeof got);
    ck_assert_str_eq(got, "error: plugin dependency cycle: a -> b -> c -> a");
}
END_TEST

/* ---- conflicts ---------------------------------------------------------- */

/* The site: core 1.4.0; forum 2.0.0 (requires nexosupport >=1.0 <2.0);
 * wiki 1.0.0 (depends on forum ^2.0); blog 3.0.0 (nothing declared). */
struct site {
    json_t *forum_req, *wiki_deps;
    nx_installed in[4];
};

static void site_make(struct site *s)
{
    s->forum_req = J("{\"nexosupport\": \">=1.0.0 <2.0.0\", \"php\": \">=8.1\"}");
    s->wiki_deps = J("{\"forum\": \"^2.0\"}");
    s->in[0] = (nx_installed){ NULL, "1.4.0", NULL, NULL };
    s->in[1] = (nx_installed){ "forum", "2.0.0", s->forum_req, NULL };
    s->in[2] = (nx_installed){ "wiki", "1.0.0", NULL, s->wiki_deps };
    s->in[3] = (nx_installed){ "blog", "3.0.0", NULL, NULL };
}

static void site_free(struct site *s)
{
    json_decref(s->forum_req);
    json_decref(s->wiki_deps);
}

/* The conflicts of a release; requires/compat/deps as JSON texts. */
static json_t *conflicts(const struct site *s, const char *slug, const char *version,
                         const char *req, const char *compat, const char *deps)
{
    json_t *r = req ? J(req) : NULL, *c = compat ? J(compat) : NULL, *d = deps ? J(deps) : NULL;
    nx_candidate cand = { slug, version, r, c, d };
    json_t *out = json_array();
    size_t n = nx_compat_conflicts(s->in, N_ELEMS(s->in), &cand, out);
    ck_assert_uint_eq(n, json_array_size(out));
    json_decref(r);
    json_decref(c);
    json_decref(d);
    return out;
}

static void is_conflict(json_t *a, size_t i, const char *plugin, const char *range,
                        const char *installed, const char *needed_by, const char *message)
{
    json_t *o = json_array_get(a, i);
    ck_assert_msg(o != NULL, "no conflict %zu", i);
    ck_assert_str_eq(json_string_value(json_object_get(o, "plugin")), plugin);
    if (range)
        ck_assert_str_eq(json_string_value(json_object_get(o, "range")), range);
    else
        ck_assert(json_is_null(json_object_get(o, "range")));
    if (installed)
        ck_assert_str_eq(json_string_value(json_object_get(o, "installed")), installed);
    else
        ck_assert(json_is_null(json_object_get(o, "installed")));
    ck_assert_str_eq(json_string_value(json_object_get(o, "needed_by")), needed_by);
    ck_assert_str_eq(json_string_value(json_object_get(o, "message")), message);
}

START_TEST(test_core_compatible)
{
    struct site s;
    site_make(&s);
    /* in forum's range; compatibility met; a plugin not installed ignored */
    json_t *a = conflicts(&s, NULL, "1.9.0", "{\"php\": \">=99\"}",
                          "{\"plugins\": {\"forum\": \">=2.0.0\", \"gone\": \">=9\"}}", NULL);
    ck_assert_uint_eq(json_array_size(a), 0);
    json_decref(a);
    site_free(&s);
}
END_TEST

START_TEST(test_core_compatibility_plugins)
{
    struct site s;
    site_make(&s);
    json_t *a = conflicts(&s, NULL, "1.5.0", NULL,
                          "{\"plugins\": {\"forum\": \">=2.1.0\", \"blog\": 3, "
                          "\"wiki\": \">=1.0 #\"}}", NULL);
    ck_assert_uint_eq(json_array_size(a), 3);
    is_conflict(a, 0, "forum", ">=2.1.0", "2.0.0", "core 1.5.0",
                "plugin forum >=2.1.0 (installed 2.0.0)");
    is_conflict(a, 1, "blog", NULL, "3.0.0", "core 1.5.0",
                "plugin blog: the range declared by core 1.5.0 is not a string");
    ck_assert_ptr_nonnull(strstr(json_string_value(json_object_get(json_array_get(a, 2),
                                                                   "message")),
                                 "plugin wiki >=1.0 #: cannot be evaluated: "));
    json_decref(a);
    site_free(&s);
}
END_TEST

START_TEST(test_core_outside_plugin_requires)
{
    struct site s;
    site_make(&s);
    /* rule (a): forum requires nexosupport <2.0.0 */
    json_t *a = conflicts(&s, NULL, "2.0.0", NULL, NULL, NULL);
    ck_assert_uint_eq(json_array_size(a), 1);
    is_conflict(a, 0, "core", ">=1.0.0 <2.0.0", "1.4.0", "plugin:forum 2.0.0",
                "installed plugin forum 2.0.0 requires nexosupport >=1.0.0 <2.0.0 "
                "(core 2.0.0 is outside it)");
    json_decref(a);
    site_free(&s);
}
END_TEST

START_TEST(test_plugin_requires_core)
{
    struct site s;
    site_make(&s);
    json_t *a = conflicts(&s, "blog", "4.0.0", "{\"nexosupport\": \">=1.5.0\", \"php\": \">=99\"}",
                          NULL, NULL);
    ck_assert_uint_eq(json_array_size(a), 1);
    is_conflict(a, 0, "core", ">=1.5.0", "1.4.0", "plugin:blog 4.0.0",
                "nexosupport >=1.5.0 (installed core is 1.4.0)");
    json_decref(a);
    a = conflicts(&s, "blog", "4.0.0", "{\"nexosupport\": \">=1.4.0\"}", NULL, NULL);
    ck_assert_uint_eq(json_array_size(a), 0);
    json_decref(a);
    site_free(&s);
}
END_TEST

START_TEST(test_plugin_dependencies)
{
    struct site s;
    site_make(&s);
    /* rule (b): one met, one out of range, one not installed, itself ignored */
    json_t *a = conflicts(&s, "blog", "4.0.0", NULL, NULL,
                          "{\"forum\": \">=2.0.0\", \"wiki\": \">=1.2.0\", "
                          "\"gallery\": \"^1.0\", \"blog\": \">=9\"}");
    ck_assert_uint_eq(json_array_size(a), 2);
    is_conflict(a, 0, "wiki", ">=1.2.0", "1.0.0", "plugin:blog 4.0.0",
                "plugin wiki >=1.2.0 (installed 1.0.0)");
    is_conflict(a, 1, "gallery", "^1.0", NULL, "plugin:blog 4.0.0",
                "plugin gallery ^1.0 (not installed)");
    json_decref(a);
    site_free(&s);
}
END_TEST

START_TEST(test_plugin_breaks_dependent)
{
    struct site s;
    site_make(&s);
    /* rule (c): wiki depends on forum ^2.0; forum 3.0.0 breaks it, 2.5.0 not */
    json_t *a = conflicts(&s, "forum", "3.0.0", NULL, NULL, NULL);
    ck_assert_uint_eq(json_array_size(a), 1);
    is_conflict(a, 0, "forum", "^2.0", "2.0.0", "plugin:wiki 1.0.0",
                "installed plugin wiki 1.0.0 depends on forum ^2.0 (forum 3.0.0 is outside it)");
    json_decref(a);
    a = conflicts(&s, "forum", "2.5.0", NULL, NULL, NULL);
    ck_assert_uint_eq(json_array_size(a), 0);
    json_decref(a);
    site_free(&s);
}
END_TEST

START_TEST(test_plugin_not_installed_yet)
{
    struct site s;
    site_make(&s);
    /* a release of a plugin not installed: its own rules still apply */
    json_t *a = conflicts(&s, "new", "1.0.0", "{\"nexosupport\": \"<1.0\"}", NULL,
                          "{\"forum\": \"<2\"}");
    ck_assert_uint_eq(json_array_size(a), 2);
    is_conflict(a, 0, "core", "<1.0", "1.4.0", "plugin:new 1.0.0",
                "nexosupport <1.0 (installed core is 1.4.0)");
    is_conflict(a, 1, "forum", "<2", "2.0.0", "plugin:new 1.0.0",
                "plugin forum <2 (installed 2.0.0)");
    json_decref(a);
    site_free(&s);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("compat");
    TCase *o = tcase_create("order");
    tcase_add_test(o, test_order_none);
    tcase_add_test(o, test_order_chain);
    tcase_add_test(o, test_order_diamond);
    tcase_add_test(o, test_order_outside_and_self);
    tcase_add_test(o, test_order_cycle_two);
    tcase_add_test(o, test_order_cycle_named_without_its_tail);
    suite_add_tcase(s, o);
    TCase *c = tcase_create("conflicts");
    tcase_add_test(c, test_core_compatible);
    tcase_add_test(c, test_core_compatibility_plugins);
    tcase_add_test(c, test_core_outside_plugin_requires);
    tcase_add_test(c, test_plugin_requires_core);
    tcase_add_test(c, test_plugin_dependencies);
    tcase_add_test(c, test_plugin_breaks_dependent);
    tcase_add_test(c, test_plugin_not_installed_yet);
    suite_add_tcase(s, c);
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
