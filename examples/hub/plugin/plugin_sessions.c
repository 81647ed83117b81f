/* edgekey_auth.so: live sessions (client id -> cert serial) and the last
 * accepted login timestamp per device. The broker calls plugins from its
 * single main thread, so no locking. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "plugin.h"

int eka_session_add(eka_state *s, const char *client_id, const char *serial)
{
    eka_session_remove(s, client_id);
    if (s->nsess == s->capsess) {
        size_t cap = s->capsess ? s->capsess * 2 : 64;
        eka_session *n = realloc(s->sess, cap * sizeof(*n));
        if (!n)
            return -1;
        s->sess = n;
        s->capsess = cap;
    }
    eka_session *e = &s->sess[s->nsess];
    e->client_id = strdup(client_id);
    if (!e->client_id)
        return -1;
    snprintf(e->serial, sizeof(e->serial), "%s", serial);
    s->nsess++;
    return 0;
}

void eka_session_remove(eka_state *s, const char *client_id)
{
    for (size_t i = 0; i < s->nsess; i++) {
        if (strcmp(s->sess[i].client_id, client_id) == 0) {
            free(s->sess[i].client_id);
            s->sess[i] = s->sess[--s->nsess];
            return;
        }
    }
}

void eka_sessions_free(eka_state *s)
{
    for (size_t i = 0; i < s->nsess; i++)
        free(s->sess[i].client_id);
    free(s->sess);
    free(s->seen);
    s->sess = NULL;
    s->seen = NULL;
    s->nsess = s->capsess = s->nseen = s->capseen = 0;
}

int64_t eka_seen_get(eka_state *s, const char *dk)
{
    for (size_t i = 0; i < s->nseen; i++)
        if (strcmp(s->seen[i].dk, dk) == 0)
            return s->seen[i].ts;
    return 0;
}

int eka_seen_set(eka_state *s, const char *dk, int64_t ts)
{
    for (size_t i = 0; i < s->nseen; i++) {
        if (strcmp(s->seen[i].dk, dk) == 0) {
            s->seen[i].ts = ts;
            return 0;
        }
    }
    if (s->nseen == s->capseen) {
        size_t cap = s->capseen ? s->capseen * 2 : 64;
        eka_seen *n = realloc(s->seen, cap * sizeof(*n));
        if (!n)
            return -1;
        s->seen = n;
        s->capseen = cap;
    }
    snprintf(s->seen[s->nseen].dk, sizeof(s->seen[0].dk), "%s", dk);
    s->seen[s->nseen++].ts = ts;
    return 0;
}
