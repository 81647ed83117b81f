/* edgekey core (internal): tpm2-tss and p11-kit, loaded on first use.
 *
 * Why: a program with the provider activated in openssl.cnf but no TPM key
 * (every openssl, curl, mosquitto run on the device) would otherwise map and
 * relocate libtss2-esys/-sys/-mu/-rc/-tctildr, libp11-kit and libffi at
 * start: about 80 page faults and several ms of CPU per process for nothing.
 * The core library is therefore linked without them (core/meson.build
 * defines EK_LAZY_LIBS and links with -z defs) and reaches them through the
 * tables below, filled by dlopen() on the first call, in four sets:
 * mu when a key file is decoded or the TPM is connected (raw commands need
 * nothing more; tcti_direct.c opens the TCTI module itself), tctildr only
 * for a TCTI configuration the loader must resolve, esys (with its libtss2-sys) only when a
 * command still goes through ESYS (the ESYS context is made on first need,
 * tpm.c), rc only when an error is decoded (Tss2_RC_Decode); p11-kit when a
 * pkcs11: URI is parsed or written. A sign or a PIN login then never maps
 * ESYS: ~0.7 ms of dlopen and relocation per process.
 *
 * Using a new tpm2-tss or p11-kit function in core: add it to the list
 * below (the -z defs link of libedgekey-core.so fails until you do). Without
 * EK_LAZY_LIBS (the unit and fuzz tests compile core files directly and link
 * the libraries) this header only includes the libraries' headers.
 *
 * Include it after any tss2/p11-kit header and before code that calls them. */
#ifndef EK_LAZY_H
#define EK_LAZY_H

#include <stdbool.h>

#include <p11-kit/pkcs11.h>
#include <p11-kit/uri.h>
#include <tss2/tss2_esys.h>
#include <tss2/tss2_mu.h>
#include <tss2/tss2_rc.h>
#include <tss2/tss2_tctildr.h>

#include "ek_error.h"

/* X(library, function): library is esys, tctildr, rc or mu. */
#define EK_LAZY_TSS2_FNS(X)                                                                        \
    X(esys, Esys_Create) X(esys, Esys_CreatePrimary) X(esys, Esys_EvictControl)                    \
    X(esys, Esys_Finalize) X(esys, Esys_FlushContext) X(esys, Esys_Free)                           \
    X(esys, Esys_GetCapability) X(esys, Esys_GetRandom) X(esys, Esys_Initialize)                   \
    X(esys, Esys_Load) X(esys, Esys_ReadClock) X(esys, Esys_ReadPublic)                            \
    X(esys, Esys_StartAuthSession) X(esys, Esys_Startup) X(esys, Esys_TRSess_SetAttributes)        \
    X(esys, Esys_TR_Close) X(esys, Esys_TR_Deserialize) X(esys, Esys_TR_FromTPMPublic) X(esys, Esys_TR_GetTpmHandle)            \
    X(esys, Esys_TR_SetAuth) X(esys, Esys_TestParms) X(esys, Esys_Unseal)                          \
    X(tctildr, Tss2_TctiLdr_Finalize) X(tctildr, Tss2_TctiLdr_Initialize)                          \
    X(rc, Tss2_RC_Decode)                                                                          \
    X(mu, Tss2_MU_TPMS_CAPABILITY_DATA_Unmarshal) X(mu, Tss2_MU_TPM2B_DIGEST_Unmarshal)            \
    X(mu, Tss2_MU_TPMS_TIME_INFO_Unmarshal)                                                        \
    X(mu, Tss2_MU_TPM2B_DIGEST_Marshal) X(mu, Tss2_MU_TPM2B_ENCRYPTED_SECRET_Marshal)              \
    X(mu, Tss2_MU_TPM2B_SENSITIVE_CREATE_Marshal) X(mu, Tss2_MU_TPM2B_DATA_Marshal)                \
    X(mu, Tss2_MU_TPML_PCR_SELECTION_Marshal) X(mu, Tss2_MU_TPM2B_SENSITIVE_DATA_Unmarshal)        \
    X(mu, Tss2_MU_TPM2B_NAME_Unmarshal) X(mu, Tss2_MU_TPM2B_NONCE_Marshal)                         \
    X(mu, Tss2_MU_TPM2B_NONCE_Unmarshal) X(mu, Tss2_MU_TPM2B_PRIVATE_Marshal)                      \
    X(mu, Tss2_MU_TPM2B_PRIVATE_Unmarshal) X(mu, Tss2_MU_TPM2B_PUBLIC_Marshal)                     \
    X(mu, Tss2_MU_TPM2B_PUBLIC_Unmarshal) X(mu, Tss2_MU_TPM2_SE_Marshal)                           \
    X(mu, Tss2_MU_TPMI_ALG_HASH_Marshal) X(mu, Tss2_MU_TPMS_AUTH_COMMAND_Marshal)                  \
    X(mu, Tss2_MU_TPMS_AUTH_RESPONSE_Unmarshal) X(mu, Tss2_MU_TPMS_ECC_POINT_Marshal)              \
    X(mu, Tss2_MU_TPMT_PUBLIC_Marshal) X(mu, Tss2_MU_TPMT_SIGNATURE_Unmarshal)                     \
    X(mu, Tss2_MU_TPMT_SIG_SCHEME_Marshal) X(mu, Tss2_MU_TPMT_SYM_DEF_Marshal)                     \
    X(mu, Tss2_MU_TPMT_TK_HASHCHECK_Marshal) X(mu, Tss2_MU_UINT16_Marshal)                         \
    X(mu, Tss2_MU_UINT16_Unmarshal) X(mu, Tss2_MU_UINT32_Marshal) X(mu, Tss2_MU_UINT32_Unmarshal)

#define EK_LAZY_P11KIT_FNS(X)                                                                      \
    X(p11kit, p11_kit_uri_any_unrecognized) X(p11kit, p11_kit_uri_format)                          \
    X(p11kit, p11_kit_uri_free) X(p11kit, p11_kit_uri_get_attribute)                               \
    X(p11kit, p11_kit_uri_get_module_name) X(p11kit, p11_kit_uri_get_module_path)                  \
    X(p11kit, p11_kit_uri_get_pin_source) X(p11kit, p11_kit_uri_get_pin_value)                     \
    X(p11kit, p11_kit_uri_get_token_info) X(p11kit, p11_kit_uri_message)                           \
    X(p11kit, p11_kit_uri_new) X(p11kit, p11_kit_uri_parse) X(p11kit, p11_kit_uri_set_attribute)

#define EK_LAZY_MEMBER(lib, fn) __typeof__(&fn) fn;
typedef struct ek_lazy_tss2_tab { EK_LAZY_TSS2_FNS(EK_LAZY_MEMBER) } ek_lazy_tss2_tab;
typedef struct ek_lazy_p11kit_tab { EK_LAZY_P11KIT_FNS(EK_LAZY_MEMBER) } ek_lazy_p11kit_tab;
#undef EK_LAZY_MEMBER

#if defined(EK_LAZY_LIBS) || defined(EK_LAZY_IMPL)
/* Load now (once per process, thread-safe). EK_OK, or EK_ERR_UNSUPPORTED
 * with a message naming the library and the package to install.
 * tss2: libtss2-mu; tctildr: the TCTI loader; esys: libtss2-esys (+ -sys). */
ek_rc ek_lazy_tss2_load(void);
ek_rc ek_lazy_tctildr_load(void);
ek_rc ek_lazy_esys_load(void);
ek_rc ek_lazy_p11kit_load(void);
extern ek_lazy_tss2_tab ek_lazy_tss2;
extern ek_lazy_p11kit_tab ek_lazy_p11kit;
/* For calls that cannot report an error of their own: load or abort with
 * the reason (the libraries are package dependencies of edgekey). One per
 * set (mu's is ek_lazy_tss2_need). rc never aborts: without
 * libtss2-rc, Tss2_RC_Decode gives the code in hex. */
const ek_lazy_tss2_tab *ek_lazy_tss2_need(void);
const ek_lazy_tss2_tab *ek_lazy_tctildr_need(void);
const ek_lazy_tss2_tab *ek_lazy_esys_need(void);
const ek_lazy_tss2_tab *ek_lazy_rc_need(void);
const ek_lazy_p11kit_tab *ek_lazy_p11kit_need(void);
#define ek_lazy_mu_need ek_lazy_tss2_need
#else
static inline ek_rc ek_lazy_tss2_load(void) { return EK_OK; }
static inline ek_rc ek_lazy_esys_load(void) { return EK_OK; }
static inline ek_rc ek_lazy_tctildr_load(void) { return EK_OK; }
static inline ek_rc ek_lazy_p11kit_load(void) { return EK_OK; }
#endif

#if defined(EK_LAZY_LIBS) && !defined(EK_LAZY_IMPL)
#define EK_LAZY_REDIRECT_TSS2(lib, fn) ek_lazy_##lib##_need()->fn
#define EK_LAZY_REDIRECT_P11KIT(lib, fn) ek_lazy_p11kit_need()->fn
/* Each name becomes a call through its table. */
#define Esys_Create EK_LAZY_REDIRECT_TSS2(esys, Esys_Create)
#define Esys_CreatePrimary EK_LAZY_REDIRECT_TSS2(esys, Esys_CreatePrimary)
#define Esys_EvictControl EK_LAZY_REDIRECT_TSS2(esys, Esys_EvictControl)
#define Esys_Finalize EK_LAZY_REDIRECT_TSS2(esys, Esys_Finalize)
#define Esys_FlushContext EK_LAZY_REDIRECT_TSS2(esys, Esys_FlushContext)
#define Esys_Free EK_LAZY_REDIRECT_TSS2(esys, Esys_Free)
#define Esys_GetCapability EK_LAZY_REDIRECT_TSS2(esys, Esys_GetCapability)
#define Esys_GetRandom EK_LAZY_REDIRECT_TSS2(esys, Esys_GetRandom)
#define Esys_Initialize EK_LAZY_REDIRECT_TSS2(esys, Esys_Initialize)
#define Esys_Load EK_LAZY_REDIRECT_TSS2(esys, Esys_Load)
#define Esys_ReadClock EK_LAZY_REDIRECT_TSS2(esys, Esys_ReadClock)
#define Esys_ReadPublic EK_LAZY_REDIRECT_TSS2(esys, Esys_ReadPublic)
#define Esys_StartAuthSession EK_LAZY_REDIRECT_TSS2(esys, Esys_StartAuthSession)
#define Esys_Startup EK_LAZY_REDIRECT_TSS2(esys, Esys_Startup)
#define Esys_TRSess_SetAttributes EK_LAZY_REDIRECT_TSS2(esys, Esys_TRSess_SetAttributes)
#define Esys_TR_Close EK_LAZY_REDIRECT_TSS2(esys, Esys_TR_Close)
#define Esys_TR_Deserialize EK_LAZY_REDIRECT_TSS2(esys, Esys_TR_Deserialize)
#define Esys_TR_FromTPMPublic EK_LAZY_REDIRECT_TSS2(esys, Esys_TR_FromTPMPublic)
#define Esys_TR_GetTpmHandle EK_LAZY_REDIRECT_TSS2(esys, Esys_TR_GetTpmHandle)
#define Esys_TR_SetAuth EK_LAZY_REDIRECT_TSS2(esys, Esys_TR_SetAuth)
#define Esys_TestParms EK_LAZY_REDIRECT_TSS2(esys, Esys_TestParms)
#define Esys_Unseal EK_LAZY_REDIRECT_TSS2(esys, Esys_Unseal)
#define Tss2_TctiLdr_Finalize EK_LAZY_REDIRECT_TSS2(tctildr, Tss2_TctiLdr_Finalize)
#define Tss2_TctiLdr_Initialize EK_LAZY_REDIRECT_TSS2(tctildr, Tss2_TctiLdr_Initialize)
#define Tss2_RC_Decode EK_LAZY_REDIRECT_TSS2(rc, Tss2_RC_Decode)
#define Tss2_MU_TPMS_CAPABILITY_DATA_Unmarshal                                                     \
    EK_LAZY_REDIRECT_TSS2(mu, Tss2_MU_TPMS_CAPABILITY_DATA_Unmarshal)
#define Tss2_MU_TPM2B_DIGEST_Unmarshal EK_LAZY_REDIRECT_TSS2(mu, Tss2_MU_TPM2B_DIGEST_Unmarshal)
#define Tss2_MU_TPMS_TIME_INFO_Unmarshal                                                           \
    EK_LAZY_REDIRECT_TSS2(mu, Tss2_MU_TPMS_TIME_INFO_Unmarshal)
#define Tss2_MU_TPM2B_DIGEST_Marshal EK_LAZY_REDIRECT_TSS2(mu, Tss2_MU_TPM2B_DIGEST_Marshal)
#define Tss2_MU_TPM2B_ENCRYPTED_SECRET_Marshal                                                     \
    EK_LAZY_REDIRECT_TSS2(mu, Tss2_MU_TPM2B_ENCRYPTED_SECRET_Marshal)
#define Tss2_MU_TPM2B_SENSITIVE_CREATE_Marshal                                                     \
    EK_LAZY_REDIRECT_TSS2(mu, Tss2_MU_TPM2B_SENSITIVE_CREATE_Marshal)
#define Tss2_MU_TPM2B_DATA_Marshal EK_LAZY_REDIRECT_TSS2(mu, Tss2_MU_TPM2B_DATA_Marshal)
#define Tss2_MU_TPML_PCR_SELECTION_Marshal                                                         \
    EK_LAZY_REDIRECT_TSS2(mu, Tss2_MU_TPML_PCR_SELECTION_Marshal)
#define Tss2_MU_TPM2B_SENSITIVE_DATA_Unmarshal                                                     \
    EK_LAZY_REDIRECT_TSS2(mu, Tss2_MU_TPM2B_SENSITIVE_DATA_Unmarshal)
#define Tss2_MU_TPM2B_NAME_Unmarshal EK_LAZY_REDIRECT_TSS2(mu, Tss2_MU_TPM2B_NAME_Unmarshal)
#define Tss2_MU_TPM2B_NONCE_Marshal EK_LAZY_REDIRECT_TSS2(mu, Tss2_MU_TPM2B_NONCE_Marshal)
#define Tss2_MU_TPM2B_NONCE_Unmarshal EK_LAZY_REDIRECT_TSS2(mu, Tss2_MU_TPM2B_NONCE_Unmarshal)
#define Tss2_MU_TPM2B_PRIVATE_Marshal EK_LAZY_REDIRECT_TSS2(mu, Tss2_MU_TPM2B_PRIVATE_Marshal)
#define Tss2_MU_TPM2B_PRIVATE_Unmarshal EK_LAZY_REDIRECT_TSS2(mu, Tss2_MU_TPM2B_PRIVATE_Unmarshal)
#define Tss2_MU_TPM2B_PUBLIC_Marshal EK_LAZY_REDIRECT_TSS2(mu, Tss2_MU_TPM2B_PUBLIC_Marshal)
#define Tss2_MU_TPM2B_PUBLIC_Unmarshal EK_LAZY_REDIRECT_TSS2(mu, Tss2_MU_TPM2B_PUBLIC_Unmarshal)
#define Tss2_MU_TPM2_SE_Marshal EK_LAZY_REDIRECT_TSS2(mu, Tss2_MU_TPM2_SE_Marshal)
#define Tss2_MU_TPMI_ALG_HASH_Marshal EK_LAZY_REDIRECT_TSS2(mu, Tss2_MU_TPMI_ALG_HASH_Marshal)
#define Tss2_MU_TPMS_AUTH_COMMAND_Marshal                                                          \
    EK_LAZY_REDIRECT_TSS2(mu, Tss2_MU_TPMS_AUTH_COMMAND_Marshal)
#define Tss2_MU_TPMS_AUTH_RESPONSE_Unmarshal                                                       \
    EK_LAZY_REDIRECT_TSS2(mu, Tss2_MU_TPMS_AUTH_RESPONSE_Unmarshal)
#define Tss2_MU_TPMS_ECC_POINT_Marshal EK_LAZY_REDIRECT_TSS2(mu, Tss2_MU_TPMS_ECC_POINT_Marshal)
#define Tss2_MU_TPMT_PUBLIC_Marshal EK_LAZY_REDIRECT_TSS2(mu, Tss2_MU_TPMT_PUBLIC_Marshal)
#define Tss2_MU_TPMT_SIGNATURE_Unmarshal EK_LAZY_REDIRECT_TSS2(mu, Tss2_MU_TPMT_SIGNATURE_Unmarshal)
#define Tss2_MU_TPMT_SIG_SCHEME_Marshal EK_LAZY_REDIRECT_TSS2(mu, Tss2_MU_TPMT_SIG_SCHEME_Marshal)
#define Tss2_MU_TPMT_SYM_DEF_Marshal EK_LAZY_REDIRECT_TSS2(mu, Tss2_MU_TPMT_SYM_DEF_Marshal)
#define Tss2_MU_TPMT_TK_HASHCHECK_Marshal                                                          \
    EK_LAZY_REDIRECT_TSS2(mu, Tss2_MU_TPMT_TK_HASHCHECK_Marshal)
#define Tss2_MU_UINT16_Marshal EK_LAZY_REDIRECT_TSS2(mu, Tss2_MU_UINT16_Marshal)
#define Tss2_MU_UINT16_Unmarshal EK_LAZY_REDIRECT_TSS2(mu, Tss2_MU_UINT16_Unmarshal)
#define Tss2_MU_UINT32_Marshal EK_LAZY_REDIRECT_TSS2(mu, Tss2_MU_UINT32_Marshal)
#define Tss2_MU_UINT32_Unmarshal EK_LAZY_REDIRECT_TSS2(mu, Tss2_MU_UINT32_Unmarshal)
#define p11_kit_uri_any_unrecognized EK_LAZY_REDIRECT_P11KIT(p11kit, p11_kit_uri_any_unrecognized)
#define p11_kit_uri_format EK_LAZY_REDIRECT_P11KIT(p11kit, p11_kit_uri_format)
#define p11_kit_uri_free EK_LAZY_REDIRECT_P11KIT(p11kit, p11_kit_uri_free)
#define p11_kit_uri_get_attribute EK_LAZY_REDIRECT_P11KIT(p11kit, p11_kit_uri_get_attribute)
#define p11_kit_uri_get_module_name EK_LAZY_REDIRECT_P11KIT(p11kit, p11_kit_uri_get_module_name)
#define p11_kit_uri_get_module_path EK_LAZY_REDIRECT_P11KIT(p11kit, p11_kit_uri_get_module_path)
#define p11_kit_uri_get_pin_source EK_LAZY_REDIRECT_P11KIT(p11kit, p11_kit_uri_get_pin_source)
#define p11_kit_uri_get_pin_value EK_LAZY_REDIRECT_P11KIT(p11kit, p11_kit_uri_get_pin_value)
#define p11_kit_uri_get_token_info EK_LAZY_REDIRECT_P11KIT(p11kit, p11_kit_uri_get_token_info)
#define p11_kit_uri_message EK_LAZY_REDIRECT_P11KIT(p11kit, p11_kit_uri_message)
#define p11_kit_uri_new EK_LAZY_REDIRECT_P11KIT(p11kit, p11_kit_uri_new)
#define p11_kit_uri_parse EK_LAZY_REDIRECT_P11KIT(p11kit, p11_kit_uri_parse)
#define p11_kit_uri_set_attribute EK_LAZY_REDIRECT_P11KIT(p11kit, p11_kit_uri_set_attribute)
#endif /* EK_LAZY_LIBS && !EK_LAZY_IMPL */

#endif
