/* Test helper: read a sealed data object through the core API the CLI and
 * applications use (ek_secret_read: token, label, PIN -> value), writing
 * the value to stdout. The PIN comes from EK_TEST_PIN (unset: none).
 *
 *   ek-secret-read TOKEN LABEL > value
 *
 * Exit: 0 read, 2 not found, 5 wrong PIN / not allowed, 1 other. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "ek_log.h"
#include "ek_secret.h"

int main(int argc, char **argv)
{
    if (argc != 3) {
        fprintf(stderr, "usage: ek-secret-read TOKEN LABEL\n");
        return 1;
    }
    const char *pin = getenv("EK_TEST_PIN");
    unsigned char buf[EK_SECRET_MAX];
    size_t len = 0;
    ek_rc rc = ek_secret_read(argv[1], argv[2], pin, pin ? strlen(pin) : 0, buf, sizeof(buf), &len);
    if (rc != EK_OK) {
        fprintf(stderr, "ek-secret-read: %s (%s)\n", ek_last_error(), ek_rc_name(rc));
        return rc == EK_ERR_NOT_FOUND ? 2 : rc == EK_ERR_AUTH ? 5 : 1;
    }
    int ok = fwrite(buf, 1, len, stdout) == len;
    ek_wipe(buf, sizeof(buf));
    return ok ? 0 : 1;
}
