/* edgekey hub: EnOS-style signatures over sorted request parameters. */
#include "sign_check.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include "hub_util.h"

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

int hub_sign_params(const json_t *params, const char *secret, char out[65])
{
    size_t n = json_object_size(params), k = 0;
    const char **keys = calloc(n ? n : 1, sizeof(*keys));
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    if (!keys || !md) {
        free(keys);
        EVP_MD_CTX_free(md);
        return hub_fail("out of memory");
    }
    const char *key;
    json_t *v;
    json_object_foreach((json_t *)params, key, v)
    {
        if (strcmp(key, "sign") != 0)
            keys[k++] = key;
    }
    qsort(keys, k, sizeof(*keys), cmp_str);
    int rc = EVP_DigestInit_ex(md, EVP_sha256(), NULL) ? 0 : -1;
    for (size_t i = 0; rc == 0 && i < k; i++) {
        char num[32];
        const char *val;
        v = json_object_get(params, keys[i]);
        if (json_is_string(v)) {
            val = json_string_value(v);
        } else if (json_is_integer(v)) {
            snprintf(num, sizeof(num), "%lld", (long long)json_integer_value(v));
            val = num;
        } else {
            rc = hub_fail("parameter '%s' must be a string or an integer", keys[i]);
            break;
        }
        EVP_DigestUpdate(md, keys[i], strlen(keys[i]));
        EVP_DigestUpdate(md, val, strlen(val));
    }
    unsigned char dig[32];
    unsigned int dlen = 0;
    if (rc == 0 && EVP_DigestUpdate(md, secret, strlen(secret)) &&
        EVP_DigestFinal_ex(md, dig, &dlen))
        hub_hex_upper(dig, 32, out);
    else if (rc == 0)
        rc = hub_fail("SHA-256 failed");
    free(keys);
    EVP_MD_CTX_free(md);
    return rc;
}

int hub_sign_verify(const json_t *params, const char *secret)
{
    const char *sign = json_string_value(json_object_get(params, "sign"));
    char want[65], got[65];
    if (!sign || strlen(sign) != 64)
        return hub_fail("'sign' missing or not 64 hex characters");
    if (hub_sign_params(params, secret, want) != 0)
        return -1;
    for (int i = 0; i < 64; i++)
        got[i] = (char)toupper((unsigned char)sign[i]);
    got[64] = '\0';
    int ok = CRYPTO_memcmp(want, got, 64) == 0;
    OPENSSL_cleanse(want, sizeof(want));
    return ok ? 0 : hub_fail("signature mismatch");
}
