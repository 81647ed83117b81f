/* edgekey core, store side: internals shared by store.c (the ek_store_*
 * API), store_io.c (file primitives) and store_meta.c (token.conf, .meta
 * files, object listing). Not for the faces.
 *
 * Errors: functions returning ek_rc set the error message (ek_error) unless
 * noted. dfd is always a token (or store) directory opened by the caller,
 * who keeps ownership of it. Object file kinds (ext): 0 = <idhex>.key,
 * 1 = <idhex>.meta, 2 = <idhex>.crt. */
#ifndef EK_STORE_INT_H
#define EK_STORE_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "ek_error.h"
#include "ek_store.h"

/* ---- store_io.c ---- */

/* Read a whole file relative to dfd into *out (malloc'ed, NUL-terminated,
 * caller frees), at most max bytes. EK_ERR_NOT_FOUND without a message if
 * the file does not exist. */
ek_rc ek_io_read_at(int dfd, const char *name, size_t max, char **out, size_t *len);
/* Reads open with O_NOFOLLOW and take only regular files: a link, FIFO or
 * device is refused with a message naming the file, the rule and the fix. */
/* Replace name atomically with data: a new O_EXCL temp file in dfd, fsync,
 * rename, fsync dfd. Refused (file untouched) if name is anything but a
 * regular file or dfd is writable by group/others. The caller holds the
 * directory's flock (ek_io_lock_dir). */
ek_rc ek_io_write_at(int dfd, const char *name, const char *data, size_t len, mode_t mode);
/* ek_io_write_at in directory dir, taking and dropping its flock. Not for a
 * caller that already holds that lock (flock would wait for itself). */
ek_rc ek_io_write_in(const char *dir, const char *name, const void *data, size_t len, mode_t mode);
/* ek_io_read_at in directory dir (no lock: readers need none). */
ek_rc ek_io_read_in(const char *dir, const char *name, size_t max, char **out, size_t *len);
/* name exists in dfd in any form (a link counts, not followed). */
bool ek_io_present_at(int dfd, const char *name);
ek_rc ek_io_sync_dir(int dfd);
/* mkdir -p; mode applies to the directories created here. */
ek_rc ek_io_mkdirs(const char *path, mode_t mode);
/* Open dir into *dfd (caller closes; closing drops the lock) and take the
 * writers' flock(LOCK_EX) on it. dir itself must not be a symbolic link. */
ek_rc ek_io_lock_dir(const char *dir, int *dfd);

/* ---- store_meta.c ---- */

/* Objects of a token with their .meta pubkey_sha256 hex ("" if absent).
 * Owns v and hash; free with ek_obj_list_free. */
typedef struct ek_obj_list {
    ek_store_obj *v;
    char (*hash)[65];
    size_t n, cap;
} ek_obj_list;

/* Parse .meta text into label/alg/bits/curve/handle/created (not token/id)
 * and pubhash. EK_ERR_INVALID without a message if damaged. */
ek_rc ek_meta_parse(const char *text, ek_store_obj *o, char pubhash[65]);
/* token.conf of the token directory dfd (path dir). Read: EK_ERR_NOT_FOUND
 * without a message if absent. Write: a new random serial. */
ek_rc ek_token_conf_read(int dfd, const char *dir, ek_token_info *out);
ek_rc ek_token_conf_write(int dfd, const char *token, const char *dir);
/* "<idhex><ext>" into buf. */
void ek_obj_name(const ek_store_obj *o, int ext, char *buf, size_t size);
bool ek_obj_file_exists(int dfd, const ek_store_obj *o, int ext);
ek_rc ek_obj_list_push(ek_obj_list *l, const ek_store_obj *o, const char *hash);
void ek_obj_list_free(ek_obj_list *l);
/* Append all objects of token (directory dfd) to l; damaged .meta files
 * are skipped with a warning. */
ek_rc ek_token_objects(int dfd, const char *token, ek_obj_list *l);
/* Write one object file (.crt 0644, others 0600) / its .meta atomically. */
ek_rc ek_obj_write_file(int dfd, const ek_store_obj *o, int ext, const char *data, size_t len);
ek_rc ek_obj_write_meta(int dfd, const ek_store_obj *o, const char *pubhash);

/* token_auth.c: HMAC-SHA256(key, prefix || data) with trailing zero bytes
 * cut (the TPM strips them from auth values), in core's private library
 * context: the PIN's, a key's and a data object's auth values. out holds at
 * least 32 bytes; *out_len gets the length. */
ek_rc ek_token_derive_auth(const unsigned char *key, size_t key_len, const char *prefix,
                           const unsigned char *data, size_t len, unsigned char *out,
                           size_t *out_len);

#endif
