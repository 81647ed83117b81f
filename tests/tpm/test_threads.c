/* 8 threads x 200 signatures on one key (with an auth value, so the shared
 * HMAC session's nonces are exercised under contention), every signature
 * verified in software. */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ek_key.h"
#include "ek_tpm.h"
#include "tpm_test.h"

#define THREADS 8
#define SIGS 200

static ek_key *key;
static atomic_int good, bad;

static void *worker(void *arg)
{
    int id = (int)(long)arg;
    char msg[64];
    for (int i = 0; i < SIGS; i++) {
        snprintf(msg, sizeof(msg), "thread %d signature %d", id, i);
        ek_ecdsa_fmt fmt = (i & 1) ? EK_ECDSA_RAW : EK_ECDSA_DER;
        if (tt_sign_verify(key, EK_SIG_ECDSA, EK_MD_SHA256, fmt, msg))
            atomic_fetch_add(&good, 1);
        else
            atomic_fetch_add(&bad, 1);
    }
    return NULL;
}

int main(void)
{
    static const unsigned char pin[] = "threads";
    ek_keygen_spec spec = {.alg = EK_ALG_EC,
                           .bits = 256,
                           .curve = EK_CURVE_P256,
                           .auth = pin,
                           .auth_len = sizeof(pin) - 1};
    REQUIRE_OK(ek_key_generate(&spec, &key));
    pthread_t t[THREADS];
    for (long i = 0; i < THREADS; i++)
        pthread_create(&t[i], NULL, worker, (void *)i);
    for (int i = 0; i < THREADS; i++)
        pthread_join(t[i], NULL);
    printf("%d good, %d bad signatures\n", atomic_load(&good), atomic_load(&bad));
    CHECK(atomic_load(&good) == THREADS * SIGS && atomic_load(&bad) == 0, "threads");
    ek_key_free(key);
    ek_tpm_disconnect();
    return tt_finish("threads");
}
