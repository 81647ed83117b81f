/* edgekey hub: internals shared by the registry files. */
#ifndef HUB_REGISTRY_INT_H
#define HUB_REGISTRY_INT_H

#include <pthread.h>
#include <sqlite3.h>
#include "registry.h"

struct hub_registry {
    sqlite3 *db;
    struct regpg *pg;     /* set: a PostgreSQL registry (registry_pg.h) */
    pthread_mutex_t lock; /* recursive: calls nest inside reg_begin */
    bool readonly;
};

/* In a public reg_* function: forward to regpg_<call> when r is PostgreSQL. */
#define REG_PG(r, call)                                                                            \
    do {                                                                                           \
        if ((r)->pg)                                                                               \
            return regpg_##call;                                                                   \
    } while (0)

/* Prepare a statement (locks r; the matching reg_done() unlocks). */
sqlite3_stmt *reg_prep(hub_registry *r, const char *sql);
/* Finalize st, unlock; rc is the last sqlite3_step result. Returns 0 when rc
 * is SQLITE_DONE/SQLITE_ROW/SQLITE_OK, else -1 with hub_err() set. */
int reg_done(hub_registry *r, sqlite3_stmt *st, int rc, const char *what);
void reg_bind_text(sqlite3_stmt *st, int idx, const char *s);
void reg_col_text(sqlite3_stmt *st, int col, char *out, size_t outsize);

/* Apply pending schema migrations (registry_schema.c). */
int reg_migrate(hub_registry *r);

#endif
