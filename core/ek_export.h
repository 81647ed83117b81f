/* edgekey core: the export macro of libedgekey-core.so. Public header.
 *
 * The core library is compiled with -fvisibility=hidden (meson.build), so a
 * function is reachable from the faces (provider/, pkcs11/, cli/) only if
 * its declaration in a public core header carries EK_API. Everything else
 * stays inside the library. tests/unit/check-exports.sh (test core-exports)
 * fails if the library exports a symbol that no core/ek_*.h declares with
 * EK_API. Core-internal headers (ek_tpm.h, ek_tpm_int.h, ek_crypto.h,
 * ek_store_int.h, ek_secret_int.h, token_*.h)
 * are not for the faces; tests of internals link the static core_int_lib. */
#ifndef EK_EXPORT_H
#define EK_EXPORT_H

#if defined(__GNUC__) || defined(__clang__)
#define EK_API __attribute__((visibility("default")))
#else
#define EK_API
#endif

#endif
