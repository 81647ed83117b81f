/* edgekey CLI: printing results and errors, human or JSON (--json).
 *
 * Commands build one JSON value (jansson) describing their result; --json
 * prints it as is, otherwise it is rendered as an indented "key: value"
 * tree. One data model keeps the two outputs in step. Errors always go to
 * stderr as "edgekey: <message>"; with --json an {"error":{...}} object is
 * printed on stdout as well, so a script always gets valid JSON. */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "cli.h"

int cli_exit_code(ek_rc rc)
{
    switch (rc) {
    case EK_OK:
        return EXIT_OK;
    case EK_ERR_INVALID:
        return EXIT_USAGE;
    case EK_ERR_NOT_FOUND:
        return EXIT_NOT_FOUND;
    case EK_ERR_POLICY:
        return EXIT_POLICY;
    case EK_ERR_TPM:
    case EK_ERR_CONNECT:
        return EXIT_TPM;
    case EK_ERR_AUTH:
    case EK_ERR_LOCKOUT:
        return EXIT_AUTH;
    case EK_ERR_IO:
        return EXIT_STORE;
    default:
        return EXIT_OTHER;
    }
}

static void print_error(const cli_ctx *ctx, int code, const char *kind, const char *msg)
{
    fprintf(stderr, "edgekey: %s\n", msg);
    if (ctx && ctx->json) {
        json_t *e = json_pack("{s:{s:i,s:s,s:o}}", "error", "exit_code", code, "kind", kind,
                              "message", out_str(msg));
        out_json(e);
    }
}

int out_fail(const cli_ctx *ctx, ek_rc rc)
{
    const char *msg = ek_last_error();
    char fallback[128];
    if (msg == NULL || *msg == '\0') {
        /* The core promises a message; say at least what kind of failure. */
        snprintf(fallback, sizeof(fallback), "failed: %s", ek_rc_name(rc));
        msg = fallback;
    }
    int code = cli_exit_code(rc);
    print_error(ctx, code, ek_rc_name(rc), msg);
    return code;
}

int out_usage(const cli_ctx *ctx, const char *cmd, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    char full[700];
    snprintf(full, sizeof(full), "%s%s%s; see 'edgekey %s%s--help'", cmd ? cmd : "",
             cmd ? ": " : "", msg, cmd ? cmd : "", cmd ? " " : "");
    print_error(ctx, EXIT_USAGE, "usage", full);
    return EXIT_USAGE;
}

void out_json(json_t *res)
{
    if (res == NULL) {
        /* jansson only fails here on out-of-memory. */
        fprintf(stderr, "edgekey: out of memory building JSON output\n");
        return;
    }
    json_dumpf(res, stdout, JSON_INDENT(2) | JSON_ENSURE_ASCII);
    fputc('\n', stdout);
    json_decref(res);
}

static void print_scalar(const json_t *v)
{
    switch (json_typeof(v)) {
    case JSON_STRING:
        fputs(json_string_value(v), stdout);
        break;
    case JSON_INTEGER:
        printf("%" JSON_INTEGER_FORMAT, json_integer_value(v));
        break;
    case JSON_REAL:
        printf("%g", json_real_value(v));
        break;
    case JSON_TRUE:
        fputs("yes", stdout);
        break;
    case JSON_FALSE:
        fputs("no", stdout);
        break;
    default:
        fputs("-", stdout);
        break;
    }
}

static bool is_scalar(const json_t *v)
{
    return !json_is_object(v) && !json_is_array(v);
}

/* Printed on the key's own line: a scalar or an array of scalars. */
static bool is_inline(const json_t *v)
{
    if (is_scalar(v))
        return true;
    if (!json_is_array(v))
        return false;
    size_t i;
    json_t *el;
    json_array_foreach(v, i, el)
    {
        if (!is_scalar(el))
            return false;
    }
    return true;
}

/* Arrays of scalars print on one line ("a, b, c"); arrays of objects as
 * blocks separated by blank lines. */
static void print_array(const json_t *arr, int indent)
{
    size_t i;
    json_t *el;
    bool scalars = true;
    json_array_foreach(arr, i, el)
    {
        scalars = scalars && is_scalar(el);
    }
    if (scalars) {
        json_array_foreach(arr, i, el)
        {
            if (i)
                fputs(", ", stdout);
            print_scalar(el);
        }
        if (json_array_size(arr) == 0)
            fputs("(none)", stdout);
        fputc('\n', stdout);
        return;
    }
    fputc('\n', stdout);
    json_array_foreach(arr, i, el)
    {
        if (i)
            fputc('\n', stdout);
        out_human_tree(el, indent + 2);
    }
}

void out_human_tree(const json_t *v, int indent)
{
    if (is_scalar(v)) {
        printf("%*s", indent, "");
        print_scalar(v);
        fputc('\n', stdout);
        return;
    }
    if (json_is_array(v)) {
        printf("%*s", indent, "");
        print_array(v, indent);
        return;
    }
    const char *k;
    json_t *el;
    size_t width = 0;
    json_object_foreach((json_t *)v, k, el)
    {
        if (is_inline(el) && strlen(k) > width)
            width = strlen(k);
    }
    json_object_foreach((json_t *)v, k, el)
    {
        if (is_scalar(el)) {
            printf("%*s%s:%*s ", indent, "", k, (int)(width - strlen(k)), "");
            print_scalar(el);
            fputc('\n', stdout);
        } else if (json_is_array(el)) {
            if (is_inline(el))
                printf("%*s%s:%*s ", indent, "", k, (int)(width - strlen(k)), "");
            else
                printf("%*s%s:", indent, "", k);
            print_array(el, indent);
        } else {
            printf("%*s%s:\n", indent, "", k);
            out_human_tree(el, indent + 2);
        }
    }
}

int out_result(const cli_ctx *ctx, json_t *res)
{
    if (res == NULL) {
        fprintf(stderr, "edgekey: out of memory building the output\n");
        return EXIT_OTHER;
    }
    if (ctx->json) {
        out_json(res);
    } else {
        out_human_tree(res, 0);
        json_decref(res);
    }
    return fflush(stdout) == 0 ? EXIT_OK : EXIT_STORE;
}

json_t *out_handle(uint32_t handle)
{
    if (handle == 0)
        return json_null();
    char buf[16];
    snprintf(buf, sizeof(buf), "0x%08x", handle);
    return json_string(buf);
}

json_t *out_str(const char *s)
{
    if (s == NULL)
        return json_null();
    json_t *j = json_string(s);
    if (j != NULL)
        return j;
    /* Not UTF-8 (e.g. raw TPM vendor bytes): keep printable ASCII only. */
    size_t n = strlen(s);
    char *c = malloc(n + 1);
    if (c == NULL)
        return NULL;
    for (size_t i = 0; i <= n; i++)
        c[i] = (i == n) ? '\0' : (s[i] >= 0x20 && s[i] < 0x7f) ? s[i] : '?';
    j = json_string(c);
    free(c);
    return j;
}

json_t *out_hex(const unsigned char *p, size_t n)
{
    char *s = malloc(2 * n + 1);
    if (s == NULL)
        return NULL;
    ek_hex(p, n, s);
    s[2 * n] = '\0';
    json_t *j = json_string(s);
    free(s);
    return j;
}

static ek_rc write_all(int fd, const char *data, size_t len, const char *path)
{
    while (len > 0) {
        ssize_t w = write(fd, data, len);
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0)
            return ek_error(EK_ERR_IO, "cannot write %s: %s", path, strerror(errno));
        data += w;
        len -= (size_t)w;
    }
    return EK_OK;
}

/* Temp file + fsync + rename, so a reader never sees half a file and an
 * old file survives a failed write. */
ek_rc out_write_file(const char *path, const char *data, size_t len)
{
    if (path == NULL || strcmp(path, "-") == 0) {
        ek_rc rc = write_all(STDOUT_FILENO, data, len, "stdout");
        return rc;
    }
    size_t n = strlen(path) + 16;
    char *tmp = malloc(n);
    if (tmp == NULL)
        return ek_error(EK_ERR_NOMEM, "out of memory writing %s", path);
    snprintf(tmp, n, "%s.XXXXXX", path);
    int fd = mkstemp(tmp);
    if (fd < 0) {
        ek_rc rc = ek_error(EK_ERR_IO,
                            "cannot create %s: %s; check the directory exists and is "
                            "writable",
                            path, strerror(errno));
        free(tmp);
        return rc;
    }
    ek_rc rc = write_all(fd, data, len, path);
    if (rc == EK_OK && fchmod(fd, 0644) != 0)
        rc = ek_error(EK_ERR_IO, "cannot set the mode of %s: %s", path, strerror(errno));
    if (rc == EK_OK && fsync(fd) != 0)
        rc = ek_error(EK_ERR_IO, "cannot write %s: %s", path, strerror(errno));
    if (close(fd) != 0 && rc == EK_OK)
        rc = ek_error(EK_ERR_IO, "cannot write %s: %s", path, strerror(errno));
    if (rc == EK_OK && rename(tmp, path) != 0)
        rc = ek_error(EK_ERR_IO, "cannot write %s: %s", path, strerror(errno));
    if (rc != EK_OK)
        unlink(tmp);
    free(tmp);
    return rc;
}
