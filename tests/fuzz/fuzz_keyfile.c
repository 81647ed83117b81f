/* libFuzzer target: the TSS2 PRIVATE KEY codec (DER and PEM).
 * Property: whatever decodes re-encodes to something that decodes to the
 * same key (parent, emptyAuth, public and private parts). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ek_key.h"
#include "ek_keyfile.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_round_trip(const ek_keyfile *kf)
{
    unsigned char *der = NULL;
    size_t len = 0;
    ek_keyfile back;
    if (ek_keyfile_encode_der(kf, &der, &len) != EK_OK ||
        ek_keyfile_decode_der(der, len, &back) != EK_OK || back.parent != kf->parent ||
        back.empty_auth != kf->empty_auth || back.pub.size != kf->pub.size ||
        back.priv.size != kf->priv.size ||
        memcmp(back.priv.buffer, kf->priv.buffer, kf->priv.size) != 0 ||
        memcmp(&back.pub.publicArea.unique, &kf->pub.publicArea.unique,
               sizeof(kf->pub.publicArea.unique)) != 0)
        abort();
    free(der);
    ek_pubkey pub;
    (void)ek_pubkey_from_tpmt(&kf->pub.publicArea, &pub);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    ek_keyfile kf;
    if (ek_keyfile_decode_der(data, size, &kf) == EK_OK)
        check_round_trip(&kf);
    char *text = malloc(size + 1);
    if (!text)
        return 0;
    memcpy(text, data, size);
    text[size] = '\0';
    if (ek_keyfile_decode_pem(text, size, &kf) == EK_OK)
        check_round_trip(&kf);
    free(text);
    return 0;
}
