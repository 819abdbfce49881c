/* Unit tests for core/phpver.c: the version.php reader. */
#include <check.h>
#include <jansson.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "phpver.h"

#define FIX NX_TEST_SRCDIR "/tests/fixtures/phpver/"
#define NAME "core/version.php"

/* ---- helpers --------------------------------------------------------- */

static json_t *parse_n(const char *src, size_t len)
{
    nx_err e = { { 0 } };
    json_t *v = nx_phpver_parse(src, len, NAME, &e);
    ck_assert_msg(v != NULL, "parse failed: %s\n--- input ---\n%s", e.msg, src);
    return v;
}

static json_t *parse(const char *src)
{
    return parse_n(src, strlen(src));
}

/* Parse "<?php return <expr>;" and return the single value of [expr]. */
static json_t *value_of(const char *expr)
{
    char *src = nx_xasprintf("<?php\nreturn [%s];\n", expr);
    json_t *arr = parse(src);
    free(src);
    ck_assert_msg(json_is_array(arr) && json_array_size(arr) == 1, "not one value: %s", expr);
    json_t *v = json_incref(json_array_get(arr, 0));
    json_decref(arr);
    return v;
}

static void check_str_n(json_t *o, const char *key, const char *want, size_t n)
{
    json_t *v = json_object_get(o, key);
    ck_assert_msg(json_is_string(v), "%s is not a string", key);
    ck_assert_uint_eq(json_string_length(v), n);
    ck_assert_msg(memcmp(json_string_value(v), want, n) == 0, "%s = \"%s\"", key,
                  json_string_value(v));
}

static void check_str(json_t *o, const char *key, const char *want)
{
    check_str_n(o, key, want, strlen(want));
}

static void check_int(json_t *o, const char *key, long long want)
{
    json_t *v = json_object_get(o, key);
    ck_assert_msg(json_is_integer(v), "%s is not an integer", key);
    ck_assert_int_eq(json_integer_value(v), want);
}

static void check_real(json_t *o, const char *key, double want)
{
    json_t *v = json_object_get(o, key);
    ck_assert_msg(json_is_real(v), "%s is not a real", key);
    ck_assert_double_eq_tol(json_real_value(v), want, 1e-12);
}

/* The message must be "<name>:<line>: ...<phrase>..." on one line. */
static void check_msg(const char *msg, const char *name, int line, const char *phrase)
{
    char *prefix = nx_xasprintf("%s:%d: ", name, line);
    ck_assert_msg(strncmp(msg, prefix, strlen(prefix)) == 0, "want prefix \"%s\", got \"%s\"",
                  prefix, msg);
    ck_assert_msg(strstr(msg, phrase) != NULL, "want \"%s\" in \"%s\"", phrase, msg);
    ck_assert_msg(strchr(msg, '\n') == NULL, "message is not one line: \"%s\"", msg);
    free(prefix);
}

static void expect_err_n(const char *src, size_t len, int line, const char *phrase)
{
    nx_err e = { { 0 } };
    json_t *v = nx_phpver_parse(src, len, NAME, &e);
    if (v) {
        char *dump = json_dumps(v, JSON_ENCODE_ANY);
        json_decref(v);
        ck_abort_msg("accepted: %s\n--- input ---\n%s", dump, src);
    }
    check_msg(e.msg, NAME, line, phrase);
}

static void expect_err(const char *src, int line, const char *phrase)
{
    expect_err_n(src, strlen(src), line, phrase);
}

/* ---- the example file ------------------------------------------------ */

static const char example[] =
    "<?php\n"
    "/**\n"
    " * NexoSupport Core Version Information\n"
    " */\n"
    "\n"
    "return [\n"
    "    // Version number (semantic versioning)\n"
    "    'version' => '1.5.0',\n"
    "\n"
    "    // Version code (for database comparison)\n"
    "    'version_code' => 1005000,\n"
    "\n"
    "    // Release date\n"
    "    'release_date' => '2025-11-13',\n"
    "\n"
    "    # Minimum requirements\n"
    "    'requires' => [\n"
    "        'php' => '8.1.0',\n"
    "        'mysql' => '5.7.0',\n"
    "        'postgresql' => '12.0',\n"
    "    ],\n"
    "    'dependencies' => ['other-plugin' => '>=1.0.0'],\n"
    "    'tags' => ['a', \"b\\n\", ],\n"
    "    'stable' => true,\n"
    "    'beta' => FALSE,\n"
    "    'nothing' => null,\n"
    "    'ratio' => 1.5,\n"
    "    'negative' => -3,\n"
    "    'branch' => 'stable',\n"
    "    'build' => '20251113',\n"
    "];\n";

static void check_example(json_t *v)
{
    static const char *const order[] = {
        "version", "version_code", "release_date", "requires", "dependencies", "tags",
        "stable", "beta", "nothing", "ratio", "negative", "branch", "build",
    };
    size_t i = 0;
    const char *key;
    json_t *val;

    ck_assert(json_is_object(v));
    ck_assert_uint_eq(json_object_size(v), 13);
    json_object_foreach(v, key, val) {
        (void)val;
        ck_assert_str_eq(key, order[i]);
        i++;
    }
    check_str(v, "version", "1.5.0");
    check_int(v, "version_code", 1005000);
    check_str(v, "release_date", "2025-11-13");

    json_t *req = json_object_get(v, "requires");
    ck_assert(json_is_object(req));
    ck_assert_uint_eq(json_object_size(req), 3);
    check_str(req, "php", "8.1.0");
    check_str(req, "mysql", "5.7.0");
    check_str(req, "postgresql", "12.0");

    json_t *dep = json_object_get(v, "dependencies");
    ck_assert(json_is_object(dep));
    ck_assert_uint_eq(json_object_size(dep), 1);
    check_str(dep, "other-plugin", ">=1.0.0");

    json_t *tags = json_object_get(v, "tags");
    ck_assert(json_is_array(tags));
    ck_assert_uint_eq(json_array_size(tags), 2);
    ck_assert_str_eq(json_string_value(json_array_get(tags, 0)), "a");
    ck_assert_str_eq(json_string_value(json_array_get(tags, 1)), "b\n");

    ck_assert(json_is_true(json_object_get(v, "stable")));
    ck_assert(json_is_false(json_object_get(v, "beta")));
    ck_assert(json_is_null(json_object_get(v, "nothing")));
    check_real(v, "ratio", 1.5);
    check_int(v, "negative", -3);
    check_str(v, "branch", "stable");
    check_str(v, "build", "20251113");
}

START_TEST(test_example)
{
    json_t *v = parse(example);
    check_example(v);
    json_decref(v);
}
END_TEST

/* ---- accepted forms -------------------------------------------------- */

START_TEST(test_opening)
{
    static const char *const ok[] = {
        "<?php return [];",
        "<?php\nreturn [];\n",
        "\xEF\xBB\xBF<?php\nreturn [];\n",
        "  \n\t\n<?php\nreturn [];",
        "\xEF\xBB\xBF\n<?php return [];",
        "<?PHP\nRETURN [];",
        "<?Php\r\nReturn[];",
        "<?php\treturn [];",
        "<?php\nreturn [];\n?>",
        "<?php\nreturn [];\n?>\n",
        "<?php\nreturn [];\n?>  \n\n\t\r\n",
        "<?php\nreturn []; // done ?>\n",
        "<?php\nreturn []; # done ?>",
        "<?php\nreturn [];?>",
    };
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
        json_t *v = parse(ok[i]);
        ck_assert(json_is_array(v));
        ck_assert_uint_eq(json_array_size(v), 0);
        json_decref(v);
    }
}
END_TEST

START_TEST(test_comments)
{
    json_t *v = parse("<?php # one\n"
                      "// two\n"
                      "/* three */ /** four\n * five */\n"
                      "return /* a */ [ // b\n"
                      "  /* c */ 'k' /* d */ => /* e */ 'v' /* f */ , # g\n"
                      "  'l' # h\n"
                      "  => # i\n"
                      "  'w'\n"
                      "  /**/ ] /* j */ ; // k\n"
                      "/* end */\n");
    ck_assert(json_is_object(v));
    check_str(v, "k", "v");
    check_str(v, "l", "w");
    json_decref(v);

    /* comment markers inside strings are text, not comments */
    v = value_of("'/* x */ // y # z ?>'");
    ck_assert_str_eq(json_string_value(v), "/* x */ // y # z ?>");
    json_decref(v);
    /* "#" followed by a space, not "[" */
    v = parse("<?php\n# [not an attribute]\nreturn [1];");
    ck_assert_int_eq(json_integer_value(json_array_get(v, 0)), 1);
    json_decref(v);
}
END_TEST

START_TEST(test_array_syntax)
{
    json_t *v = parse("<?php\nreturn array(\n"
                      "  'a' => array(1, 2, array()),\n"
                      "  'b' => Array('x' => [true, array('y' => [])]),\n"
                      "  'c' => array ( ),\n"
                      "  'd' => [],\n"
                      "  'e' => [[[]]],\n"
                      ");\n");
    ck_assert(json_is_object(v));
    json_t *a = json_object_get(v, "a");
    ck_assert(json_is_array(a));
    ck_assert_uint_eq(json_array_size(a), 3);
    ck_assert_int_eq(json_integer_value(json_array_get(a, 1)), 2);
    ck_assert(json_is_array(json_array_get(a, 2)));
    ck_assert_uint_eq(json_array_size(json_array_get(a, 2)), 0);
    json_t *b = json_object_get(json_object_get(v, "b"), "x");
    ck_assert(json_is_array(b));
    ck_assert(json_is_true(json_array_get(b, 0)));
    ck_assert(json_is_array(json_object_get(json_array_get(b, 1), "y")));
    ck_assert(json_is_array(json_object_get(v, "c")));
    ck_assert_uint_eq(json_array_size(json_object_get(v, "c")), 0);
    ck_assert(json_is_array(json_object_get(v, "d")));
    json_t *e = json_object_get(v, "e");
    ck_assert_uint_eq(json_array_size(json_array_get(json_array_get(e, 0), 0)), 0);
    json_decref(v);

    v = parse("<?php return array();");
    ck_assert(json_is_array(v));
    ck_assert_uint_eq(json_array_size(v), 0);
    json_decref(v);

    v = parse("<?php return ['a', 'b', 'c',];");
    ck_assert_uint_eq(json_array_size(v), 3);
    ck_assert_str_eq(json_string_value(json_array_get(v, 2)), "c");
    json_decref(v);
}
END_TEST

START_TEST(test_keys)
{
    json_t *v = parse("<?php return [\n"
                      "  5 => 'five', -1 => 'minus', 0x10 => 'hex',\n"
                      "  \"dq\\tkey\" => 1, 'sq\\'key' => 2, '' => 3, 'caf\xC3\xA9' => 4,\n"
                      "  '05' => 'string, not 5',\n"
                      "];");
    ck_assert_uint_eq(json_object_size(v), 8);
    check_str(v, "5", "five");
    check_str(v, "-1", "minus");
    check_str(v, "16", "hex");
    check_int(v, "dq\tkey", 1);
    check_int(v, "sq'key", 2);
    check_int(v, "", 3);
    check_int(v, "caf\xC3\xA9", 4);
    check_str(v, "05", "string, not 5");
    json_decref(v);
}
END_TEST

START_TEST(test_literals)
{
    json_t *v = parse("<?php return [\n"
                      "  't1' => true, 't2' => TRUE, 't3' => True,\n"
                      "  'f1' => false, 'f2' => False,\n"
                      "  'n1' => null, 'n2' => NULL, 'n3' => Null,\n"
                      "];");
    ck_assert(json_is_true(json_object_get(v, "t1")));
    ck_assert(json_is_true(json_object_get(v, "t2")));
    ck_assert(json_is_true(json_object_get(v, "t3")));
    ck_assert(json_is_false(json_object_get(v, "f1")));
    ck_assert(json_is_false(json_object_get(v, "f2")));
    ck_assert(json_is_null(json_object_get(v, "n1")));
    ck_assert(json_is_null(json_object_get(v, "n2")));
    ck_assert(json_is_null(json_object_get(v, "n3")));
    json_decref(v);
}
END_TEST

START_TEST(test_integers)
{
    static const struct { const char *src; long long want; } cases[] = {
        { "0", 0 },
        { "-0", 0 },
        { "42", 42 },
        { "-3", -3 },
        { "1_000_000", 1000000 },
        { "0x1F", 31 },
        { "0X1f", 31 },
        { "0xff_ff", 65535 },
        { "-0x10", -16 },
        { "0755", 493 },
        { "0o17", 15 },
        { "0O17", 15 },
        { "0b101", 5 },
        { "0B1_1", 3 },
        { "9223372036854775807", LLONG_MAX },
        { "-9223372036854775808", LLONG_MIN },
        { "0x7fffffffffffffff", LLONG_MAX },
        { "-0x8000000000000000", LLONG_MIN },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        json_t *v = value_of(cases[i].src);
        ck_assert_msg(json_is_integer(v), "%s is not an integer", cases[i].src);
        ck_assert_msg(json_integer_value(v) == cases[i].want, "%s -> %" JSON_INTEGER_FORMAT,
                      cases[i].src, json_integer_value(v));
        json_decref(v);
    }
}
END_TEST

START_TEST(test_floats)
{
    static const struct { const char *src; double want; } cases[] = {
        { "1.5", 1.5 },
        { "-1.5", -1.5 },
        { "0.25", 0.25 },
        { ".5", 0.5 },
        { "-.5", -0.5 },
        { "1.", 1.0 },
        { "1e3", 1000.0 },
        { "1E+3", 1000.0 },
        { "2.5e-2", 0.025 },
        { "-2.5E-2", -0.025 },
        { "1_000.5", 1000.5 },
        { "1.e2", 100.0 },
        { "1e-400", 0.0 },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        json_t *v = value_of(cases[i].src);
        ck_assert_msg(json_is_real(v), "%s is not a real", cases[i].src);
        ck_assert_msg(json_real_value(v) == cases[i].want, "%s -> %g", cases[i].src,
                      json_real_value(v));
        json_decref(v);
    }
}
END_TEST

START_TEST(test_strings)
{
    static const struct { const char *src; const char *want; size_t n; } cases[] = {
        { "'plain'", "plain", 5 },
        { "''", "", 0 },
        { "\"\"", "", 0 },
        { "'a\\'b'", "a'b", 3 },
        { "'a\\\\b'", "a\\b", 3 },
        { "'a\\nb'", "a\\nb", 4 },          /* no escapes in single quotes */
        { "'$var {$x}'", "$var {$x}", 9 },  /* nor variables */
        { "'\"'", "\"", 1 },
        { "'two\nlines'", "two\nlines", 9 },
        { "\"\\n\\t\\r\\v\\e\\f\"", "\n\t\r\v\x1B\f", 6 },
        { "\"\\\\ \\$ \\\"\"", "\\ $ \"", 5 },
        { "\"\\101\\60\\0\"", "A0\0", 3 },
        { "\"\\x41\\x4\"", "A\x04", 2 },
        { "\"\\xg\"", "\\xg", 3 },
        { "\"\\u{41}\\u{e9}\\u{20AC}\\u{1F600}\"", "A\xC3\xA9\xE2\x82\xAC\xF0\x9F\x98\x80", 10 },
        { "\"\\u0041\"", "\\u0041", 6 },
        { "\"\\q\\{\"", "\\q\\{", 4 },
        { "\"$ $1 a$\"", "$ $1 a$", 7 },
        { "\"{ } {x}\"", "{ } {x}", 7 },
        { "\"'\"", "'", 1 },
        { "'caf\xC3\xA9'", "caf\xC3\xA9", 5 },
        { "\"caf\xC3\xA9 ?> // #\"", "caf\xC3\xA9 ?> // #", 13 },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        json_t *v = value_of(cases[i].src);
        ck_assert_msg(json_is_string(v), "%s is not a string", cases[i].src);
        ck_assert_msg(json_string_length(v) == cases[i].n &&
                          memcmp(json_string_value(v), cases[i].want, cases[i].n) == 0,
                      "%s -> \"%s\"", cases[i].src, json_string_value(v));
        json_decref(v);
    }
}
END_TEST

START_TEST(test_nesting_limit)
{
    char src[256];
    for (int depth = 31; depth <= 33; depth++) {
        int n = snprintf(src, sizeof src, "<?php\nreturn ");
        for (int i = 0; i < depth; i++)
            src[n++] = '[';
        for (int i = 0; i < depth; i++)
            src[n++] = ']';
        snprintf(src + n, sizeof src - (size_t)n, ";\n");
        nx_err e = { { 0 } };
        json_t *v = nx_phpver_parse(src, strlen(src), NAME, &e);
        if (depth <= 32) {
            ck_assert_msg(v != NULL, "depth %d: %s", depth, e.msg);
            json_decref(v);
        } else {
            ck_assert(v == NULL);
            check_msg(e.msg, NAME, 2, "nested deeper than 32");
        }
    }
    /* array() counts the same, and the line is where the deep one opens */
    int n = snprintf(src, sizeof src, "<?php\nreturn ");
    for (int i = 0; i < 32; i++)
        src[n++] = '[';
    snprintf(src + n, sizeof src - (size_t)n, "\narray(\n);");
    expect_err(src, 3, "nested deeper than 32");
}
END_TEST

START_TEST(test_line_endings)
{
    /* "\r\n" and a lone "\r" both end a line */
    expect_err("<?php\r\nreturn [\r\n'a' => X,\r\n];", 3, "found \"X\"");
    expect_err("<?php\rreturn [\r\r'a' => X,\r];", 4, "found \"X\"");
    json_t *v = parse("<?php\r\nreturn [\r\n'a' => 'x\r\ny',\r\n];\r\n");
    check_str(v, "a", "x\r\ny");
    json_decref(v);
}
END_TEST

START_TEST(test_nul_bytes)
{
    static const char src[] = "<?php return ['a' => \"x\\0y\", 'b' => 'p\0q'];";
    json_t *v = parse_n(src, sizeof src - 1);
    check_str_n(v, "a", "x\0y", 3);
    check_str_n(v, "b", "p\0q", 3);
    json_decref(v);
    /* a NUL byte outside a string is an error, not the end of the input */
    static const char bad[] = "<?php return [];\0 junk";
    expect_err_n(bad, sizeof bad - 1, 1, "found \"\\x00\"");
    /* and the input need not be NUL-terminated */
    static const char cut[] = "<?php return [1];XXXX";
    v = parse_n(cut, sizeof cut - 1 - 4);
    ck_assert_uint_eq(json_array_size(v), 1);
    json_decref(v);
    /* no text at all */
    nx_err e = { { 0 } };
    ck_assert(nx_phpver_parse(NULL, 0, NAME, &e) == NULL);
    check_msg(e.msg, NAME, 1, "<?php");
}
END_TEST

/* ---- malformed input ------------------------------------------------- */

struct bad_case {
    const char *src;
    int line;
    const char *phrase;
};

static const struct bad_case bad_cases[] = {
    /* the opening tag */
    { "", 1, "expected \"<?php\" at the start of the file, found end of file" },
    { "   \n\n", 1, "expected \"<?php\"" },
    { "return ['a' => 1];\n", 1, "expected \"<?php\" at the start of the file, found \"return\"" },
    { "\n\n<? return [];", 1, "expected \"<?php\"" },
    { "<?= 'x';", 1, "expected \"<?php\"" },
    { "<?phpreturn [];", 1, "expected \"<?php\"" },
    { "<html>\n<?php return [];", 1, "expected \"<?php\"" },
    { "\xEF\xBB<?php return [];", 1, "expected \"<?php\"" },
    /* the statement */
    { "<?php\n", 1, "expected \"return\", found end of file" },
    { "<?php\n\n['a' => 1];\n", 3, "expected \"return\", found \"[\"" },
    { "<?php\ndeclare(strict_types=1);\nreturn [];", 2, "expected \"return\", found \"declare\"" },
    { "<?php\nnamespace Nexo;\nreturn [];", 2, "found \"namespace\"" },
    { "<?php\ndefine('X', 1);\nreturn [];", 2, "found \"define\"" },
    { "<?php\n$v = [];\nreturn $v;", 2, "variables are not allowed, found \"$v\"" },
    { "<?php\n#[Attr]\nreturn [];", 2, "attributes" },
    { "<?php\nreturn [\n  #[Attr]\n  'a' => 1];", 3, "attributes" },
    { "<?php\nreturn\n;", 3, "expected an array after \"return\", found \";\"" },
    { "<?php\nreturn 'x';", 2, "expected an array after \"return\"" },
    { "<?php\nreturn ([]);", 2, "expected an array after \"return\", found \"(\"" },
    { "<?php\nreturn array;", 2, "expected \"(\" after \"array\", found \";\"" },
    { "<?php\nreturn $config;", 2, "variables are not allowed" },
    { "<?php\nreturnx [];", 2, "expected \"return\", found \"returnx\"" },
    /* the end */
    { "<?php\nreturn [\n  'a' => '1',\n]\n", 4, "expected \";\" after the array, found end of file" },
    { "<?php\nreturn []\n\necho 1;", 4, "expected \";\" after the array, found \"echo\"" },
    { "<?php\nreturn [] ?>", 2, "expected \";\"" },
    { "<?php\nreturn ['a'] . ['b'];", 2, "concatenation" },
    { "<?php\nreturn [] + [];", 2, "expected \";\" after the array, found \"+\"" },
    { "<?php\nreturn [];\necho 'x';\n", 3, "after the return statement, found \"echo\"" },
    { "<?php\nreturn [];\n\nreturn [];\n", 4, "after the return statement" },
    { "<?php\nreturn [];;", 2, "after the return statement, found \";\"" },
    { "<?php\nreturn [];\n?>\n\nhello\n", 5, "text after \"?>\" is not allowed" },
    { "<?php\nreturn [];\n?>\n<?php return [];", 4, "text after \"?>\"" },
    { "<?php\nreturn []; // end ?> junk", 2, "text after \"?>\"" },
    /* values */
    { "<?php\nreturn [\n  'v' => phpversion(),\n];", 3,
      "expected a literal value, found function call \"phpversion(...)\"" },
    { "<?php\nreturn [\n  'v' => \\strtoupper ('x'),\n];", 3, "function call" },
    { "<?php\nreturn [\n\n  'v' => PHP_VERSION,\n];", 4,
      "expected a literal value, found \"PHP_VERSION\"" },
    { "<?php\nreturn ['v' => \\Nexo\\VERSION];", 2, "found \"\\\\Nexo\\\\VERSION\"" },
    { "<?php\nreturn ['v' => Foo::BAR];", 2, "expected a literal value, found \"Foo\"" },
    { "<?php\nreturn ['v' => new Foo()];", 2, "expected a literal value, found \"new\"" },
    { "<?php\nreturn [\n  'v' => '1.' . '5',\n];", 3, "concatenation with \".\" is not allowed" },
    { "<?php\nreturn [\n  'v' => '1'.\n'5',\n];", 3, "concatenation" },
    { "<?php\nreturn [\n  'v' => $version,\n];", 3, "variables are not allowed, found \"$version\"" },
    { "<?php\nreturn [\n  'v' => \"$x\",\n];", 3, "variables are not allowed" },
    { "<?php\nreturn [\n  'v' => \"a\nb {$x->y}\",\n];", 4, "variables are not allowed" },
    { "<?php\nreturn ['v' => \"${x}\"];", 2, "variables are not allowed" },
    { "<?php\nreturn ['v' => \"\\{$x}\"];", 2, "variables are not allowed" },
    { "<?php\nreturn ['v' => <<<EOT\nx\nEOT\n];", 2, "heredoc" },
    { "<?php\nreturn ['v' => <<<'EOT'\nx\nEOT\n];", 2, "heredoc" },
    { "<?php\nreturn ['v' => `ls`];", 2, "expected a literal value, found \"`\"" },
    { "<?php\nreturn ['v' => (int) '1'];", 2, "expected a literal value, found \"(\"" },
    { "<?php\nreturn ['v' => - 1];", 2, "expected a literal value, found \"-\"" },
    { "<?php\nreturn ['v' => +1];", 2, "expected a literal value, found \"+\"" },
    { "<?php\nreturn ['v' => 1 + 1];", 2, "expected \",\" or \"]\", found \"+\"" },
    { "<?php\nreturn ['v' => true ? 1 : 2];", 2, "expected \",\" or \"]\", found \"?\"" },
    { "<?php\nreturn ['a' => 1\n'b' => 2];", 3, "expected \",\" or \"]\", found \"'b'\"" },
    { "<?php\nreturn array('a' => 1 'b' => 2);", 2, "expected \",\" or \")\", found \"'b'\"" },
    { "<?php\nreturn [1, 2);", 2, "expected \",\" or \"]\", found \")\"" },
    { "<?php\nreturn array(1, 2];", 2, "expected \",\" or \")\", found \"]\"" },
    { "<?php\nreturn [1,,2];", 2, "expected a literal value, found \",\"" },
    { "<?php\nreturn [,];", 2, "expected a literal value, found \",\"" },
    { "<?php\nreturn [\n  'a' => ,\n];", 3, "expected a literal value, found \",\"" },
    { "<?php\nreturn [\n  'a' =>\n];", 4, "expected a literal value, found \"]\"" },
    { "<?php\nreturn ['a' = 'b'];", 2, "found \"=\"" },
    { "<?php\nreturn [\n  'a' => 1,\n  'b' => [\n    1,\n", 4,
      "unterminated array (the \"[\" on this line is never closed)" },
    { "<?php\nreturn array(\n", 2, "unterminated array (the \"array(\"" },
    { "<?php\nreturn [\n  'a' => \n", 3, "expected a literal value, found end of file" },
    /* strings and comments */
    { "<?php\nreturn [\n  'a' => 'b',\n  'c' => 'd,\n];\n", 4, "unterminated string" },
    { "<?php\nreturn [\n  'a' => \"b\\\",\n];\n", 3, "unterminated string" },
    { "<?php\nreturn ['a' => 'b\\'];", 2, "unterminated string" },
    { "<?php\n/* foo\n\nreturn [];", 2, "unterminated comment" },
    { "<?php\nreturn [ /** doc\n", 2, "unterminated comment" },
    { "<?php\nreturn ['a' => /*/ 1];", 2, "unterminated comment" },
    { "<?php\nreturn [\n  'a' => \"\\xff\",\n];", 3, "string is not valid UTF-8" },
    { "<?php\nreturn [\n  'a' => '\xC3',\n];", 3, "not valid UTF-8" },
    { "<?php\nreturn ['a' => \"\\300\\200\"];", 2, "not valid UTF-8" },   /* overlong */
    { "<?php\nreturn ['a' => \"\\u{D800}\"];", 2, "not valid UTF-8" },    /* surrogate */
    { "<?php\nreturn ['\xFF' => 1];", 2, "not valid UTF-8" },
    { "<?php\nreturn ['a' => \"\\u{110000}\"];", 2, "beyond U+10FFFF" },
    { "<?php\nreturn ['a' => \"\\u{}\"];", 2, "invalid \"\\u{...}\" escape" },
    { "<?php\nreturn ['a' => \"\\u{41\"];", 2, "invalid \"\\u{...}\" escape" },
    { "<?php\nreturn ['a' => \"\\u{zz}\"];", 2, "invalid \"\\u{...}\" escape" },
    { "<?php\nreturn ['a' => \"x\n\\777\"];", 3, "greater than \"\\377\"" },
    /* numbers */
    { "<?php\nreturn [\n  9223372036854775808,\n];", 3,
      "number \"9223372036854775808\" is out of range" },
    { "<?php\nreturn [-9223372036854775809];", 2, "out of range" },
    { "<?php\nreturn [0x8000000000000000];", 2, "out of range" },
    { "<?php\nreturn [99999999999999999999999999];", 2, "out of range" },
    { "<?php\nreturn [1e999];", 2, "out of range" },
    { "<?php\nreturn [123abc];", 2, "invalid numeric literal \"123abc\"" },
    { "<?php\nreturn [1__0];", 2, "invalid numeric literal" },
    { "<?php\nreturn [1_];", 2, "invalid numeric literal" },
    { "<?php\nreturn [089];", 2, "invalid numeric literal \"089\"" },
    { "<?php\nreturn [0x];", 2, "invalid numeric literal" },
    { "<?php\nreturn [0b102];", 2, "invalid numeric literal" },
    { "<?php\nreturn [1.5.3];", 2, "invalid numeric literal" },
    { "<?php\nreturn [1e5x];", 2, "invalid numeric literal" },
    /* keys and arrays */
    { "<?php\nreturn [\n  'a' => 1,\n  2,\n];", 4,
      "cannot mix keyed and unkeyed entries in one array (opened on line 2)" },
    { "<?php\nreturn [\n  1,\n  'a' => 2,\n];", 4, "cannot mix keyed and unkeyed" },
    { "<?php\nreturn [\n  'a' => 1,\n  'b' => 2,\n  'a' => 3,\n];", 5,
      "duplicate key \"a\" (first on line 3)" },
    { "<?php\nreturn [\n  1 => 'x',\n  '1' => 'y',\n];", 4, "duplicate key \"1\" (first on line 3)" },
    { "<?php\nreturn ['a' => ['b' => 1, \"b\" => 2]];", 2, "duplicate key \"b\"" },
    { "<?php\nreturn [1.5 => 'x'];", 2, "array keys must be strings or integers, found \"1.5\"" },
    { "<?php\nreturn [true => 'x'];", 2, "array keys must be strings or integers" },
    { "<?php\nreturn [null => 'x'];", 2, "array keys must be strings or integers" },
    { "<?php\nreturn [[] => 'x'];", 2, "array keys must be strings or integers" },
    { "<?php\nreturn [\"a\\0b\" => 'x'];", 2, "NUL" },
    /* stray characters */
    { "<?php\nreturn [\v];", 2, "found \"\\x0b\"" },
    { "<?php\nreturn [@foo];", 2, "found \"@\"" },
};

START_TEST(test_malformed)
{
    const struct bad_case *c = &bad_cases[_i];
    expect_err(c->src, c->line, c->phrase);
}
END_TEST

/* ---- files ----------------------------------------------------------- */

static void load_err(const char *file, int line, const char *phrase)
{
    char *path = nx_xasprintf(FIX "%s", file);
    nx_err e = { { 0 } };
    json_t *v = nx_phpver_load(path, &e);
    ck_assert_msg(v == NULL, "%s was accepted", path);
    check_msg(e.msg, path, line, phrase);
    free(path);
}

START_TEST(test_load_good)
{
    nx_err e = { { 0 } };
    json_t *v = nx_phpver_load(FIX "good_version.php", &e);
    ck_assert_msg(v != NULL, "%s", e.msg);
    check_example(v);
    json_decref(v);

    v = nx_phpver_load(FIX "good_array_syntax.php", &e);
    ck_assert_msg(v != NULL, "%s", e.msg);
    check_str(v, "version", "2.0.0-rc.1");
    check_int(v, "version_code", 2000000);
    json_t *req = json_object_get(v, "requires");
    check_str(req, "php", "8.2.0");
    json_t *ext = json_object_get(req, "extensions");
    ck_assert_uint_eq(json_array_size(ext), 2);
    ck_assert_str_eq(json_string_value(json_array_get(ext, 1)), "mbstring");
    ck_assert(json_is_array(json_object_get(v, "plugins")));
    ck_assert_uint_eq(json_array_size(json_object_get(v, "plugins")), 0);
    json_decref(v);

    v = nx_phpver_load(FIX "good_crlf.php", &e);
    ck_assert_msg(v != NULL, "%s", e.msg);
    check_str(v, "version", "1.0.0");
    check_str(v, "notes", "line one\r\nline two");
    json_decref(v);
}
END_TEST

START_TEST(test_load_bad)
{
    load_err("bad_constant.php", 14, "expected a literal value, found \"PHP_VERSION\"");
    load_err("bad_function_call.php", 4, "function call \"date(...)\"");
    load_err("bad_unterminated_string.php", 4, "unterminated string");
    load_err("bad_text_after_close.php", 7, "text after \"?>\"");
    load_err("bad_variable.php", 2, "variables are not allowed, found \"$major\"");
    load_err("bad_duplicate_key.php", 5, "duplicate key \"version\" (first on line 3)");
    load_err("bad_no_open_tag.php", 1, "expected \"<?php\"");
    load_err("bad_empty.php", 1, "found end of file");
}
END_TEST

START_TEST(test_load_missing)
{
    nx_err e = { { 0 } };
    json_t *v = nx_phpver_load(FIX "does_not_exist.php", &e);
    ck_assert(v == NULL);
    ck_assert_msg(strstr(e.msg, "does_not_exist.php") != NULL, "%s", e.msg);
    ck_assert_msg(strstr(e.msg, "cannot open") != NULL, "%s", e.msg);
}
END_TEST

START_TEST(test_load_too_big)
{
    char path[] = "/tmp/test_phpver_XXXXXX";
    int fd = mkstemp(path);
    ck_assert_int_ge(fd, 0);
    FILE *fp = fdopen(fd, "w");
    ck_assert_ptr_nonnull(fp);
    fputs("<?php\nreturn [\n", fp);
    for (int i = 0; i < 70000; i++)
        fprintf(fp, "  'padding-%06d',\n", i);
    fputs("];\n", fp);
    fclose(fp);
    nx_err e = { { 0 } };
    json_t *v = nx_phpver_load(path, &e);
    unlink(path);
    ck_assert(v == NULL);
    ck_assert_msg(strstr(e.msg, "larger than") != NULL, "%s", e.msg);
}
END_TEST

static Suite *phpver_suite(void)
{
    Suite *s = suite_create("phpver");
    TCase *tc = tcase_create("parse");
    tcase_add_test(tc, test_example);
    tcase_add_test(tc, test_opening);
    tcase_add_test(tc, test_comments);
    tcase_add_test(tc, test_array_syntax);
    tcase_add_test(tc, test_keys);
    tcase_add_test(tc, test_literals);
    tcase_add_test(tc, test_integers);
    tcase_add_test(tc, test_floats);
    tcase_add_test(tc, test_strings);
    tcase_add_test(tc, test_nesting_limit);
    tcase_add_test(tc, test_line_endings);
    tcase_add_test(tc, test_nul_bytes);
    tcase_add_loop_test(tc, test_malformed, 0, (int)(sizeof bad_cases / sizeof bad_cases[0]));
    suite_add_tcase(s, tc);

    TCase *tf = tcase_create("files");
    tcase_add_test(tf, test_load_good);
    tcase_add_test(tf, test_load_bad);
    tcase_add_test(tf, test_load_missing);
    tcase_add_test(tf, test_load_too_big);
    suite_add_tcase(s, tf);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(phpver_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
