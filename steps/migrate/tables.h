#ifndef NX_MG_TABLES_H
#define NX_MG_TABLES_H
#include <nexo/schema.h>
/* CREATE TABLE operations for the tables nexo-update owns. */
const struct nexo_op *mg_tool_tables(size_t *n);
#endif
