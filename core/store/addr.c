/* edgekey core: key addresses (ek_addr.h) and opening the key behind one.
 *
 *   pkcs11:...    RFC 7512, parsed by p11-kit (P11_KIT_URI_FOR_ANY). Token
 *                 label/serial/model/manufacturer, object, id, type and
 *                 pin-value are used; slot and library attributes are
 *                 ignored (slot ids move behind the p11-kit proxy); a
 *                 module-name/module-path naming another module makes the
 *                 URI "not ours" (EK_ERR_NOT_FOUND). pin-source is refused:
 *                 a PIN read from a file path inside a URI is a second secret
 *                 channel we would have to secure; use pin-value or the
 *                 application's own PIN prompt instead.
 *   handle:0x81.. persistent handle, hex with or without 0x.
 *   path, file:   the file is read: a TSS2 PRIVATE KEY (PEM or DER), or a
 *                 PEM wrapping a URI (labels "EDGEKEY URI" and pkcs11-
 *                 provider's "PKCS#11 PROVIDER URI"; both are SEQUENCE {desc,
 *                 uri}, desc a UTF8String for us, a VisibleString for
 *                 pkcs11-provider). The wrapped URI may be a handle: address.
 *
 * Messages never repeat a pin-value: URIs are shown with it masked. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <openssl/asn1t.h>
#include <openssl/err.h>
#include <p11-kit/pkcs11.h>
#include <p11-kit/uri.h>

#include "ek_addr.h"
#include "ek_keyfile.h"
#include "ek_log.h"
#include "ek_store.h"
#include "ek_token.h"

#define EK_P11PROV_PEM_LABEL "PKCS#11 PROVIDER URI"
#define EK_URI_DESC "edgekey key reference: load it through the edgekey OpenSSL provider"
#define EK_ADDR_FILE_MAX (64 * 1024)
#define EK_ADDR_FORMS                                                                              \
    "accepted forms: pkcs11:token=...;object=...;type=private, handle:0x81000000-"                 \
    "0x81FFFFFF, or a file holding a TSS2 PRIVATE KEY or an EDGEKEY URI"

typedef struct {
    ASN1_UTF8STRING *desc;
    ASN1_UTF8STRING *uri;
} EK_URI_REF;

/* clang-format off */
ASN1_SEQUENCE(EK_URI_REF) = {
    ASN1_SIMPLE(EK_URI_REF, desc, ASN1_UTF8STRING),
    ASN1_SIMPLE(EK_URI_REF, uri, ASN1_UTF8STRING),
} ASN1_SEQUENCE_END(EK_URI_REF)
const ASN1_ITEM *EK_URI_REF_it(void); /* ends the macro for clang-format */
/* clang-format on */
#define URI_REF_IT ASN1_ITEM_rptr(EK_URI_REF)

/* pkcs11-provider's shape of the same thing. */
typedef struct {
    ASN1_VISIBLESTRING *desc;
    ASN1_UTF8STRING *uri;
} EK_P11PROV_URI;

/* clang-format off */
ASN1_SEQUENCE(EK_P11PROV_URI) = {
    ASN1_SIMPLE(EK_P11PROV_URI, desc, ASN1_VISIBLESTRING),
    ASN1_SIMPLE(EK_P11PROV_URI, uri, ASN1_UTF8STRING),
} ASN1_SEQUENCE_END(EK_P11PROV_URI)
const ASN1_ITEM *EK_P11PROV_URI_it(void); /* ends the macro for clang-format */
/* clang-format on */
#define P11PROV_URI_IT ASN1_ITEM_rptr(EK_P11PROV_URI)

const char *ek_addr_masked(const char *s, char *buf, size_t size)
{
    size_t n = 0;
    while (*s && n + 1 < size) {
        if (strncasecmp(s, "pin-value=", 10) == 0) {
            n += (size_t)snprintf(buf + n, size - n, "pin-value=***");
            n = n < size ? n : size - 1;
            s += 10 + strcspn(s + 10, ";&?");
            continue;
        }
        buf[n++] = *s++;
    }
    buf[n] = '\0';
    return buf;
}

void ek_addr_clear(ek_addr *a)
{
    if (!a)
        return;
    ek_wipe(a->pin, sizeof(a->pin));
    a->has_pin = false;
}

/* Copy a space-padded CK_TOKEN_INFO field; all-zero means "not given".
 * A NUL inside (from %00) would silently shorten the value: refused. */
static ek_rc token_field(const unsigned char *f, size_t n, char *out, const char *what,
                         const char *shown)
{
    size_t len = 0;
    for (size_t i = 0; i < n && !len; i++)
        if (f[i] != 0)
            len = n; /* set: p11-kit pads with spaces */
    while (len && f[len - 1] == ' ')
        len--;
    if (memchr(f, 0, len))
        return ek_error(EK_ERR_INVALID, "%s: %s= contains a NUL byte", shown, what);
    memcpy(out, f, len);
    out[len] = '\0';
    return EK_OK;
}

static ek_rc uri_class(P11KitUri *u, ek_obj_class *type, const char *shown)
{
    CK_ATTRIBUTE *a = p11_kit_uri_get_attribute(u, CKA_CLASS);
    *type = EK_OBJ_ANY;
    if (!a)
        return EK_OK;
    CK_OBJECT_CLASS c;
    if (a->ulValueLen != sizeof(c))
        return ek_error(EK_ERR_INVALID, "%s: bad type= value", shown);
    memcpy(&c, a->pValue, sizeof(c));
    switch (c) {
    case CKO_PRIVATE_KEY:
        *type = EK_OBJ_PRIVATE;
        return EK_OK;
    case CKO_PUBLIC_KEY:
        *type = EK_OBJ_PUBLIC;
        return EK_OK;
    case CKO_CERTIFICATE:
        *type = EK_OBJ_CERT;
        return EK_OK;
    default:
        return ek_error(EK_ERR_NOT_FOUND,
                        "%s: edgekey holds private keys, public keys and certificates; use "
                        "type=private, type=public or type=cert",
                        shown);
    }
}

static ek_rc uri_bytes(P11KitUri *u, CK_ATTRIBUTE_TYPE t, void *out, size_t max, size_t *len,
                       const char *what, const char *shown)
{
    CK_ATTRIBUTE *a = p11_kit_uri_get_attribute(u, t);
    *len = 0;
    if (!a)
        return EK_OK;
    if (a->ulValueLen == 0 || a->ulValueLen > max)
        return ek_error(EK_ERR_INVALID, "%s: %s= must be 1-%zu bytes", shown, what, max);
    memcpy(out, a->pValue, a->ulValueLen);
    *len = a->ulValueLen;
    return EK_OK;
}

/* Refuse what we cannot honour; decline URIs meant for another module. */
static ek_rc uri_query(P11KitUri *u, ek_addr *out, const char *shown)
{
    const char *mod = p11_kit_uri_get_module_name(u);
    const char *path = p11_kit_uri_get_module_path(u);
    const char *base = path ? strrchr(path, '/') : NULL;
    base = base ? base + 1 : path;
    if ((mod && strncmp(mod, "edgekey", 7) != 0) || (base && strncmp(base, "edgekey", 7) != 0))
        return ek_error(EK_ERR_NOT_FOUND, "%s names another PKCS#11 module, not edgekey", shown);
    if (p11_kit_uri_get_pin_source(u))
        return ek_error(EK_ERR_UNSUPPORTED,
                        "%s: pin-source is not supported; put the PIN in pin-value= or let the "
                        "application ask for it",
                        shown);
    const char *pin = p11_kit_uri_get_pin_value(u);
    if (pin) {
        size_t n = strlen(pin);
        if (n >= sizeof(out->pin))
            return ek_error(EK_ERR_INVALID, "%s: pin-value is longer than %zu bytes", shown,
                            sizeof(out->pin) - 1);
        memcpy(out->pin, pin, n + 1);
        out->has_pin = true;
        /* p11-kit frees its copy without wiping it */
        ek_wipe((char *)pin, n);
    }
    return EK_OK;
}

static ek_rc uri_fill(P11KitUri *u, ek_addr *out, const char *shown)
{
    CK_TOKEN_INFO *ti = p11_kit_uri_get_token_info(u);
    ek_rc rc;
    if ((rc = token_field(ti->label, sizeof(ti->label), out->token, "token", shown)) ||
        (rc = token_field(ti->serialNumber, sizeof(ti->serialNumber), out->serial, "serial",
                          shown)) ||
        (rc = token_field(ti->model, sizeof(ti->model), out->model, "model", shown)) ||
        (rc = token_field(ti->manufacturerID, sizeof(ti->manufacturerID), out->manufacturer,
                          "manufacturer", shown)))
        return rc;
    size_t n;
    rc = uri_bytes(u, CKA_LABEL, out->object, sizeof(out->object) - 1, &n, "object", shown);
    if (rc != EK_OK)
        return rc;
    out->object[n] = '\0';
    if (strlen(out->object) != n)
        return ek_error(EK_ERR_INVALID, "%s: object= contains a NUL byte", shown);
    if ((rc = uri_bytes(u, CKA_ID, out->id, sizeof(out->id), &out->id_len, "id", shown)) != EK_OK)
        return rc;
    if ((rc = uri_class(u, &out->type, shown)) != EK_OK)
        return rc;
    if (p11_kit_uri_any_unrecognized(u))
        return ek_error(EK_ERR_INVALID,
                        "%s has attributes edgekey does not know; use token, serial, model, "
                        "manufacturer, object, id, type and pin-value",
                        shown);
    return uri_query(u, out, shown);
}

ek_rc ek_addr_parse_pkcs11(const char *uri, ek_addr *out)
{
    char shown[300];
    if (!uri || !out)
        return ek_error(EK_ERR_INVALID, "pkcs11 URI: none given");
    memset(out, 0, sizeof(*out));
    ek_addr_masked(uri, shown, sizeof(shown));
    if (strncasecmp(uri, "pkcs11:", 7) != 0)
        return ek_error(EK_ERR_INVALID, "'%s' is not a pkcs11: URI; %s", shown, EK_ADDR_FORMS);
    P11KitUri *u = p11_kit_uri_new();
    if (!u)
        return ek_error(EK_ERR_NOMEM, "pkcs11 URI: out of memory");
    /* p11-kit compares the scheme case-sensitively; RFC 3986 does not. */
    char *copy = strdup(uri);
    ek_rc rc;
    if (!copy) {
        rc = ek_error(EK_ERR_NOMEM, "pkcs11 URI: out of memory");
    } else {
        memcpy(copy, "pkcs11", 6);
        int r = p11_kit_uri_parse(copy, P11_KIT_URI_FOR_ANY, u);
        if (r != P11_KIT_URI_OK)
            rc = ek_error(EK_ERR_INVALID,
                          "'%s' is not a valid pkcs11: URI (%s); e.g. "
                          "pkcs11:token=edge;object=device;type=private",
                          shown, p11_kit_uri_message(r));
        else
            rc = uri_fill(u, out, shown);
        ek_wipe(copy, strlen(copy));
        free(copy);
    }
    p11_kit_uri_free(u);
    if (rc != EK_OK) {
        ek_addr_clear(out);
        return rc;
    }
    out->kind = EK_ADDR_PKCS11;
    return EK_OK;
}

static ek_rc parse_handle(const char *s, ek_addr *out)
{
    const char *hex = (s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) ? s + 2 : s;
    size_t n = strlen(hex);
    unsigned long v = 0;
    if (n == 0 || n > 8 || strspn(hex, "0123456789abcdefABCDEF") != n)
        return ek_error(EK_ERR_INVALID,
                        "handle:%.20s is not a handle; write it in hex, e.g. handle:0x81010001", s);
    v = strtoul(hex, NULL, 16);
    if (v < 0x81000000ul || v > 0x81FFFFFFul)
        return ek_error(EK_ERR_INVALID,
                        "handle:0x%08lx refused: persistent key handles are 0x81000000-"
                        "0x81FFFFFF",
                        v);
    out->kind = EK_ADDR_HANDLE;
    out->handle = (uint32_t)v;
    return EK_OK;
}

/* file: URL to a path (RFC 8089: file:/p, file:///p, file://localhost/p). */
static ek_rc file_url_path(const char *s, char *path, size_t size)
{
    const char *p = s + 5;
    if (strncmp(p, "//", 2) == 0) {
        p += 2;
        if (strncasecmp(p, "localhost/", 10) == 0)
            p += 9;
        else if (*p != '/')
            return ek_error(EK_ERR_UNSUPPORTED, "%.200s: only local files can hold keys", s);
    }
    size_t n = 0;
    for (; *p; p++) {
        int c = (unsigned char)*p;
        if (c == '%') {
            unsigned v;
            if (sscanf(p + 1, "%2x", &v) != 1 || !v || !p[1] || !p[2])
                return ek_error(EK_ERR_INVALID, "%.200s: bad percent-encoding", s);
            c = (int)v;
            p += 2;
        }
        if (n + 1 >= size)
            return ek_error(EK_ERR_INVALID, "%.200s: path too long", s);
        path[n++] = (char)c;
    }
    path[n] = '\0';
    return n ? EK_OK : ek_error(EK_ERR_INVALID, "%s: no path; %s", s, EK_ADDR_FORMS);
}

static ek_rc read_file(const char *path, char **buf, size_t *len)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return ek_error(errno == ENOENT ? EK_ERR_NOT_FOUND : EK_ERR_IO,
                        "key address '%.200s': %s; %s", path, strerror(errno), EK_ADDR_FORMS);
    char *b = malloc(EK_ADDR_FILE_MAX + 1);
    size_t n = 0;
    ssize_t r = 0;
    while (b && n <= EK_ADDR_FILE_MAX && (r = read(fd, b + n, EK_ADDR_FILE_MAX + 1 - n)) > 0)
        n += (size_t)r;
    close(fd);
    if (!b || r < 0 || n > EK_ADDR_FILE_MAX) {
        free(b);
        return ek_error(!b      ? EK_ERR_NOMEM
                        : r < 0 ? EK_ERR_IO
                                : EK_ERR_INVALID,
                        "key file %.200s: %s", path,
                        !b      ? "out of memory"
                        : r < 0 ? strerror(errno)
                                : "too large for a key file");
    }
    b[n] = '\0';
    *buf = b;
    *len = n;
    return EK_OK;
}

/* Parse the URI held in a URI PEM file; kind URI_FILE (or HANDLE). */
static ek_rc parse_uri_file(const char *text, size_t len, ek_addr *out)
{
    char uri[2048], path[sizeof(out->path)];
    ek_rc rc = ek_addr_uri_pem_decode(text, len, uri, sizeof(uri));
    if (rc != EK_OK)
        return rc;
    memcpy(path, out->path, sizeof(path)); /* parsing the URI resets *out */
    if (strncasecmp(uri, "handle:", 7) == 0)
        rc = parse_handle(uri + 7, out);
    else if (strncasecmp(uri, "pkcs11:", 7) == 0)
        rc = ek_addr_parse_pkcs11(uri, out);
    else
        rc = ek_error(EK_ERR_INVALID,
                      "the URI file wraps '%.40s', which is neither a pkcs11: "
                      "URI nor a handle: address",
                      uri);
    if (rc == EK_OK && out->kind == EK_ADDR_PKCS11)
        out->kind = EK_ADDR_URI_FILE;
    memcpy(out->path, path, sizeof(path));
    ek_wipe(uri, sizeof(uri)); /* may hold a pin-value */
    return rc;
}

static ek_rc parse_file(const char *path, ek_addr *out)
{
    char *text = NULL;
    size_t len = 0;
    ek_rc rc = read_file(path, &text, &len);
    if (rc != EK_OK)
        return rc;
    ek_keyfile kf;
    if (strstr(text, "-----BEGIN " EK_TSS2_PEM_LABEL "-----")) {
        rc = ek_keyfile_decode_pem(text, len, &kf);
        out->kind = EK_ADDR_TSS2_FILE;
    } else if (strstr(text, "-----BEGIN " EK_URI_PEM_LABEL "-----") ||
               strstr(text, "-----BEGIN " EK_P11PROV_PEM_LABEL "-----")) {
        rc = parse_uri_file(text, len, out);
    } else if (ek_keyfile_decode_der((const unsigned char *)text, len, &kf) == EK_OK) {
        out->kind = EK_ADDR_TSS2_FILE;
    } else {
        ek_wipe(text, len);
        free(text);
        return ek_error(EK_ERR_INVALID,
                        "key file %.200s holds neither a TSS2 PRIVATE KEY (PEM or DER) nor an "
                        "EDGEKEY URI PEM",
                        path);
    }
    if (rc != EK_OK) /* say which file the decoder's complaint is about */
        rc = ek_error(rc, "key file %.200s: %s", path, ek_last_error());
    ek_wipe(text, len); /* a URI file may hold a pin-value */
    free(text);
    return rc;
}

ek_rc ek_addr_parse(const char *s, ek_addr *out)
{
    if (!out)
        return ek_error(EK_ERR_INVALID, "key address: no output");
    memset(out, 0, sizeof(*out));
    if (!s || !*s)
        return ek_error(EK_ERR_INVALID, "empty key address; %s", EK_ADDR_FORMS);
    if (strncasecmp(s, "pkcs11:", 7) == 0)
        return ek_addr_parse_pkcs11(s, out);
    if (strncasecmp(s, "handle:", 7) == 0)
        return parse_handle(s + 7, out);
    ek_rc rc;
    if (strncasecmp(s, "file:", 5) == 0)
        rc = file_url_path(s, out->path, sizeof(out->path));
    else if (strlen(s) >= sizeof(out->path))
        rc = ek_error(EK_ERR_INVALID, "key file path is too long (%zu bytes)", strlen(s));
    else
        rc = (memcpy(out->path, s, strlen(s) + 1), EK_OK);
    if (rc == EK_OK)
        rc = parse_file(out->path, out);
    if (rc != EK_OK) {
        ek_addr_clear(out);
        out->kind = 0;
    }
    return rc;
}

ek_rc ek_addr_format_pkcs11(const char *token, const char *object, const unsigned char *id,
                            size_t id_len, ek_obj_class type, char *buf, size_t bufsize)
{
    static const CK_OBJECT_CLASS classes[] = {0, CKO_PRIVATE_KEY, CKO_PUBLIC_KEY, CKO_CERTIFICATE};
    if (token && strlen(token) > 32)
        return ek_error(EK_ERR_INVALID, "token label '%.40s' is longer than 32 bytes", token);
    P11KitUri *u = p11_kit_uri_new();
    if (!u)
        return ek_error(EK_ERR_NOMEM, "pkcs11 URI: out of memory");
    if (token && *token) {
        CK_TOKEN_INFO *ti = p11_kit_uri_get_token_info(u);
        memset(ti->label, ' ', sizeof(ti->label));
        memcpy(ti->label, token, strlen(token));
    }
    CK_OBJECT_CLASS cls = (unsigned)type < 4 ? classes[type] : 0;
    CK_ATTRIBUTE attrs[] = {
        {CKA_LABEL, (void *)object, object ? strlen(object) : 0},
        {CKA_ID, (void *)id, id_len},
        {CKA_CLASS, &cls, sizeof(cls)},
    };
    if (object && *object)
        p11_kit_uri_set_attribute(u, &attrs[0]);
    if (id && id_len)
        p11_kit_uri_set_attribute(u, &attrs[1]);
    if (cls)
        p11_kit_uri_set_attribute(u, &attrs[2]);
    char *s = NULL;
    ek_rc rc = EK_OK;
    if (p11_kit_uri_format(u, P11_KIT_URI_FOR_OBJECT_ON_TOKEN, &s) != P11_KIT_URI_OK || !s)
        rc = ek_error(EK_ERR_NOMEM, "pkcs11 URI: formatting failed");
    else if (strlen(s) >= bufsize)
        rc = ek_error(EK_ERR_BUFFER_TOO_SMALL, "pkcs11 URI needs %zu bytes", strlen(s) + 1);
    else
        memcpy(buf, s, strlen(s) + 1);
    free(s);
    p11_kit_uri_free(u);
    return rc;
}

ek_rc ek_addr_uri_pem_encode(const char *uri, char **pem, size_t *len)
{
    ek_addr check;
    ek_rc rc = EK_OK;
    if (!uri || !pem || !len)
        return ek_error(EK_ERR_INVALID, "URI PEM: nothing to encode");
    if (strncasecmp(uri, "handle:", 7) == 0)
        rc = parse_handle(uri + 7, &check);
    else
        rc = ek_addr_parse_pkcs11(uri, &check);
    ek_addr_clear(&check);
    if (rc != EK_OK)
        return rc;
    EK_URI_REF *ref = (EK_URI_REF *)ASN1_item_new(URI_REF_IT);
    unsigned char *der = NULL;
    int n = 0;
    if (!ref || !ASN1_STRING_set(ref->desc, EK_URI_DESC, -1) ||
        !ASN1_STRING_set(ref->uri, uri, -1) ||
        (n = ASN1_item_i2d((ASN1_VALUE *)ref, &der, URI_REF_IT)) <= 0)
        rc = ek_error(EK_ERR_NOMEM, "URI PEM: encoding failed");
    else
        rc = ek_pem_encode(EK_URI_PEM_LABEL, der, (size_t)n, pem, len);
    if (der)
        OPENSSL_clear_free(der, (size_t)n);
    ASN1_item_free((ASN1_VALUE *)ref, URI_REF_IT);
    ERR_clear_error();
    return rc;
}

/* Decode SEQUENCE { desc, uri } with the shape of the label found. */
static ek_rc uri_from_der(const unsigned char *der, size_t len, size_t which, char *uri,
                          size_t urisize)
{
    const ASN1_ITEM *it = which == 0 ? URI_REF_IT : P11PROV_URI_IT;
    const unsigned char *p = der;
    ASN1_VALUE *v = ASN1_item_d2i(NULL, &p, (long)len, it);
    ek_rc rc = EK_OK;
    /* Both structs start with desc then uri, each an ASN1_STRING pointer. */
    const ASN1_STRING *s = v ? ((EK_URI_REF *)v)->uri : NULL;
    if (!v || p != der + len)
        rc = ek_error(EK_ERR_INVALID, "URI PEM: not a SEQUENCE { desc, uri }");
    else if ((size_t)ASN1_STRING_length(s) >= urisize)
        rc = ek_error(EK_ERR_BUFFER_TOO_SMALL, "URI PEM: the URI is %d bytes, too long",
                      ASN1_STRING_length(s));
    else if (memchr(ASN1_STRING_get0_data(s), 0, (size_t)ASN1_STRING_length(s)))
        rc = ek_error(EK_ERR_INVALID, "URI PEM: the URI contains a NUL byte");
    else {
        memcpy(uri, ASN1_STRING_get0_data(s), (size_t)ASN1_STRING_length(s));
        uri[ASN1_STRING_length(s)] = '\0';
    }
    if (v)
        ASN1_item_free(v, it);
    ERR_clear_error();
    return rc;
}

ek_rc ek_addr_uri_der_decode(const unsigned char *der, size_t len, char *uri, size_t urisize)
{
    if (!der || !uri || urisize == 0)
        return ek_error(EK_ERR_INVALID, "URI DER: no input or output buffer");
    return uri_from_der(der, len, 0, uri, urisize);
}

ek_rc ek_addr_uri_pem_decode(const char *pem, size_t len, char *uri, size_t urisize)
{
    static const char *const labels[] = {EK_URI_PEM_LABEL, EK_P11PROV_PEM_LABEL};
    unsigned char *der = NULL;
    size_t der_len = 0, which = 0;
    if (!uri || urisize == 0)
        return ek_error(EK_ERR_INVALID, "URI PEM: no output buffer");
    ek_rc rc = ek_pem_find(pem, len, labels, 2, &der, &der_len, &which);
    if (rc == EK_ERR_NOT_FOUND)
        return ek_error(EK_ERR_INVALID, "no -----BEGIN " EK_URI_PEM_LABEL
                                        "----- (or " EK_P11PROV_PEM_LABEL ") block found");
    if (rc != EK_OK)
        return rc;
    rc = uri_from_der(der, der_len, which, uri, urisize);
    ek_wipe(der, der_len);
    free(der);
    return rc;
}

/* ---- opening the key behind an address ---- */

static bool obj_wanted(const ek_store_obj *o, const ek_addr *a)
{
    ek_token_info ti;
    if (!o->has_key)
        return false;
    if (a->manufacturer[0] && strcmp(a->manufacturer, EK_TOKEN_MANUFACTURER) != 0)
        return false;
    if (a->model[0] && strcmp(a->model, EK_TOKEN_MODEL) != 0)
        return false;
    return !a->serial[0] ||
           (ek_store_token_get(o->token, &ti) == EK_OK && strcmp(ti.serial, a->serial) == 0);
}

/* The URI's pin-value: in a PIN token it is the user PIN the key's auth is
 * derived from (ek_token.h); in a PIN-less token it is the key's own auth. */
static ek_rc apply_pin(const ek_addr *a, const ek_store_obj *o, ek_key *key)
{
    unsigned char auth[EK_TOKEN_AUTH_MAX];
    size_t auth_len = 0;
    size_t pin_len = strlen(a->pin);
    ek_rc rc = ek_token_key_auth_pin(o->token, a->pin, pin_len, o->id, o->id_len, auth, &auth_len);
    if (rc == EK_OK)
        rc = auth_len ? ek_key_set_auth(key, auth, auth_len)
                      : ek_key_set_auth(key, (const unsigned char *)a->pin, pin_len);
    ek_wipe(auth, sizeof(auth));
    return rc;
}

static ek_rc open_from_store(const char *shown, const ek_addr *a, ek_key **out)
{
    if (a->type == EK_OBJ_CERT)
        return ek_error(EK_ERR_NOT_FOUND, "%s names a certificate (type=cert), not a key", shown);
    ek_store_obj *objs = NULL;
    size_t n = 0, hits = 0, pick = 0;
    ek_rc rc = ek_store_find(a->token, a->object, a->id, a->id_len, &objs, &n);
    if (rc != EK_OK)
        return rc;
    for (size_t i = 0; i < n; i++)
        if (obj_wanted(&objs[i], a))
            hits++, pick = i;
    char idhex[2 * sizeof(a->id) + 1];
    ek_hex(a->id, a->id_len, idhex);
    if (hits == 0)
        rc = ek_error(EK_ERR_NOT_FOUND,
                      "no edgekey key matches %s%s: searched %s%s%s in store %s for object '%s' "
                      "id '%s'; list keys with `edgekey list`; a key that was deleted (edgekey "
                      "delete) is gone from the TPM and the store: make a new one%s",
                      shown, a->kind == EK_ADDR_URI_FILE ? " (a key reference file)" : "",
                      a->token[0] ? "token '" : "all tokens", a->token, a->token[0] ? "'" : "",
                      ek_store_root(), a->object[0] ? a->object : "*", a->id_len ? idhex : "*",
                      a->kind == EK_ADDR_URI_FILE
                          ? " and write a new reference file with `edgekey export-ref`"
                          : "");
    else if (hits > 1)
        rc = ek_error(EK_ERR_INVALID, "ambiguous: %zu keys match %s; add id= or object=", hits,
                      shown);
    else if ((rc = ek_store_load_key(&objs[pick], out)) == EK_OK && a->has_pin &&
             (rc = apply_pin(a, &objs[pick], *out)) != EK_OK) {
        ek_key_free(*out);
        *out = NULL;
    }
    free(objs);
    return rc;
}

static ek_rc open_file(const char *path, ek_key **out)
{
    char *text = NULL;
    size_t len = 0;
    ek_rc rc = read_file(path, &text, &len);
    if (rc != EK_OK)
        return rc;
    if (strstr(text, "-----BEGIN "))
        rc = ek_key_from_tss2_pem(text, len + 1, out);
    else
        rc = ek_key_from_tss2_der((const unsigned char *)text, len, out);
    free(text);
    return rc;
}

ek_rc ek_key_open(const char *address, ek_key **out)
{
    ek_addr a;
    char shown[300];
    if (!out)
        return ek_error(EK_ERR_INVALID, "ek_key_open: no output");
    *out = NULL;
    ek_rc rc = ek_addr_parse(address, &a);
    if (rc != EK_OK)
        return rc;
    ek_addr_masked(address, shown, sizeof(shown));
    switch (a.kind) {
    case EK_ADDR_HANDLE:
        rc = ek_key_from_handle(a.handle, out);
        break;
    case EK_ADDR_TSS2_FILE:
        rc = open_file(a.path, out);
        break;
    case EK_ADDR_PKCS11:
    case EK_ADDR_URI_FILE:
        rc = open_from_store(shown, &a, out);
        break;
    }
    ek_addr_clear(&a);
    return rc;
}
