/* edgekey core (internal): a GLib-free TCTI for tpm2-abrmd (tcti_abrmd.c),
 * usable in forked children. */
#ifndef EK_TCTI_ABRMD_H
#define EK_TCTI_ABRMD_H

#include <stdbool.h>
#include <stddef.h>
#include <tss2/tss2_tcti.h>

/* Connect to tpm2-abrmd ("bus_name=...,bus_type=session|system"). On
 * failure returns TSS2_TCTI_RC_NO_CONNECTION and a reason in err. */
TSS2_RC ek_abrmd_open(const char *conf, TSS2_TCTI_CONTEXT **out, char *err, size_t errlen);
/* True if t was made by ek_abrmd_open. */
bool ek_abrmd_is(const TSS2_TCTI_CONTEXT *t);
/* Close the connection and free t. In a forked child this only drops the
 * child's copy of the socket (no bytes are sent). */
void ek_abrmd_close(TSS2_TCTI_CONTEXT *t);

#endif
