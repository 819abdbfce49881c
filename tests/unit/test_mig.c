/* Unit tests for steps/lib/mig.c: migration and install files (Check). */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mig.h"
#include "testutil.h"
#include "util.h"

#define N_ELEMS(a) (sizeof(a) / sizeof((a)[0]))
#define TS 1700000000LL

/* ---- helpers ----------------------------------------------------------- */

static char *fixture(const char *rel)
{
    return nx_xasprintf("%s/tests/fixtures/migrations/%s", NX_TEST_SRCDIR, rel);
}

static nx_mig *load_path(const char *path)
{
    nx_err e = {{0}};
    nx_mig *m = nx_mig_load(path, TS, &e);
    ck_assert_msg(m != NULL, "load failed: %s", e.msg);
    ck_assert_str_eq(m->file, path);
    return m;
}

static nx_mig *load_text(const char *name, const char *text)
{
    char *path = tu_write(name, text);
    nx_mig *m = load_path(path);
    free(path);
    return m;
}

/* Upgrade 1.0.0 → 1.1.0 around `body`, which starts on line 3. */
#define UP(body) "<?xml version=\"1.0\"?>\n<upgrade from=\"1.0.0\" to=\"1.1.0\">\n" body "</upgrade>\n"
#define TABLE(cols) "<database>\n<create_table name=\"t\">\n<columns>\n" cols "</columns>\n</create_table>\n</database>\n"

static nx_mig *load_body(const char *text)
{
    return load_text("m.xml", text);
}

static void expect_error(const char *name, const char *text, int line, const char *needle)
{
    char *path = tu_write(name, text);
    nx_err e = {{0}};
    nx_mig *m = nx_mig_load(path, TS, &e);
    ck_assert_msg(m == NULL, "loaded although it should fail:\n%s", text);
    char where[512];
    snprintf(where, sizeof where, "%s:%d: ", path, line);
    ck_assert_msg(strncmp(e.msg, where, strlen(where)) == 0, "'%s' does not start with '%s'",
                  e.msg, where);
    ck_assert_msg(strstr(e.msg, needle) != NULL, "'%s' lacks '%s'", e.msg, needle);
    ck_assert_msg(strchr(e.msg, '\n') == NULL, "message spans lines: '%s'", e.msg);
    free(path);
}

static const struct nexo_op *op_at(const nx_mig *m, size_t i, enum nexo_op_kind kind,
                                   const char *table, int line)
{
    ck_assert_msg(i < m->nops, "op %zu of %zu", i, m->nops);
    const struct nexo_op *op = &m->ops[i];
    ck_assert_int_eq(op->kind, kind);
    ck_assert_str_eq(op->table, table);
    ck_assert_int_eq(op->line, line);
    ck_assert_str_eq(op->file, m->file);
    return op;
}

static void assert_col(const struct nexo_column *c, const char *name, enum nexo_coltype type,
                       int uns, unsigned length, int nullable, int ai, int primary)
{
    ck_assert_str_eq(c->name, name);
    ck_assert_int_eq(c->type, type);
    ck_assert_int_eq(c->is_unsigned, uns);
    ck_assert_uint_eq(c->length, length);
    ck_assert_int_eq(c->nullable, nullable);
    ck_assert_int_eq(c->autoincrement, ai);
    ck_assert_int_eq(c->primary, primary);
}

/* ---- the spec's example (§5.2) ----------------------------------------------- */

/* The example as printed in the spec has a raw '<' in an attribute value
 * (<delete where="last_activity < ...">), which XML forbids; the reader
 * accepts it (the spec is the format), and only inside attribute values. */
START_TEST(test_spec_verbatim_raw_lt)
{
    char *path = fixture("spec/upgrade_1.4.0_1.5.0.xml");
    nx_mig *m = load_path(path);
    const struct nexo_op *del = &m->ops[m->nops - 1];
    ck_assert_int_eq(del->kind, NEXO_OP_DELETE);
    ck_assert_str_eq(del->where_sql, "last_activity < 1700000000-2592000");
    nx_mig_free(m);
    free(path);
    /* a raw '<' in text is still malformed */
    char *bad = tu_write("upgrade_1.0.0_1.1.0.xml",
                         "<?xml version=\"1.0\"?>\n<upgrade from=\"1.0.0\" to=\"1.1.0\">\n"
                         "<description>a < b</description>\n</upgrade>\n");
    nx_err e = {{0}};
    ck_assert_ptr_null(nx_mig_load(bad, TS, &e));
    ck_assert_msg(strstr(e.msg, ":3: malformed XML") != NULL, "got '%s'", e.msg);
    free(bad);
}
END_TEST

START_TEST(test_spec_example_fields)
{
    char *path = fixture("spec/upgrade_1.4.0_1.5.0.xml");
    nx_mig *m = load_path(path);
    ck_assert_int_eq(m->is_install, 0);
    ck_assert_str_eq(m->from, "1.4.0");
    ck_assert_str_eq(m->to, "1.5.0");
    ck_assert_str_eq(m->description, "Add notification system and user preferences enhancements");
    ck_assert_uint_eq(m->nops, 9);

    /* <create_table name="notifications"> */
    const struct nexo_op *op = op_at(m, 0, NEXO_OP_CREATE_TABLE, "notifications", 8);
    ck_assert_uint_eq(op->ncolumns, 6);
    assert_col(&op->columns[0], "id", NEXO_T_BIGINT, 1, 0, 0, 1, 1);
    assert_col(&op->columns[1], "user_id", NEXO_T_INT, 1, 0, 0, 0, 0);
    assert_col(&op->columns[2], "title", NEXO_T_VARCHAR, 0, 255, 1, 0, 0);
    assert_col(&op->columns[3], "message", NEXO_T_TEXT, 0, 0, 1, 0, 0);
    assert_col(&op->columns[4], "read_at", NEXO_T_INT, 1, 0, 1, 0, 0);
    assert_col(&op->columns[5], "created_at", NEXO_T_INT, 1, 0, 0, 0, 0);
    for (size_t i = 0; i < 6; i++) {
        ck_assert_ptr_null(op->columns[i].default_value);
        ck_assert_ptr_null(op->columns[i].after);
        ck_assert_uint_eq(op->columns[i].scale, 0);
    }
    ck_assert_uint_eq(op->nindexes, 2);
    ck_assert_str_eq(op->indexes[0].name, "idx_user_id");
    ck_assert_uint_eq(op->indexes[0].ncolumns, 1);
    ck_assert_str_eq(op->indexes[0].columns[0], "user_id");
    ck_assert_int_eq(op->indexes[0].unique, 0);
    ck_assert_str_eq(op->indexes[1].name, "idx_read_at");
    ck_assert_str_eq(op->indexes[1].columns[0], "read_at");
    ck_assert_uint_eq(op->nfkeys, 1);
    ck_assert_str_eq(op->fkeys[0].column, "user_id");
    ck_assert_str_eq(op->fkeys[0].ref_table, "users");
    ck_assert_str_eq(op->fkeys[0].ref_column, "id");
    ck_assert_str_eq(op->fkeys[0].on_delete, "CASCADE");
    ck_assert_ptr_null(op->fkeys[0].on_update);

    /* <modify_table name="users">: four children, four operations */
    op = op_at(m, 1, NEXO_OP_ADD_COLUMN, "users", 29);
    ck_assert_uint_eq(op->ncolumns, 1);
    assert_col(&op->columns[0], "avatar_url", NEXO_T_VARCHAR, 0, 255, 1, 0, 0);
    ck_assert_str_eq(op->columns[0].after, "email");
    op = op_at(m, 2, NEXO_OP_MODIFY_COLUMN, "users", 32);
    ck_assert_uint_eq(op->ncolumns, 1);
    ck_assert_str_eq(op->columns[0].name, "bio");
    ck_assert_int_eq(op->columns[0].type, NEXO_T_TEXT);
    ck_assert_uint_eq(op->columns[0].length, 2000);
    ck_assert_int_eq(op->modify_null, 0);
    ck_assert_int_eq(op->modify_default, 0);
    op = op_at(m, 3, NEXO_OP_ADD_INDEX, "users", 35);
    ck_assert_uint_eq(op->nindexes, 1);
    ck_assert_str_eq(op->indexes[0].name, "idx_avatar");
    ck_assert_uint_eq(op->indexes[0].ncolumns, 1);
    ck_assert_str_eq(op->indexes[0].columns[0], "avatar_url");
    op = op_at(m, 4, NEXO_OP_DROP_COLUMN, "users", 38);
    ck_assert_str_eq(op->column, "deprecated_field");
    op_at(m, 5, NEXO_OP_DROP_TABLE, "obsolete_table", 42);

    /* <data> (the <update> start tag spans lines 48 to 50) */
    op = op_at(m, 6, NEXO_OP_UPDATE, "users", 48);
    ck_assert_str_eq(op->set_sql, "avatar_url='/assets/images/default-avatar.png'");
    ck_assert_str_eq(op->where_sql, "avatar_url IS NULL");
    op = op_at(m, 7, NEXO_OP_INSERT, "config", 53);
    ck_assert_uint_eq(op->nnames, 4);
    ck_assert_uint_eq(op->nrows, 1);
    const char *names[] = {"config_key", "config_value", "config_type", "category"};
    const char *values[] = {"notifications.enabled", "true", "bool", "notifications"};
    for (size_t i = 0; i < 4; i++) {
        ck_assert_str_eq(op->names[i], names[i]);
        ck_assert_str_eq(op->values[i], values[i]);
    }
    op = op_at(m, 8, NEXO_OP_DELETE, "sessions", 63);
    ck_assert_str_eq(op->where_sql, "last_activity < 1700000000-2592000");
    ck_assert_ptr_null(op->set_sql);

    /* <custom>, <cleanup> */
    ck_assert_uint_eq(m->nscripts, 1);
    ck_assert_str_eq(m->scripts[0].path, "scripts/upgrade_1.4_to_1.5.php");
    ck_assert_int_eq(m->scripts[0].line, 68);
    ck_assert_uint_eq(m->ncleanup, 3);
    ck_assert_int_eq(m->cleanup[0].kind, NX_CLEANUP_DELETE_FILE);
    ck_assert_str_eq(m->cleanup[0].path, "public_html/old_file.php");
    ck_assert_int_eq(m->cleanup[0].line, 74);
    ck_assert_int_eq(m->cleanup[1].kind, NX_CLEANUP_DELETE_DIRECTORY);
    ck_assert_str_eq(m->cleanup[1].path, "modules/deprecated");
    ck_assert_int_eq(m->cleanup[1].line, 75);
    ck_assert_int_eq(m->cleanup[2].kind, NX_CLEANUP_CLEAR_CACHE);
    ck_assert_str_eq(m->cleanup[2].path, "template_cache");
    ck_assert_int_eq(m->cleanup[2].line, 78);
    nx_mig_free(m);
    free(path);
}
END_TEST

START_TEST(test_install_fixture)
{
    char *path = fixture("install/install.xml");
    nx_mig *m = load_path(path);
    ck_assert_int_eq(m->is_install, 1);
    ck_assert_ptr_null(m->from);
    ck_assert_str_eq(m->to, "1.0.0");
    ck_assert_str_eq(m->description, "NexoSupport 1.0.0");
    ck_assert_uint_eq(m->nops, 4);
    ck_assert_uint_eq(m->nscripts, 0);
    ck_assert_uint_eq(m->ncleanup, 0);

    const struct nexo_op *op = op_at(m, 0, NEXO_OP_CREATE_TABLE, "users", 6);
    ck_assert_uint_eq(op->ncolumns, 5);
    assert_col(&op->columns[0], "id", NEXO_T_INT, 1, 0, 0, 1, 1);
    assert_col(&op->columns[1], "email", NEXO_T_VARCHAR, 0, 190, 0, 0, 0);
    assert_col(&op->columns[2], "balance", NEXO_T_DECIMAL, 0, 10, 1, 0, 0);
    ck_assert_uint_eq(op->columns[2].scale, 2);
    ck_assert_str_eq(op->columns[2].default_value, "0.00");
    assert_col(&op->columns[3], "is_admin", NEXO_T_BOOLEAN, 0, 0, 0, 0, 0);
    ck_assert_str_eq(op->columns[3].default_value, "0");
    ck_assert_uint_eq(op->nindexes, 1);
    ck_assert_int_eq(op->indexes[0].unique, 1);

    op = op_at(m, 1, NEXO_OP_CREATE_TABLE, "config", 18);
    assert_col(&op->columns[0], "config_key", NEXO_T_VARCHAR, 0, 100, 0, 0, 1);
    ck_assert_str_eq(op->columns[2].default_value, "string");
    ck_assert_uint_eq(op->indexes[0].ncolumns, 2);
    ck_assert_str_eq(op->indexes[0].columns[0], "category");
    ck_assert_str_eq(op->indexes[0].columns[1], "config_type");

    op = op_at(m, 2, NEXO_OP_CREATE_TABLE, "sessions", 29);
    assert_col(&op->columns[0], "id", NEXO_T_CHAR, 0, 64, 0, 0, 1);
    assert_col(&op->columns[2], "data", NEXO_T_LONGTEXT, 0, 0, 1, 0, 0);
    ck_assert_uint_eq(op->nfkeys, 1);
    ck_assert_str_eq(op->fkeys[0].on_delete, "SET NULL");
    ck_assert_str_eq(op->fkeys[0].on_update, "NO ACTION");

    op = op_at(m, 3, NEXO_OP_INSERT, "config", 42);
    ck_assert_uint_eq(op->nnames, 4);
    ck_assert_uint_eq(op->nrows, 2);
    ck_assert_str_eq(op->values[0], "site.name");
    ck_assert_str_eq(op->values[1], "NexoSupport");
    ck_assert_str_eq(op->values[4], "site.logo");
    ck_assert_ptr_null(op->values[5]);
    ck_assert_str_eq(op->values[6], "string");
    ck_assert_str_eq(op->values[7], "");
    nx_mig_free(m);
    free(path);
}
END_TEST

/* ---- accepted variants ---------------------------------------------------------- */

START_TEST(test_types_normalized)
{
    static const struct {
        const char *attrs;
        enum nexo_coltype type;
        int uns;
        unsigned length, scale;
    } cases[] = {
        {"type=\" bigint \t unsigned \"", NEXO_T_BIGINT, 1, 0, 0},
        {"type=\"Integer\"", NEXO_T_INT, 0, 0, 0},
        {"type=\"tinyint UNSIGNED\"", NEXO_T_TINYINT, 1, 0, 0},
        {"type=\"SmallInt\"", NEXO_T_SMALLINT, 0, 0, 0},
        {"type=\"numeric\" length=\"65\" scale=\"30\"", NEXO_T_DECIMAL, 0, 65, 30},
        {"type=\"DECIMAL\" length=\"5\"", NEXO_T_DECIMAL, 0, 5, 0},
        {"type=\"float\"", NEXO_T_FLOAT, 0, 0, 0},
        {"type=\"DOUBLE\"", NEXO_T_DOUBLE, 0, 0, 0},
        {"type=\"bool\"", NEXO_T_BOOLEAN, 0, 0, 0},
        {"type=\"boolean\"", NEXO_T_BOOLEAN, 0, 0, 0},
        {"type=\"char\" length=\"1\"", NEXO_T_CHAR, 0, 1, 0},
        {"type=\"VARCHAR\" length=\"65535\"", NEXO_T_VARCHAR, 0, 65535, 0},
        {"type=\"text\" length=\"70000\"", NEXO_T_TEXT, 0, 70000, 0},
        {"type=\"MEDIUMTEXT\"", NEXO_T_MEDIUMTEXT, 0, 0, 0},
        {"type=\"LONGTEXT\"", NEXO_T_LONGTEXT, 0, 0, 0},
        {"type=\"blob\"", NEXO_T_BLOB, 0, 0, 0},
        {"type=\"date\"", NEXO_T_DATE, 0, 0, 0},
        {"type=\"DateTime\"", NEXO_T_DATETIME, 0, 0, 0},
        {"type=\"TIMESTAMP\"", NEXO_T_TIMESTAMP, 0, 0, 0},
        {"type=\"json\"", NEXO_T_JSON, 0, 0, 0},
    };
    for (size_t i = 0; i < N_ELEMS(cases); i++) {
        char *text = nx_xasprintf(UP(TABLE("<column name=\"c\" %s/>\n")), cases[i].attrs);
        nx_mig *m = load_body(text);
        const struct nexo_column *c = &m->ops[0].columns[0];
        ck_assert_msg(c->type == cases[i].type, "%s: type %d", cases[i].attrs, (int)c->type);
        ck_assert_int_eq(c->is_unsigned, cases[i].uns);
        ck_assert_uint_eq(c->length, cases[i].length);
        ck_assert_uint_eq(c->scale, cases[i].scale);
        nx_mig_free(m);
        free(text);
    }
}
END_TEST

START_TEST(test_booleans_and_defaults)
{
    nx_mig *m = load_body(UP(TABLE("<column name=\"a\" type=\"INT\" primary=\"1\" autoincrement=\"1\"/>\n"
                                   "<column name=\"b\" type=\"INT\" null=\"0\" default=\"\"/>\n"
                                   "<column name=\"c\" type=\"INT\" null=\"1\" primary=\"0\"/>\n"
                                   "<column name=\"d\" type=\"INT\" null=\"false\" autoincrement=\"false\" default=\"7\"/>\n")));
    const struct nexo_column *c = m->ops[0].columns;
    ck_assert_uint_eq(m->ops[0].ncolumns, 4);
    assert_col(&c[0], "a", NEXO_T_INT, 0, 0, 0, 1, 1);
    assert_col(&c[1], "b", NEXO_T_INT, 0, 0, 0, 0, 0);
    ck_assert_str_eq(c[1].default_value, "");
    assert_col(&c[2], "c", NEXO_T_INT, 0, 0, 1, 0, 0);
    ck_assert_ptr_null(c[2].default_value);
    assert_col(&c[3], "d", NEXO_T_INT, 0, 0, 0, 0, 0);
    ck_assert_str_eq(c[3].default_value, "7");
    nx_mig_free(m);
}
END_TEST

START_TEST(test_modify_and_add_column)
{
    nx_mig *m = load_body(UP("<database>\n<modify_table name=\"u\">\n"
                             "<modify_column name=\"a\" new_type=\"decimal\" new_length=\"8\" new_scale=\"3\" null=\"false\" default=\"1.5\"/>\n"
                             "<modify_column name=\"b\" new_type=\"INT UNSIGNED\" null=\"true\"/>\n"
                             "<add_column name=\"id2\" type=\"BIGINT\" primary=\"true\" autoincrement=\"true\"/>\n"
                             "<add_index name=\"ix\" columns=\" a , b \" unique=\"true\"/>\n"
                             "</modify_table>\n</database>\n"));
    ck_assert_uint_eq(m->nops, 4);
    const struct nexo_op *op = op_at(m, 0, NEXO_OP_MODIFY_COLUMN, "u", 5);
    ck_assert_int_eq(op->columns[0].type, NEXO_T_DECIMAL);
    ck_assert_uint_eq(op->columns[0].length, 8);
    ck_assert_uint_eq(op->columns[0].scale, 3);
    ck_assert_int_eq(op->columns[0].nullable, 0);
    ck_assert_str_eq(op->columns[0].default_value, "1.5");
    ck_assert_int_eq(op->modify_null, 1);
    ck_assert_int_eq(op->modify_default, 1);
    op = op_at(m, 1, NEXO_OP_MODIFY_COLUMN, "u", 6);
    ck_assert_int_eq(op->columns[0].is_unsigned, 1);
    ck_assert_int_eq(op->columns[0].nullable, 1);
    ck_assert_int_eq(op->modify_null, 1);
    ck_assert_int_eq(op->modify_default, 0);
    op = op_at(m, 2, NEXO_OP_ADD_COLUMN, "u", 7);
    assert_col(&op->columns[0], "id2", NEXO_T_BIGINT, 0, 0, 0, 1, 1);
    ck_assert_ptr_null(op->columns[0].after);
    op = op_at(m, 3, NEXO_OP_ADD_INDEX, "u", 8);
    ck_assert_uint_eq(op->indexes[0].ncolumns, 2);
    ck_assert_str_eq(op->indexes[0].columns[0], "a");
    ck_assert_str_eq(op->indexes[0].columns[1], "b");
    ck_assert_int_eq(op->indexes[0].unique, 1);
    nx_mig_free(m);
}
END_TEST

START_TEST(test_timestamp_and_quotes)
{
    nx_mig *m = load_text("m.xml", UP("<data>\n"
        "<update table=\"t\" set=\"note='a;b', x=&quot;c;d&quot;, y=`e;f`, z='it''s;', w='\\';'\" "
        "where=\"a &lt; {{TIMESTAMP}} AND b &gt;= {{TIMESTAMP}}-1\"/>\n"
        "<delete table=\"t\"/>\n"
        "<delete table=\"t\" where=\"{{TIMESTAMP}}\"/>\n"
        "</data>\n"));
    ck_assert_uint_eq(m->nops, 3);
    ck_assert_str_eq(m->ops[0].set_sql, "note='a;b', x=\"c;d\", y=`e;f`, z='it''s;', w='\\';'");
    ck_assert_str_eq(m->ops[0].where_sql, "a < 1700000000 AND b >= 1700000000-1");
    ck_assert_ptr_null(m->ops[1].where_sql);
    ck_assert_str_eq(m->ops[2].where_sql, "1700000000");
    nx_mig_free(m);

    char *path = tu_write("n.xml", UP("<data>\n<delete table=\"t\" where=\"x = {{TIMESTAMP}}\"/>\n</data>\n"));
    nx_err e = {{0}};
    m = nx_mig_load(path, -5, &e);
    ck_assert_ptr_nonnull(m);
    ck_assert_str_eq(m->ops[0].where_sql, "x = -5");
    nx_mig_free(m);
    free(path);
}
END_TEST

/* The schema first, then the data, wherever <data> stands. */
START_TEST(test_database_before_data)
{
    nx_mig *m = load_body(UP("<data>\n<delete table=\"a\"/>\n</data>\n"
                             "<database>\n<drop_table name=\"b\"/>\n</database>\n"));
    ck_assert_uint_eq(m->nops, 2);
    op_at(m, 0, NEXO_OP_DROP_TABLE, "b", 7);
    op_at(m, 1, NEXO_OP_DELETE, "a", 4);
    nx_mig_free(m);
}
END_TEST

START_TEST(test_comments_cdata_and_whitespace)
{
    nx_mig *m = load_body("<?xml version=\"1.0\"?>\n<!-- head -->\n"
                          "<upgrade from=\"1.0.0\" to=\"1.1.0\"><!-- c --><description>\n"
                          "  Two <!-- x --> parts <![CDATA[& more]]>\n</description>\n"
                          "<data><!-- c --><insert table=\"t\"><row><!-- c -->\n"
                          "<a><![CDATA[<b> & ;]]></a><b>  spaced  </b><c/></row></insert></data>\n"
                          "<custom> <script>\n  s/run.php\n</script> </custom>\n"
                          "<cleanup><delete_file> ./a//b/./c.txt </delete_file>"
                          "<delete_directory>x/y/</delete_directory></cleanup>\n"
                          "</upgrade>\n");
    ck_assert_str_eq(m->description, "Two  parts & more");
    const struct nexo_op *op = op_at(m, 0, NEXO_OP_INSERT, "t", 6);
    ck_assert_uint_eq(op->nnames, 3);
    ck_assert_str_eq(op->values[0], "<b> & ;");
    ck_assert_str_eq(op->values[1], "  spaced  ");
    ck_assert_str_eq(op->values[2], "");
    ck_assert_str_eq(m->scripts[0].path, "s/run.php");
    ck_assert_int_eq(m->scripts[0].line, 8);
    ck_assert_str_eq(m->cleanup[0].path, "a/b/c.txt");
    ck_assert_str_eq(m->cleanup[1].path, "x/y");
    nx_mig_free(m);
}
END_TEST

START_TEST(test_empty_upgrade)
{
    nx_mig *m = load_body("<upgrade from=\"1.0.0-rc.1\" to=\"1.0.0\"/>");
    ck_assert_str_eq(m->from, "1.0.0-rc.1");
    ck_assert_ptr_null(m->description);
    ck_assert_uint_eq(m->nops, 0);
    ck_assert_uint_eq(m->nscripts, 0);
    ck_assert_uint_eq(m->ncleanup, 0);
    nx_mig_free(m);
    nx_mig_free(NULL);
}
END_TEST

START_TEST(test_file_name_matches)
{
    nx_mig *m = load_text("upgrade_1.0.0_1.1.0.xml", UP(""));
    nx_mig_free(m);
    m = load_text("upgrade-notes.xml", UP(""));
    nx_mig_free(m);
    m = load_text("install.xml", "<install version=\"2.0.0-beta.1\"/>");
    ck_assert_int_eq(m->is_install, 1);
    ck_assert_str_eq(m->to, "2.0.0-beta.1");
    nx_mig_free(m);
}
END_TEST

START_TEST(test_index_columns_and_multiple_rows)
{
    nx_mig *m = load_body(UP("<data><insert table=\"t\">\n"
                             "<row><a>1</a><b null=\"true\"/></row>\n"
                             "<row><a>2</a><b null=\"false\">x</b></row>\n"
                             "<row><a></a><b>y</b></row>\n"
                             "</insert></data>\n"));
    const struct nexo_op *op = &m->ops[0];
    ck_assert_uint_eq(op->nrows, 3);
    ck_assert_uint_eq(op->nnames, 2);
    ck_assert_str_eq(op->values[0], "1");
    ck_assert_ptr_null(op->values[1]);
    ck_assert_str_eq(op->values[2], "2");
    ck_assert_str_eq(op->values[3], "x");
    ck_assert_str_eq(op->values[4], "");
    ck_assert_str_eq(op->values[5], "y");
    nx_mig_free(m);
}
END_TEST

START_TEST(test_ident_ok)
{
    static const char long63[] = "a23456789012345678901234567890123456789012345678901234567890123";
    static const char long64[] = "a234567890123456789012345678901234567890123456789012345678901234";
    ck_assert_int_eq(nx_mig_ident_ok("users"), 1);
    ck_assert_int_eq(nx_mig_ident_ok("_x9"), 1);
    ck_assert_int_eq(nx_mig_ident_ok("A"), 1);
    ck_assert_int_eq(nx_mig_ident_ok(long63), 1);
    ck_assert_int_eq(nx_mig_ident_ok(long64), 0);
    ck_assert_int_eq(nx_mig_ident_ok(""), 0);
    ck_assert_int_eq(nx_mig_ident_ok(NULL), 0);
    ck_assert_int_eq(nx_mig_ident_ok("9a"), 0);
    ck_assert_int_eq(nx_mig_ident_ok("users; DROP"), 0);
    ck_assert_int_eq(nx_mig_ident_ok("a-b"), 0);
    ck_assert_int_eq(nx_mig_ident_ok("a.b"), 0);
    ck_assert_int_eq(nx_mig_ident_ok("caf\xc3\xa9"), 0);
    ck_assert_int_eq(nx_mig_ident_ok("`x`"), 0);
}
END_TEST

START_TEST(test_missing_file)
{
    char *path = nx_path_join(tu_dir, "nope.xml");
    nx_err e = {{0}};
    ck_assert_ptr_null(nx_mig_load(path, TS, &e));
    ck_assert_msg(strstr(e.msg, path) == e.msg, "'%s'", e.msg);
    ck_assert_msg(strstr(e.msg, "cannot open"), "'%s'", e.msg);
    free(path);
}
END_TEST

/* Lines are where an element or text begins, also past libxml2's 65535
 * and with CRLF line ends. */
START_TEST(test_line_numbers)
{
    size_t blank = 70000;
    char *text = nx_xmalloc(blank + 512);
    strcpy(text, "<?xml version=\"1.0\"?>\n<upgrade from=\"1.0.0\" to=\"1.1.0\">");
    memset(text + strlen(text), '\n', blank);
    strcpy(text + strlen("<?xml version=\"1.0\"?>\n<upgrade from=\"1.0.0\" to=\"1.1.0\">") + blank,
           "<database>\n<drop_table\n name=\"a\"/>\n<drop_table name=\"b\"/>\n</database>\n</upgrade>\n");
    nx_mig *m = load_body(text);
    ck_assert_uint_eq(m->nops, 2);
    ck_assert_int_eq(m->ops[0].line, 70003);
    ck_assert_int_eq(m->ops[1].line, 70005);
    nx_mig_free(m);
    strcpy(strstr(text, "<drop_table name=\"b\"/>"), "\n  hello\n</database></upgrade>\n");
    expect_error("m.xml", text, 70006, "unexpected text 'hello' in <database>");
    free(text);

    expect_error("m.xml", "<?xml version=\"1.0\"?>\r\n<upgrade from=\"1.0.0\" to=\"1.1.0\">\r\n"
                 "<database>\r\n<drop_table\r\n name=\"a\"/>\r\n<drop_table\r\n name=\"a b\"/>\r\n"
                 "</database></upgrade>\r\n", 6, "invalid identifier 'a b' for table name");
    expect_error("m.xml", "<?xml version=\"1.0\"?>\r\n<upgrade from=\"1.0.0\" to=\"1.1.0\">\r\n"
                 "<database>\r\n\r\n  hello\r\n</database></upgrade>\r\n", 5, "unexpected text 'hello'");
}
END_TEST

/* ---- rejected files ---------------------------------------------------------------- */

#define H "<?xml version=\"1.0\"?>\n<upgrade from=\"1.0.0\" to=\"1.1.0\">\n"
#define E "</upgrade>\n"
#define DB(x) H "<database>\n" x "</database>\n" E
#define CT(x) DB("<create_table name=\"t\">\n<columns>\n" x "</columns>\n</create_table>\n")
#define DATA(x) H "<data>\n" x "</data>\n" E

static const struct bad {
    const char *file;   /* NULL: m.xml */
    const char *xml;
    int line;
    const char *needle;
} bad[] = {
    /* XML itself */
    {NULL, DB("<create_table name=\"t\">\n"), 5, "malformed XML: Opening and ending tag mismatch"},
    {NULL, "", 1, "malformed XML: Document is empty"},
    {NULL, H "<description>a &amp b</description>\n" E, 3, "malformed XML"},
    {NULL, H "<description>&x;</description>\n" E, 3, "malformed XML: Entity 'x' not defined"},
    {NULL, "<?xml version=\"1.0\"?>\n<!DOCTYPE upgrade [\n<!ENTITY x \"users; DROP\">\n]>\n"
           "<upgrade from=\"1.0.0\" to=\"1.1.0\"><description>&x;</description></upgrade>\n",
     2, "DOCTYPE is not allowed"},
    {NULL, "<?xml version=\"1.0\"?>\n\n<!DOCTYPE upgrade [\n<!ENTITY a \"aaaaaaaaaa\">\n"
           "<!ENTITY b \"&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;\">\n<!ENTITY c \"&b;&b;&b;&b;&b;&b;&b;&b;\">\n]>\n"
           "<upgrade from=\"1.0.0\" to=\"1.1.0\"><description>&c;</description></upgrade>\n",
     3, "DOCTYPE is not allowed"},
    {NULL, "<!DOCTYPE upgrade SYSTEM \"file:///etc/passwd\">\n<upgrade from=\"1.0.0\" to=\"1.1.0\"/>\n",
     1, "DOCTYPE is not allowed"},
    {NULL, "<?xml version=\"1.0\"?>\n<upgrade xmlns=\"urn:x\" from=\"1.0.0\" to=\"1.1.0\"/>\n", 2,
     "namespaces are not allowed"},
    {NULL, H "<?php echo 1; ?>\n" E, 3, "unexpected processing instruction <?php?> in <upgrade>"},
    /* root */
    {NULL, "<?xml version=\"1.0\"?>\n<migration from=\"1.0.0\" to=\"1.1.0\"/>\n", 2,
     "root element <migration> is neither <upgrade> nor <install>"},
    {NULL, "<?xml version=\"1.0\"?>\n<upgrade from=\"1.2.0\" to=\"1.1.0\"/>\n", 2,
     "from 1.2.0 is not older than to 1.1.0"},
    {NULL, "<?xml version=\"1.0\"?>\n<upgrade from=\"1.1.0\" to=\"1.1.0+b\"/>\n", 2,
     "is not older than"},
    {NULL, "<?xml version=\"1.0\"?>\n<upgrade from=\"1.0\" to=\"1.1.0\"/>\n", 2,
     "from on <upgrade>: invalid version"},
    {NULL, "<?xml version=\"1.0\"?>\n<upgrade from=\"1.0.0\"/>\n", 2, "missing attribute 'to' on <upgrade>"},
    {NULL, "<?xml version=\"1.0\"?>\n<upgrade from=\"1.0.0\" to=\"1.1.0\" by=\"me\"/>\n", 2,
     "unknown attribute 'by' on <upgrade> (allowed: from, to)"},
    {"upgrade_1.0.0_1.2.0.xml", H E, 2,
     "from=\"1.0.0\" to=\"1.1.0\" do not match the file name upgrade_1.0.0_1.2.0.xml"},
    {"upgrade_1.0.0.xml", H E, 2, "file name upgrade_1.0.0.xml is not upgrade_FROM_TO.xml"},
    {"upgrade_1.0.0_1.1.0.xml", "<install version=\"1.1.0\"/>", 1, "has an <install> root"},
    {NULL, "<install version=\"v1.0.0\"/>", 1, "version on <install>: invalid version"},
    {NULL, "<install version=\"1.0.0\">\n<custom><script>a.php</script></custom>\n</install>\n", 2,
     "unknown element <custom> in <install> (allowed: description, database, data)"},
    {NULL, H "<database/>\n<database/>\n" E, 4, "second <database> in <upgrade> (the first is at line 3)"},
    {NULL, H "<description>a <b>bold</b></description>\n" E, 3, "unexpected element <b> in <description>"},
    {NULL, H "<changes/>\n" E, 3, "unknown element <changes> in <upgrade>"},
    /* <database> */
    {NULL, DB("<create_view name=\"v\"/>\n"), 4, "unknown element <create_view> in <database>"},
    {NULL, DB("\n  hello\n<drop_table name=\"t\"/>\n"), 5, "unexpected text 'hello' in <database>"},
    {NULL, DB("<drop_table name=\"t\" cascade=\"true\"/>\n"), 4,
     "unknown attribute 'cascade' on <drop_table> (allowed: name)"},
    {NULL, DB("<drop_table/>\n"), 4, "missing attribute 'name' on <drop_table>"},
    {NULL, DB("<drop_table name=\"users; DROP\"/>\n"), 4,
     "invalid identifier 'users; DROP' for table name"},
    {NULL, DB("<drop_table\n  name=\"a b\"\n/>\n"), 4, "invalid identifier 'a b' for table name"},
    {NULL, DB("<create_table name=\"t\"/>\n"), 4, "<create_table name=\"t\"> has no <columns>"},
    {NULL, CT(""), 5, "<columns> of table 't' has no <column>"},
    {NULL, CT("<column name=\"c\" type=\"STRING\"/>\n"), 6,
     "unknown type 'STRING' for column 'c' (known: TINYINT, SMALLINT"},
    {NULL, CT("<column name=\"c\" type=\"VARCHAR(255)\"/>\n"), 6, "unknown type 'VARCHAR(255)'"},
    {NULL, CT("<column name=\"c\" type=\"VARCHAR\"/>\n"), 6, "type VARCHAR of column 'c' needs length"},
    {NULL, CT("<column name=\"c\" type=\"CHAR\" length=\"0\"/>\n"), 6,
     "length=\"0\" on <column> is not a whole number from 1 to 65535"},
    {NULL, CT("<column name=\"c\" type=\"VARCHAR\" length=\"65536\"/>\n"), 6, "from 1 to 65535"},
    {NULL, CT("<column name=\"c\" type=\"VARCHAR\" length=\"-1\"/>\n"), 6, "is not a whole number"},
    {NULL, CT("<column name=\"c\" type=\"DECIMAL\"/>\n"), 6, "needs length (precision 1 to 65)"},
    {NULL, CT("<column name=\"c\" type=\"DECIMAL\" length=\"66\"/>\n"), 6, "from 1 to 65"},
    {NULL, CT("<column name=\"c\" type=\"DECIMAL\" length=\"3\" scale=\"5\"/>\n"), 6,
     "scale 5 of column 'c' is larger than its precision 3"},
    {NULL, CT("<column name=\"c\" type=\"INT\" length=\"11\"/>\n"), 6, "type INT of column 'c' takes no length"},
    {NULL, CT("<column name=\"c\" type=\"VARCHAR\" length=\"9\" scale=\"1\"/>\n"), 6, "takes no scale"},
    {NULL, CT("<column name=\"c\" type=\"VARCHAR UNSIGNED\" length=\"9\"/>\n"), 6, "cannot be UNSIGNED"},
    {NULL, CT("<column name=\"c\" type=\"TEXT\" autoincrement=\"true\" primary=\"true\"/>\n"), 6,
     "autoincrement on column 'c' needs an integer type, not TEXT"},
    {NULL, CT("<column name=\"c\" type=\"INT\" autoincrement=\"true\"/>\n"), 6,
     "autoincrement on column 'c' needs primary=\"true\""},
    {NULL, CT("<column name=\"c\" type=\"INT\" primary=\"true\" null=\"true\"/>\n"), 6,
     "primary key column 'c' cannot be null=\"true\""},
    {NULL, CT("<column name=\"a\" type=\"INT\" primary=\"true\"/>\n<column name=\"b\" type=\"INT\" primary=\"true\"/>\n"),
     7, "second primary key column 'b' in table 't' (the first is 'a'"},
    {NULL, CT("<column name=\"c\" type=\"INT\" null=\"yes\"/>\n"), 6,
     "null=\"yes\" on <column> is not a boolean"},
    {NULL, CT("<column name=\"c\" type=\"INT\" primary=\"TRUE\"/>\n"), 6, "is not a boolean"},
    {NULL, CT("<column name=\"a\" type=\"INT\"/>\n<column name=\"a\" type=\"TEXT\"/>\n"), 7,
     "duplicate column 'a' in table 't'"},
    {NULL, CT("<column name=\"a\" type=\"INT\" after=\"b\"/>\n"), 6, "unknown attribute 'after' on <column>"},
    {NULL, CT("<col name=\"a\" type=\"INT\"/>\n"), 6, "unknown element <col> in <columns> (allowed: column)"},
    {NULL, DB("<create_table name=\"t\">\n<columns><column name=\"a\" type=\"INT\"/></columns>\n"
              "<indexes>\n<index name=\"i\" columns=\"a,x\"/>\n</indexes>\n</create_table>\n"), 7,
     "index 'i' names column 'x' that table 't' does not have"},
    {NULL, DB("<create_table name=\"t\">\n<columns><column name=\"a\" type=\"INT\"/></columns>\n"
              "<indexes>\n<index name=\"i\" columns=\"a, a\"/>\n</indexes>\n</create_table>\n"), 7,
     "column 'a' appears twice in index 'i'"},
    {NULL, DB("<create_table name=\"t\">\n<columns><column name=\"a\" type=\"INT\"/></columns>\n"
              "<indexes><index name=\"i\" columns=\"a\"/></indexes>\n</create_table>\n"
              "<modify_table name=\"u\">\n<add_index name=\"i\" columns=\"b\"/>\n</modify_table>\n"), 9,
     "duplicate index name 'i' (first at line 6)"},
    {NULL, DB("<create_table name=\"t\">\n<columns><column name=\"a\" type=\"INT\"/></columns>\n"
              "<indexes><index name=\"i\" columns=\"\"/></indexes>\n</create_table>\n"), 6,
     "invalid identifier '' for index column"},
    {NULL, DB("<create_table name=\"t\">\n<columns><column name=\"a\" type=\"INT\"/></columns>\n"
              "<columns/>\n</create_table>\n"), 6, "second <columns> in <create_table>"},
    {NULL, DB("<create_table name=\"t\">\n<columns><column name=\"a\" type=\"INT\"/></columns>\n"
              "<foreignKeys>\n<foreignKey column=\"a\" references=\"users(id)\" onDelete=\"DESTROY\"/>\n"
              "</foreignKeys>\n</create_table>\n"), 7,
     "onDelete=\"DESTROY\" on <foreignKey> is not one of CASCADE, SET NULL, RESTRICT, NO ACTION"},
    {NULL, DB("<create_table name=\"t\">\n<columns><column name=\"a\" type=\"INT\"/></columns>\n"
              "<foreignKeys>\n<foreignKey column=\"a\" references=\"users.id\"/>\n"
              "</foreignKeys>\n</create_table>\n"), 7, "references=\"users.id\" on <foreignKey> is not table(column)"},
    {NULL, DB("<create_table name=\"t\">\n<columns><column name=\"a\" type=\"INT\"/></columns>\n"
              "<foreignKeys>\n<foreignKey column=\"a\" references=\"users(id; x)\"/>\n"
              "</foreignKeys>\n</create_table>\n"), 7, "invalid identifier 'id; x' for referenced column"},
    {NULL, DB("<create_table name=\"t\">\n<columns><column name=\"a\" type=\"INT\"/></columns>\n"
              "<foreignKeys>\n<foreignKey column=\"b\" references=\"users(id)\"/>\n"
              "</foreignKeys>\n</create_table>\n"), 7, "foreign key names column 'b' that table 't' does not have"},
    {NULL, DB("<modify_table name=\"t\">\n<add_foreign_key column=\"a\"/>\n</modify_table>\n"), 5,
     "unknown element <add_foreign_key> in <modify_table> (allowed: add_column, modify_column, add_index, drop_column)"},
    {NULL, DB("<modify_table name=\"t\">\n<modify_column name=\"a\" type=\"INT\"/>\n</modify_table>\n"), 5,
     "unknown attribute 'type' on <modify_column>"},
    {NULL, DB("<modify_table name=\"t\">\n<modify_column name=\"a\"/>\n</modify_table>\n"), 5,
     "missing attribute 'new_type' on <modify_column>"},
    {NULL, DB("<modify_table name=\"t\">\n<add_column name=\"a\" type=\"INT\" after=\"x y\"/>\n</modify_table>\n"), 5,
     "invalid identifier 'x y' for after column"},
    {NULL, DB("<modify_table name=\"t\">\n<drop_column name=\"a23456789012345678901234567890123456789012345678901234567890b234\"/>\n</modify_table>\n"),
     5, "for column name"},
    /* <data> */
    {NULL, DATA("<update table=\"t\" where=\"1\"/>\n"), 4, "missing attribute 'set' on <update>"},
    {NULL, DATA("<update table=\"t\" set=\" \"/>\n"), 4, "set=\"\" on <update> is empty"},
    {NULL, DATA("<delete table=\"t\" where=\"\"/>\n"), 4, "where=\"\" on <delete> is empty (leave it out"},
    {NULL, DATA("<delete table=\"t\" where=\"a = 1; DROP TABLE users\"/>\n"), 4,
     "set/where must be one expression (no ';')"},
    {NULL, DATA("<update table=\"t\" set=\"a = 1; \"/>\n"), 4, "set/where must be one expression (no ';')"},
    {NULL, DATA("<update table=\"t\" set=\"a = 'x\"/>\n"), 4, "unterminated quote in set=\"a = 'x\" on <update>"},
    {NULL, DATA("<insert table=\"t\"/>\n"), 4, "insert into 't' has no <row>"},
    {NULL, DATA("<insert table=\"t\">\n<row/>\n</insert>\n"), 5, "empty <row> in insert into 't'"},
    {NULL, DATA("<insert table=\"t\">\n<row><a>1</a><b>2</b></row>\n<row><a>1</a>\n<c>2</c></row>\n</insert>\n"), 7,
     "row 2 of insert into 't' has column 'c' where the first row has 'b'"},
    {NULL, DATA("<insert table=\"t\">\n<row><a>1</a><b>2</b></row>\n<row><b>1</b><a>2</a></row>\n</insert>\n"), 6,
     "has column 'b' where the first row has 'a'"},
    {NULL, DATA("<insert table=\"t\">\n<row><a>1</a><b>2</b></row>\n<row><a>1</a></row>\n</insert>\n"), 6,
     "row 2 of insert into 't' has 1 column but the first row has 2"},
    {NULL, DATA("<insert table=\"t\">\n<row><a>1</a>\n<a>2</a></row>\n</insert>\n"), 6,
     "column 'a' appears twice in a row"},
    {NULL, DATA("<insert table=\"t\">\n<row><a-b>1</a-b></row>\n</insert>\n"), 5,
     "invalid identifier 'a-b' for column name"},
    {NULL, DATA("<insert table=\"t\">\n<row><a null=\"true\">x</a></row>\n</insert>\n"), 5,
     "column 'a' has null=\"true\" and a value"},
    {NULL, DATA("<insert table=\"t\">\n<row><a type=\"int\">1</a></row>\n</insert>\n"), 5,
     "unknown attribute 'type' on <a> (allowed: null)"},
    {NULL, DATA("<insert table=\"t\">\n<row><a><b/></a></row>\n</insert>\n"), 5, "unexpected element <b> in <a>"},
    {NULL, DATA("<insert table=\"t\">\n<row>x<a>1</a></row>\n</insert>\n"), 5, "unexpected text 'x' in <row>"},
    {NULL, DATA("<insert table=\"t\">\n<line><a>1</a></line>\n</insert>\n"), 5, "unknown element <line> in <insert>"},
    {NULL, DATA("<truncate table=\"t\"/>\n"), 4, "unknown element <truncate> in <data>"},
    /* <custom>, <cleanup> */
    {NULL, H "<custom/>\n" E, 3, "<custom> has no <script>"},
    {NULL, H "<custom>\n<script>/etc/passwd.php</script>\n</custom>\n" E, 4,
     "script path '/etc/passwd.php' is absolute"},
    {NULL, H "<custom>\n<script>scripts/../../x.php</script>\n</custom>\n" E, 4,
     "script path 'scripts/../../x.php' leaves the package root"},
    {NULL, H "<custom>\n<script>  </script>\n</custom>\n" E, 4, "script path is empty"},
    {NULL, H "<custom>\n<run>x.php</run>\n</custom>\n" E, 4, "unknown element <run> in <custom>"},
    {NULL, H "<cleanup>\n<delete_directory>../../etc</delete_directory>\n</cleanup>\n" E, 4,
     "cleanup path '../../etc' leaves the site root"},
    {NULL, H "<cleanup>\n<delete_file>a/..</delete_file>\n</cleanup>\n" E, 4, "leaves the site root"},
    {NULL, H "<cleanup>\n<delete_directory>./</delete_directory>\n</cleanup>\n" E, 4,
     "cleanup path './' names the site root itself"},
    {NULL, H "<cleanup>\n<delete_file>/var/www/x</delete_file>\n</cleanup>\n" E, 4, "is absolute"},
    {NULL, H "<cleanup>\n<delete_file>a&#9;b</delete_file>\n</cleanup>\n" E, 4, "contains a control character"},
    {NULL, H "<cleanup>\n<clear_cache>../x</clear_cache>\n</cleanup>\n" E, 4,
     "cache name '../x' is not a folder name under var/cache/"},
    {NULL, H "<cleanup>\n<clear_cache>..</clear_cache>\n</cleanup>\n" E, 4, "is not a folder name"},
    {NULL, H "<cleanup>\n<delete_file path=\"x\">y</delete_file>\n</cleanup>\n" E, 4,
     "unknown attribute 'path' on <delete_file> (allowed: none)"},
    {NULL, H "<cleanup>\n<delete_files>x</delete_files>\n</cleanup>\n" E, 4,
     "unknown element <delete_files> in <cleanup> (allowed: delete_file, delete_directory, clear_cache)"},
};

START_TEST(test_rejected)
{
    const struct bad *b = &bad[_i];
    expect_error(b->file ? b->file : "m.xml", b->xml, b->line, b->needle);
}
END_TEST

static Suite *mig_suite(void)
{
    Suite *s = suite_create("mig");
    TCase *tc = tcase_create("spec");
    tcase_add_unchecked_fixture(tc, tu_base_setup, tu_base_teardown);
    tcase_add_checked_fixture(tc, tu_tmp_setup, tu_tmp_teardown);
    tcase_add_test(tc, test_spec_verbatim_raw_lt);
    tcase_add_test(tc, test_spec_example_fields);
    tcase_add_test(tc, test_install_fixture);
    suite_add_tcase(s, tc);

    tc = tcase_create("accepted");
    tcase_add_unchecked_fixture(tc, tu_base_setup, tu_base_teardown);
    tcase_add_checked_fixture(tc, tu_tmp_setup, tu_tmp_teardown);
    tcase_add_test(tc, test_types_normalized);
    tcase_add_test(tc, test_booleans_and_defaults);
    tcase_add_test(tc, test_modify_and_add_column);
    tcase_add_test(tc, test_timestamp_and_quotes);
    tcase_add_test(tc, test_database_before_data);
    tcase_add_test(tc, test_comments_cdata_and_whitespace);
    tcase_add_test(tc, test_empty_upgrade);
    tcase_add_test(tc, test_file_name_matches);
    tcase_add_test(tc, test_index_columns_and_multiple_rows);
    tcase_add_test(tc, test_ident_ok);
    tcase_add_test(tc, test_missing_file);
    tcase_add_test(tc, test_line_numbers);
    suite_add_tcase(s, tc);

    tc = tcase_create("rejected");
    tcase_add_unchecked_fixture(tc, tu_base_setup, tu_base_teardown);
    tcase_add_checked_fixture(tc, tu_tmp_setup, tu_tmp_teardown);
    tcase_add_loop_test(tc, test_rejected, 0, (int)N_ELEMS(bad));
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(mig_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed != 0 ? EXIT_FAILURE : EXIT_SUCCESS;
}
