/* Reconnecting: ek_tpm_disconnect mid-use; a wrong TCTI gives EK_ERR_CONNECT
 * naming the TCTI, and the right one works again afterwards. In direct mode
 * swtpm itself goes away under us (EK_ERR_CONNECT naming the TCTI, then the
 * next operation reconnects when it is back) and is restarted between two
 * operations (a TPM reset: recovered within the operation); the same key
 * blobs load again each time. */
#include <errno.h>
#include <netinet/in.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "ek_config.h"
#include "ek_key.h"
#include "ek_tpm.h"
#include "tpm_test.h"

extern char **environ;

static ek_rc sign_once(ek_key *k)
{
    unsigned char dg[32] = {1}, sig[80];
    size_t sl = sizeof(sig);
    return ek_key_sign(k, EK_SIG_ECDSA, EK_MD_SHA256, dg, 32, EK_ECDSA_DER, sig, &sl);
}

static void use_tcti(const char *tcti)
{
    setenv("EDGEKEY_TCTI", tcti, 1);
    ek_config_reset();
    ek_tpm_disconnect();
}

static void test_wrong_tcti(ek_key *k, const char *good)
{
    static const char *bad[] = {"swtpm:host=127.0.0.1,port=1", "nosuchtcti:whatever"};
    for (size_t i = 0; i < 2; i++) {
        use_tcti(bad[i]);
        ek_rc rc = sign_once(k);
        CHECK(rc == EK_ERR_CONNECT, "TCTI %s gave %s", bad[i], ek_rc_name(rc));
        CHECK(strstr(ek_last_error(), bad[i]) != NULL, "message does not name the TCTI: %s",
              ek_last_error());
        printf("wrong TCTI: %s\n", ek_last_error());
    }
    use_tcti(good);
    CHECK(tt_sign_verify(k, EK_SIG_ECDSA, EK_MD_SHA256, EK_ECDSA_DER, "good again"),
          "right TCTI again");
}

static int port_open(int port)
{
    int s = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET,
                            .sin_port = htons((uint16_t)port),
                            .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    int ok = connect(s, (struct sockaddr *)&a, sizeof(a)) == 0;
    close(s);
    return ok;
}

static int swtpm_port(void)
{
    return atoi(getenv("EDGEKEY_SWTPM_PORT"));
}

/* Stop the swtpm whose pid is in FILE (tpm-env.sh's or ours). */
static void stop_swtpm(const char *pidfile)
{
    char path[512];
    snprintf(path, sizeof(path), "%s/%s", getenv("EDGEKEY_TEST_TMP"), pidfile);
    FILE *f = fopen(path, "r");
    int pid = 0;
    if (!f || fscanf(f, "%d", &pid) != 1 || pid <= 0) {
        if (f)
            fclose(f);
        return;
    }
    fclose(f);
    kill(pid, SIGTERM);
    for (int i = 0; i < 100 && (kill(pid, 0) == 0 || port_open(swtpm_port())); i++)
        usleep(50000);
}

/* Start swtpm on the same port and state directory. posix_spawn runs no
 * atfork handlers, so our connection stays open across the restart and
 * really meets a dead socket or a reset TPM. */
static pid_t start_swtpm(void)
{
    const char *tmp = getenv("EDGEKEY_TEST_TMP");
    int port = swtpm_port();
    char arg[5][600];
    snprintf(arg[0], sizeof(arg[0]), "dir=%s/tpm", tmp);
    snprintf(arg[1], sizeof(arg[1]), "type=tcp,port=%d,bindaddr=127.0.0.1", port);
    snprintf(arg[2], sizeof(arg[2]), "type=tcp,port=%d,bindaddr=127.0.0.1", port + 1);
    snprintf(arg[3], sizeof(arg[3]), "file=%s/swtpm2.log", tmp);
    snprintf(arg[4], sizeof(arg[4]), "file=%s/swtpm2.pid", tmp);
    char *argv[] = {"swtpm",
                    "socket",
                    "--tpm2",
                    "--tpmstate",
                    arg[0],
                    "--server",
                    arg[1],
                    "--ctrl",
                    arg[2],
                    "--flags",
                    "not-need-init,startup-clear",
                    "--log",
                    arg[3],
                    "--pid",
                    arg[4],
                    NULL};
    pid_t pid = -1;
    if (posix_spawnp(&pid, "swtpm", NULL, NULL, argv, environ) != 0)
        return -1;
    for (int i = 0; i < 100 && !port_open(port); i++)
        usleep(50000);
    return pid;
}

static void test_swtpm_restart(ek_key *k, const char *tcti)
{
    CHECK(tt_sign_verify(k, EK_SIG_ECDSA, EK_MD_SHA256, EK_ECDSA_DER, "before"), "before");
    uint64_t gen = ek_tpm_generation();

    /* 1. the TPM is gone: the operation fails, naming the TCTI */
    stop_swtpm("swtpm.pid");
    ek_rc rc = sign_once(k);
    printf("with swtpm down: %s: %s\n", ek_rc_name(rc), ek_last_error());
    CHECK(rc == EK_ERR_CONNECT, "swtpm down gave %s", ek_rc_name(rc));
    CHECK(strstr(ek_last_error(), tcti) != NULL, "message does not name the TCTI");

    /* 2. it is back (same state): the next operation reconnects */
    pid_t pid = start_swtpm();
    CHECK(pid > 0, "could not start swtpm again");
    CHECK(tt_sign_verify(k, EK_SIG_ECDSA, EK_MD_SHA256, EK_ECDSA_DER, "back"), "swtpm back");
    CHECK(ek_tpm_generation() > gen, "generation did not move");

    /* 3. restarted between two operations (swtpm's TCTI reconnects by
     *    itself, so we only notice that our objects are gone): recovered
     *    within the operation */
    gen = ek_tpm_generation();
    stop_swtpm("swtpm2.pid");
    waitpid(pid, NULL, 0);
    pid = start_swtpm();
    CHECK(tt_sign_verify(k, EK_SIG_ECDSA, EK_MD_SHA256, EK_ECDSA_DER, "reset"), "TPM reset");
    CHECK(ek_tpm_generation() > gen, "generation did not move after the reset");
    ek_tpm_disconnect();
    if (pid > 0) {
        kill(pid, SIGTERM);
        waitpid(pid, NULL, 0);
    }
}

int main(void)
{
    const char *good = getenv("EDGEKEY_TCTI");
    const char *mode = getenv("EDGEKEY_TEST_MODE");
    char goodcopy[512];
    snprintf(goodcopy, sizeof(goodcopy), "%s", good ? good : "");
    ek_keygen_spec ec = {.alg = EK_ALG_EC, .bits = 256, .curve = EK_CURVE_P256};
    ek_key *k = NULL;
    REQUIRE_OK(ek_key_generate(&ec, &k));
    for (int i = 0; i < 3; i++) { /* disconnect mid-use, then go on */
        CHECK(tt_sign_verify(k, EK_SIG_ECDSA, EK_MD_SHA256, EK_ECDSA_DER, "a"), "sign %d", i);
        ek_tpm_disconnect();
    }
    test_wrong_tcti(k, goodcopy);
    if (mode && strcmp(mode, "direct") == 0)
        test_swtpm_restart(k, goodcopy);
    else
        printf("swtpm restart: skipped behind tpm2-abrmd\n");
    ek_key_free(k);
    ek_tpm_disconnect();
    return tt_finish("reconnect");
}
