/* Slot pressure: 5 different keys used in rotation, 50 signatures each. On a
 * direct TCTI swtpm has 3 object slots (SRK + 2 keys), so keys are evicted
 * and reloaded all the time; no "out of memory for object contexts" may
 * surface, and we never hold more objects than the slots. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ek_key.h"
#include "ek_tpm.h"
#include "ek_tpm_int.h"
#include "tpm_test.h"

#define KEYS 5
#define ROUNDS 50

static unsigned transient_in_tpm(void)
{
    ESYS_CONTEXT *esys;
    TPMS_CAPABILITY_DATA *cap = NULL;
    TPMI_YES_NO more;
    unsigned n = 0;
    if (ek_tpm_lock(&esys) != EK_OK)
        return 99;
    if (Esys_GetCapability(esys, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE, TPM2_CAP_HANDLES,
                           EK_HR_TRANSIENT, 64, &more, &cap) == TSS2_RC_SUCCESS)
        n = cap->data.handles.count;
    Esys_Free(cap);
    ek_tpm_unlock();
    return n;
}

int main(void)
{
    static const unsigned char pin[] = "slot";
    ek_key *k[KEYS];
    for (int i = 0; i < KEYS; i++) {
        ek_keygen_spec s = {.alg = EK_ALG_EC,
                            .bits = i == 4 ? 384 : 256,
                            .curve = i == 4 ? EK_CURVE_P384 : EK_CURVE_P256};
        if (i == 3) {
            s = (ek_keygen_spec){.alg = EK_ALG_RSA, .bits = 2048};
        }
        if (i == 1) {
            s.auth = pin;
            s.auth_len = sizeof(pin) - 1;
        }
        REQUIRE_OK(ek_key_generate(&s, &k[i]));
    }
    const char *mode = getenv("EDGEKEY_TEST_MODE");
    int bad = 0;
    unsigned maxseen = 0;
    for (int r = 0; r < ROUNDS; r++) {
        for (int i = 0; i < KEYS; i++) {
            bool ok = i == 3
                          ? tt_sign_verify(k[i], EK_SIG_RSA_PKCS1, EK_MD_SHA256, 0, "slot")
                          : tt_sign_verify(k[i], EK_SIG_ECDSA, EK_MD_SHA256, EK_ECDSA_DER, "slot");
            bad += !ok;
        }
        if (r % 10 == 0) {
            unsigned n = transient_in_tpm();
            maxseen = n > maxseen ? n : maxseen;
        }
    }
    printf("%d failed signatures of %d; at most %u transient objects seen (%s)\n", bad,
           KEYS * ROUNDS, maxseen, mode ? mode : "?");
    CHECK(bad == 0, "signatures failed under slot pressure");
    if (mode && strcmp(mode, "direct") == 0) /* behind abrmd the RM virtualises slots */
        CHECK(maxseen <= 3, "more transient objects than swtpm slots: %u", maxseen);
    for (int i = 0; i < KEYS; i++)
        ek_key_free(k[i]);
    ek_tpm_disconnect();
    return tt_finish("slots");
}
