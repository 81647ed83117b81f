/* edgekey core (internal): the store side of ek_secret.h - the record
 * codec of <name>.data files and their directory operations
 * (secret_file.c). Used by secret.c and the unit tests; not for the faces.
 * Functions set the error message on failure unless noted. */
#ifndef EK_SECRET_INT_H
#define EK_SECRET_INT_H

#include <stddef.h>
#include "ek_secret.h"

/* Room for the sealed blob ("EKSEAL1\n" + TPM2B_PUBLIC + TPM2B_PRIVATE);
 * at least token_seal.h's EK_SEAL_FILE_MAX (secret.c checks). */
#define EK_SECRET_BLOB_MAX 2304

/* Record text for o and its sealed blob; *text malloc'ed, caller frees. */
ek_rc ek_secret_format(const ek_secret_obj *o, const unsigned char *blob, size_t blob_len,
                       char **text, size_t *len);

/* Parse a record (name: the file's stem; token copied in). EK_ERR_INVALID
 * without a message if damaged. blob may be NULL (listing). */
ek_rc ek_secret_parse(const char *text, const char *token, const char *name, ek_secret_obj *o,
                      unsigned char *blob, size_t blob_size, size_t *blob_len);

/* A fresh random file stem (16 hex digits). */
ek_rc ek_secret_new_name(char name[17]);

/* Write o's record under the token's flock, creating the token if
 * missing. EK_ERR_EXISTS if the label (or the stem) is taken. */
ek_rc ek_secret_store(const ek_secret_obj *o, const unsigned char *blob, size_t blob_len);

/* The sealed blob of a stored object (re-read; the file may be gone:
 * EK_ERR_NOT_FOUND with a message). */
ek_rc ek_secret_load_blob(const ek_secret_obj *o, unsigned char *blob, size_t size, size_t *len);

#endif
