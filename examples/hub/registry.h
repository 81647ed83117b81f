/* edgekey hub: the registry (products, devices, certificates, telemetry,
 * audit log, replay nonces) behind one small interface.
 *
 * The only backend today is SQLite (registry_sqlite.c, WAL mode, prepared
 * statements only, versioned migrations in registry_schema.c); a PostgreSQL
 * backend implements the same functions and is chosen by the URL scheme in
 * reg_open(). All functions are thread-safe (one lock per registry handle).
 * Multi-step changes run inside reg_begin()/reg_commit() (reg_rollback() on
 * error); each single call is atomic on its own.
 *
 * Return values: 0 on success, -1 on failure with hub_err() set; lookups
 * return 1 for "not found"; reg_nonce_use returns 1 for a replay; state
 * changes return 1 when the row was not in the expected state. */
#ifndef HUB_REGISTRY_H
#define HUB_REGISTRY_H

#include <stdbool.h>
#include <stdint.h>

#define HUB_KEY_MAX 64 /* productKey / deviceKey length */

enum hub_keytypes { HUB_KT_RSA = 1, HUB_KT_EC = 2 };
enum hub_dev_state { HUB_DEV_REGISTERED = 0, HUB_DEV_ACTIVATED = 1, HUB_DEV_DISABLED = 2 };
enum hub_cert_state { HUB_CERT_ACTIVE = 0, HUB_CERT_SUPERSEDED = 1, HUB_CERT_REVOKED = 2 };
enum hub_cert_kind { HUB_CK_DEVICE = 0, HUB_CK_HUB = 1, HUB_CK_SERVICE = 2 };

typedef struct hub_product {
    char pk[HUB_KEY_MAX + 1];
    char secret[65];
    unsigned key_types; /* HUB_KT_* bits */
    int validity_days;
    bool dynamic_activation;
    int64_t created;
} hub_product;

typedef struct hub_device {
    char pk[HUB_KEY_MAX + 1];
    char dk[HUB_KEY_MAX + 1];
    char secret[65]; /* "" until activated */
    int state;       /* hub_dev_state */
    char asset_id[33];
    int64_t created, activated;
} hub_device;

typedef struct hub_cert {
    char serial[41];          /* upper hex, as hub_serial_hex() prints it */
    char pk[HUB_KEY_MAX + 1]; /* "" for hub/service certs */
    char dk[HUB_KEY_MAX + 1]; /* device key, or the hub/service CN */
    int kind;                 /* hub_cert_kind */
    char *pem;                /* malloc'ed; NULL in list callbacks that skip it */
    int64_t not_before, not_after;
    int state;  /* hub_cert_state */
    int reason; /* RFC 5280 CRLReason, -1 if not revoked */
    int64_t revoked_at, superseded_at, rev_seq, created;
} hub_cert;

typedef struct hub_registry hub_registry;

/* url: "sqlite:/path/hub.db" or a plain path. readonly: for the broker
 * plugin (no migrations, no writes). Applies pending migrations otherwise. */
int reg_open(const char *url, bool readonly, hub_registry **out);
void reg_close(hub_registry *r);
/* full (default): every commit is fsync'ed (power-loss safe, what a CA
 * needs). Relaxed: WAL with synchronous=NORMAL: a kill -9 still loses
 * nothing, a power cut may lose the last commits (telemetry). */
int reg_set_durability(hub_registry *r, bool full);
int reg_schema_version(hub_registry *r);
/* The schema version this build migrates to (doctor: "is it current?"). */
int reg_schema_latest(void);

int reg_begin(hub_registry *r); /* takes the lock until commit/rollback */
int reg_commit(hub_registry *r);
void reg_rollback(hub_registry *r);

int reg_product_add(hub_registry *r, const hub_product *p); /* 1 = exists */
int reg_product_get(hub_registry *r, const char *pk, hub_product *out);
typedef int (*reg_product_cb)(const hub_product *p, void *arg);
int reg_product_list(hub_registry *r, reg_product_cb cb, void *arg);

int reg_device_add(hub_registry *r, const char *pk, const char *dk); /* 1 = exists */
int reg_device_get(hub_registry *r, const char *dk, hub_device *out);
/* registered -> activated with secret and asset id; 1 if not registered. */
int reg_device_activate(hub_registry *r, const char *pk, const char *dk, const char *secret,
                        const char *asset_id);
int reg_device_set_state(hub_registry *r, const char *dk, int state);
typedef int (*reg_device_cb)(const hub_device *d, void *arg);
int reg_device_list(hub_registry *r, const char *pk, reg_device_cb cb, void *arg);

/* A replay guard: remember nonce until expires_s; 1 if already seen. */
int reg_nonce_use(hub_registry *r, const char *nonce, int64_t expires_s);

/* Next certificate serial id; never handed out twice, even after deletes. */
int reg_serial_next(hub_registry *r, uint64_t *id);
int reg_cert_add(hub_registry *r, const hub_cert *c);
/* Fills out (pem malloc'ed: free with reg_cert_clear). */
int reg_cert_get(hub_registry *r, const char *serial, hub_cert *out);
void reg_cert_clear(hub_cert *c);
typedef int (*reg_cert_cb)(const hub_cert *c, void *arg);
/* dk NULL = all; with_pem: fill c->pem. Oldest first. */
int reg_cert_list(hub_registry *r, const char *dk, bool with_pem, reg_cert_cb cb, void *arg);
/* Active certs of a device (kind device) -> superseded; returns count in *n. */
int reg_cert_supersede_device(hub_registry *r, const char *dk, const char *except_serial, int *n);
/* active/superseded -> revoked with reason; 1 if unknown or already revoked. */
int reg_cert_revoke(hub_registry *r, const char *serial, int reason);
/* Revocations with rev_seq > after, in order (for the broker plugin). */
int reg_cert_revoked_since(hub_registry *r, int64_t after, reg_cert_cb cb, void *arg);
int64_t reg_cert_max_rev_seq(hub_registry *r);
/* Superseded certs older than before_s -> revoked (superseded reason). */
int reg_cert_expire_superseded(hub_registry *r, int64_t before_s, int *n);

int reg_telemetry_put(hub_registry *r, const char *pk, const char *dk, const char *point,
                      const char *value_json, int64_t ts_ms);
typedef int (*reg_telemetry_cb)(const char *point, const char *value_json, int64_t ts_ms,
                                void *arg);
int reg_telemetry_get(hub_registry *r, const char *dk, reg_telemetry_cb cb, void *arg);
/* De-duplication of telemetry messages by (pk, dk, message id): records the
 * id; returns 0 if it is new, 1 if it was recorded before (a resend: store
 * nothing again; its duplicates counter is bumped). */
int reg_telemetry_msg(hub_registry *r, const char *pk, const char *dk, const char *msg_id);
/* Forget message ids received before before_ms; *n (optional) = removed. */
int reg_telemetry_msg_sweep(hub_registry *r, int64_t before_ms, int *n);

/* ---- key attestation (registry_attest.c) ---- */
enum hub_attest_mode { HUB_ATTEST_OFF = 0, HUB_ATTEST_OPTIONAL = 1, HUB_ATTEST_REQUIRED = 2 };
int reg_product_attest_set(hub_registry *r, const char *pk, int mode); /* 1 = no product */
int reg_product_attest_get(hub_registry *r, const char *pk, int *mode);
/* ek_hash[65] ("" = not bound), attested (last certificate attested). */
int reg_device_ek_get(hub_registry *r, const char *dk, char *ek_hash, bool *attested);
/* The device bound to ek_hash into dk[HUB_KEY_MAX+1]; 1 if none. */
int reg_ek_owner(hub_registry *r, const char *ek_hash, char *dk);
/* Bind (ek_hash "" = unbind) and set attested. */
int reg_device_ek_set(hub_registry *r, const char *dk, const char *ek_hash, bool attested);

#define HUB_ATT_BLOB_MAX 1024
typedef struct hub_challenge {
    char id[33];
    char dk[HUB_KEY_MAX + 1];
    char ek_hash[65];
    unsigned char ak_pub[HUB_ATT_BLOB_MAX]; /* marshalled TPM2B_PUBLIC */
    size_t ak_pub_len;
    unsigned char secret_hash[32];
    unsigned char nonce[32];
    int64_t expires;
} hub_challenge;
int reg_challenge_put(hub_registry *r, const hub_challenge *c);
/* Fetch and delete (single use); 1 if unknown or expired. */
int reg_challenge_take(hub_registry *r, const char *id, hub_challenge *out);

int reg_audit(hub_registry *r, const char *actor, const char *action, const char *object,
              const char *detail);
/* A counter kept in the registry (e.g. "crl_number"); returns the new value. */
int reg_counter_next(hub_registry *r, const char *name, int64_t *value);

#endif
