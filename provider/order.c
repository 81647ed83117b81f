/* edgekey OpenSSL provider: the provider-order check made when it loads.
 *
 * The default provider must be active before edgekey. OpenSSL takes an
 * algorithm from the first provider that has it: loaded first, edgekey's RSA
 * and EC key managers would make every key generation a TPM key, TLS key
 * shares included, and libssl (3.0 to 3.5) drops the NIST-curve groups whose
 * EC key manager is not the announcing provider's, so TLS 1.2 with a P-256
 * key ends in "illegal parameter" (alert 47). Refused, with the order to use
 * (docs/provider.md, "Provider order"). */
#include <string.h>

#include <openssl/core_dispatch.h>

#include "ekp.h"

typedef struct {
    OSSL_FUNC_provider_name_fn *name;
    int seen;
} ekp_order_probe;

/* Called under the core's store lock: only compares a name. */
static int ekp_order_note(const OSSL_CORE_HANDLE *p, void *cbdata)
{
    ekp_order_probe *probe = cbdata;
    const char *name = probe->name(p);
    if (name != NULL && strcmp(name, "default") == 0)
        probe->seen = 1;
    return 1;
}

static int ekp_order_ignore(const OSSL_CORE_HANDLE *p, void *cbdata)
{
    (void)p;
    (void)cbdata;
    return 1;
}

/* The core passes the global property query at registration. */
static int ekp_order_props(const char *props, void *cbdata)
{
    (void)props;
    (void)cbdata;
    return 1;
}

/* The core's child-provider callbacks list the providers active so far
 * without activating anything (OSSL_PROVIDER_available would load a fallback
 * default into a child context). Must run before OSSL_LIB_CTX_new_child:
 * deregistering removes this provider's first registration. */
int ekp_check_order(const ekp_prov *prov, const OSSL_DISPATCH *in)
{
    OSSL_FUNC_provider_register_child_cb_fn *reg = NULL;
    OSSL_FUNC_provider_deregister_child_cb_fn *dereg = NULL;
    ekp_order_probe probe = {NULL, 0};

    for (; in->function_id != 0; in++) {
        if (in->function_id == OSSL_FUNC_PROVIDER_REGISTER_CHILD_CB)
            reg = OSSL_FUNC_provider_register_child_cb(in);
        else if (in->function_id == OSSL_FUNC_PROVIDER_DEREGISTER_CHILD_CB)
            dereg = OSSL_FUNC_provider_deregister_child_cb(in);
        else if (in->function_id == OSSL_FUNC_PROVIDER_NAME)
            probe.name = OSSL_FUNC_provider_name(in);
    }
    if (reg == NULL || dereg == NULL || probe.name == NULL)
        return 1; /* a core without child providers: nothing to check with */
    if (!reg(prov->handle, ekp_order_note, ekp_order_ignore, ekp_order_props, &probe))
        return 1;
    dereg(prov->handle);
    if (probe.seen)
        return 1;
    ekp_raise(prov, EKP_R_ORDER,
              "edgekey must be loaded after the default provider, which is not active yet: "
              "loaded first, edgekey would take every RSA and EC key generation into the TPM "
              "and TLS 1.2 with NIST curves would fail. Use -provider default -provider edgekey "
              "(in openssl.cnf, activate default before edgekey); to make a TPM key, add "
              "-propquery provider=edgekey");
    return 0;
}
