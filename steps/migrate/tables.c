/* The tables nexo-update owns (contracts §7), as schema operations every
 * driver renders: system_versions (spec §2.3), update_history,
 * update_notifications (spec §3.4). */
#include "tables.h"

/* NUL: may be NULL; REQ: NOT NULL */
#define NUL(n, t, ...) { .name = n, .type = t, .nullable = 1, __VA_ARGS__ }
#define REQ(n, t, ...) { .name = n, .type = t, .nullable = 0, __VA_ARGS__ }
#define ID { .name = "id", .type = NEXO_T_INT, .is_unsigned = 1, .autoincrement = 1, \
             .primary = 1 }

static const struct nexo_column versions_cols[] = {
    ID,
    REQ("component", NEXO_T_VARCHAR, .length = 100),
    REQ("version_number", NEXO_T_VARCHAR, .length = 64),
    REQ("version_code", NEXO_T_BIGINT, .is_unsigned = 1),
    REQ("applied_at", NEXO_T_INT, .is_unsigned = 1),
    NUL("description", NEXO_T_TEXT),
    NUL("migration_file", NEXO_T_VARCHAR, .length = 255),
};
static const char *const v_comp[] = { "component" };
static const char *const v_code[] = { "version_code" };
static const struct nexo_index versions_idx[] = {
    { "idx_system_versions_component", v_comp, 1, 0 },
    { "idx_system_versions_code", v_code, 1, 0 },
};

static const struct nexo_column history_cols[] = {
    ID,
    REQ("update_id", NEXO_T_VARCHAR, .length = 64),
    REQ("component", NEXO_T_VARCHAR, .length = 100),
    NUL("from_version", NEXO_T_VARCHAR, .length = 64),
    NUL("to_version", NEXO_T_VARCHAR, .length = 64),
    REQ("outcome", NEXO_T_VARCHAR, .length = 32),
    REQ("started_at", NEXO_T_INT, .is_unsigned = 1),
    NUL("finished_at", NEXO_T_INT, .is_unsigned = 1),
    NUL("maintenance_seconds", NEXO_T_INT, .is_unsigned = 1),
    NUL("error", NEXO_T_TEXT),
};
static const char *const h_id[] = { "update_id" };
static const char *const h_comp[] = { "component" };
static const struct nexo_index history_idx[] = {
    { "idx_update_history_update", h_id, 1, 0 },
    { "idx_update_history_component", h_comp, 1, 0 },
};

static const struct nexo_column notif_cols[] = {
    ID,
    REQ("component", NEXO_T_VARCHAR, .length = 100),
    NUL("current_version", NEXO_T_VARCHAR, .length = 64),
    REQ("latest_version", NEXO_T_VARCHAR, .length = 64),
    REQ("is_security", NEXO_T_BOOLEAN, .default_value = "false"),
    REQ("notified_at", NEXO_T_INT, .is_unsigned = 1),
};
static const struct nexo_index notif_idx[] = {
    { "idx_update_notifications_component", h_comp, 1, 0 },
};

#define N(a) (sizeof(a) / sizeof((a)[0]))
#define TABLE(t, c, i) { .kind = NEXO_OP_CREATE_TABLE, .table = t, .columns = c, \
                         .ncolumns = N(c), .indexes = i, .nindexes = N(i), \
                         .file = "nexo-update tables", .line = 0 }

static const struct nexo_op ops[] = {
    TABLE("system_versions", versions_cols, versions_idx),
    TABLE("update_history", history_cols, history_idx),
    TABLE("update_notifications", notif_cols, notif_idx),
};

const struct nexo_op *mg_tool_tables(size_t *n)
{
    *n = N(ops);
    return ops;
}
