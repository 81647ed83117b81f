#!/usr/bin/env bash
# TSS2 key files move both ways between edgekey and tpm2-openssl 1.1.1:
#  1. keys made by tpm2-openssl (openssl genpkey -provider tpm2) load and
#     sign with edgekey's core; openssl verifies with tpm2-openssl's public key;
#  2. keys made by edgekey load in tpm2-openssl (public key matches ours) and
#     sign there (openssl pkeyutl -provider tpm2); we verify in software.
# Run through tests/lib/tpm-env.sh; $1 is the ek-keytool helper.
set -euo pipefail
tool=$(readlink -f "${1:?usage: interop-tpm2-openssl.sh EK_KEYTOOL}")
T=${EDGEKEY_TEST_TMP:?run through tests/lib/tpm-env.sh}
cd "$T"
# tpm2-openssl lives in the system's module directory; the test environment
# points OPENSSL_MODULES at our build (edgekey's provider is not used here).
OPENSSL_MODULES=$(openssl version -m | sed -n 's/^MODULESDIR: "\(.*\)"$/\1/p')
export OPENSSL_MODULES
[ -f "$OPENSSL_MODULES/tpm2.so" ] || { echo "SKIP: tpm2-openssl not installed" >&2; exit 77; }
TPM2=(-provider tpm2 -provider default)
fail() { echo "FAIL: $*" >&2; exit 1; }
pass() { echo "ok: $*"; }
head -c 3000 /dev/urandom >data.bin

# 1. theirs -> ours
openssl genpkey "${TPM2[@]}" -algorithm EC -pkeyopt group:P-256 -out their-ec.pem
openssl genpkey "${TPM2[@]}" -algorithm RSA -pkeyopt bits:2048 -out their-rsa.pem
grep -q "BEGIN TSS2 PRIVATE KEY" their-ec.pem || fail "tpm2-openssl wrote no TSS2 key"
openssl pkey "${TPM2[@]}" -in their-ec.pem -pubout -out their-ec.pub
openssl pkey "${TPM2[@]}" -in their-rsa.pem -pubout -out their-rsa.pub
"$tool" pub their-ec.pem their-ec.ours.pub
cmp -s their-ec.pub their-ec.ours.pub || fail "public key of their EC key differs"
"$tool" sign their-ec.pem ecdsa sha256 data.bin sig1
openssl dgst -sha256 -verify their-ec.pub -signature sig1 data.bin >/dev/null ||
    fail "our ECDSA signature with their key does not verify"
pass "tpm2-openssl EC key signs with edgekey"
"$tool" sign their-rsa.pem pkcs1 sha256 data.bin sig2
openssl dgst -sha256 -verify their-rsa.pub -signature sig2 data.bin >/dev/null ||
    fail "our PKCS#1 signature with their RSA key does not verify"
"$tool" sign their-rsa.pem pss sha384 data.bin sig3
openssl dgst -sha384 -sigopt rsa_padding_mode:pss -sigopt rsa_pss_saltlen:digest \
    -verify their-rsa.pub -signature sig3 data.bin >/dev/null ||
    fail "our PSS signature with their RSA key does not verify"
pass "tpm2-openssl RSA key signs with edgekey (PKCS#1, PSS)"

# 2. ours -> theirs
for alg in ec-p256 rsa2048; do
    "$tool" gen $alg our-$alg.pem
    "$tool" pub our-$alg.pem our-$alg.pub
    openssl pkey "${TPM2[@]}" -in our-$alg.pem -pubout -out our-$alg.their.pub ||
        fail "tpm2-openssl cannot load our $alg key"
    cmp -s our-$alg.pub our-$alg.their.pub || fail "tpm2-openssl sees another public key"
    openssl dgst -sha256 -binary data.bin >dgst.bin
    opts=()
    [ $alg = rsa2048 ] && opts=(-pkeyopt rsa_padding_mode:pkcs1 -pkeyopt digest:sha256)
    [ $alg = ec-p256 ] && opts=(-pkeyopt digest:sha256)
    openssl pkeyutl "${TPM2[@]}" -sign -inkey our-$alg.pem "${opts[@]}" -in dgst.bin \
        -out our-$alg.sig || fail "tpm2-openssl cannot sign with our $alg key"
    openssl dgst -sha256 -verify our-$alg.pub -signature our-$alg.sig data.bin >/dev/null ||
        fail "tpm2-openssl's signature with our $alg key does not verify"
    pass "edgekey $alg key loads and signs in tpm2-openssl"
done

# 3. with a persistent SRK at 0x81000001 (as tpm2-tools users make it): our
#    new keys go under it and say so (parent 0x81000001), tpm2-openssl loads
#    them by handle; keys made earlier under the owner template still load.
tpm2_createprimary -Q -C o -g sha256 -G rsa2048:null:aes128cfb -c srk.ctx
tpm2_evictcontrol -Q -C o -c srk.ctx 0x81000001 >/dev/null
tpm2_flushcontext -t >/dev/null 2>&1 || true
"$tool" gen ec-p256 under-srk.pem
openssl asn1parse -in under-srk.pem | grep -q "INTEGER *:81000001" ||
    fail "key made with a persistent SRK does not name parent 0x81000001"
"$tool" pub under-srk.pem under-srk.pub
openssl dgst -sha256 -binary data.bin >dgst.bin
openssl pkeyutl "${TPM2[@]}" -sign -inkey under-srk.pem -pkeyopt digest:sha256 -in dgst.bin \
    -out under-srk.sig || fail "tpm2-openssl cannot sign with our key under 0x81000001"
openssl dgst -sha256 -verify under-srk.pub -signature under-srk.sig data.bin >/dev/null ||
    fail "signature with our key under 0x81000001 does not verify"
"$tool" sign their-ec.pem ecdsa sha256 data.bin sig4
openssl dgst -sha256 -verify their-ec.pub -signature sig4 data.bin >/dev/null ||
    fail "owner-template key no longer signs once 0x81000001 exists"
# an auth value under an RSA SRK: the session salt is RSA-OAEP encrypted
EK_KEY_AUTH=pin-4711 "$tool" gen ec-p256 pin.pem
EK_KEY_AUTH=pin-4711 "$tool" sign pin.pem ecdsa sha256 data.bin sig5
"$tool" pub pin.pem pin.pub
openssl dgst -sha256 -verify pin.pub -signature sig5 data.bin >/dev/null ||
    fail "auth-value key under the RSA SRK does not sign"
tpm2_evictcontrol -Q -C o -c 0x81000001 >/dev/null
pass "persistent SRK 0x81000001: keys move both ways"

# 4. a tpm2-tools key under another persistent parent (0x81000002), as
#    `tpm2_encodeobject` writes it: core loads it under that parent.
tpm2_createprimary -Q -C o -g sha256 -G ecc256:aes128cfb -c p2.ctx
tpm2_evictcontrol -Q -C o -c p2.ctx 0x81000002 >/dev/null
tpm2_flushcontext -t >/dev/null 2>&1 || true
tpm2_create -Q -C 0x81000002 -G ecc256 -a 'sign|fixedtpm|fixedparent|sensitivedataorigin|userwithauth' \
    -p p2-pw -u p2key.pub -r p2key.priv
tpm2_encodeobject -Q -C 0x81000002 -u p2key.pub -r p2key.priv -p -o p2key.pem
tpm2_flushcontext -t >/dev/null 2>&1 || true
"$tool" pub p2key.pem p2key.pubpem
EK_KEY_AUTH=p2-pw "$tool" sign p2key.pem ecdsa sha256 data.bin sig6
openssl dgst -sha256 -verify p2key.pubpem -signature sig6 data.bin >/dev/null ||
    fail "key under persistent parent 0x81000002 does not sign"
tpm2_evictcontrol -Q -C o -c 0x81000002 >/dev/null
pass "a tpm2-tools key under another persistent parent (0x81000002) signs"
