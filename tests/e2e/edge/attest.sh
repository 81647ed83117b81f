#!/usr/bin/env bash
# Issue 13, acceptance 2-3 with the edge client: a hub that trusts a TPM
# maker (ek_roots). A product `--attestation off` takes a TPM that has an EK
# certificate without attestation. Then the edge TPM loses its EK
# certificates (NV undefined). Under
# `--attestation optional` the device enrolls without attestation: no TCG
# policy in its certificate, `device show` says attested no. Under the
# default (required, since the hub has ek_roots) the same kind of device
# is refused with the rule named, and nothing is stored for it.
. "$EDGEKEY_SRC/tests/e2e/edge/lib.sh" edge-attest
. "$SRC/scripts/lib/ek-manufacture.sh"
# the edge TPM comes with EK certificates from a test maker CA the hub trusts
ek_manufacture "$T/edge-tpm" "$T/ekca" || die "swtpm_setup --create-ek-cert"
ek_start_tpms
ek_hub_init
echo "ek_roots = $EK_ROOTS" >>"$T/hub.conf"
ek_start_broker
ek_start_serve

hub --json product add --product-key opt --attestation optional >"$T/opt.json" || die "product add optional"
PSECRET=$(jget productSecret <"$T/opt.json")
[ "$(jget attestation <"$T/opt.json")" = optional ] || die "product opt: $(cat "$T/opt.json")"
hub --json product add --product-key req >"$T/req.json" || die "product add (default)"
[ "$(jget attestation <"$T/req.json")" = required ] || die "default with ek_roots is not required: $(cat "$T/req.json")"
PSECRET_REQ=$(jget productSecret <"$T/req.json")
hub device add --product-key opt --device-key SN-O >/dev/null || die "device add SN-O"
hub device add --product-key req --device-key SN-R >/dev/null || die "device add SN-R"

# a product that does not attest: the TPM could, the hub says it will not,
# the device enrolls without (no policy in its certificate)
PSECRET_OPT=$PSECRET
PSECRET=$(hub --json product add --product-key off --attestation off | jget productSecret)
hub device add --product-key off --device-key SN-F >/dev/null || die "device add SN-F"
ek_edge_conf "$T/f.conf" off SN-F "$T/data-f" ec-p256
printf 'token = edge-f\nlabel = device-f\n' >>"$T/f.conf"
edge_env "$EDGE_BIN" --config "$T/f.conf" run --once --count 1 </dev/null >"$T/f.log" 2>&1 ||
    die "off: the device did not enroll" "$T/f.log"
grep -q "the hub does not attest this product" "$T/f.log" || die "off: no notice" "$T/f.log"
openssl x509 -in "$T/data-f/device.pem" -noout -text | grep -q "Certificate Policies" &&
    die "off: the certificate carries the TCG policies"
echo "ok: off: a TPM with an EK certificate enrolls without attestation when the product says off"
PSECRET=$PSECRET_OPT

# from here the edge TPM has no EK certificate (a TPM maker that ships none)
TPM2TOOLS_TCTI=$EDGE_TCTI tpm2_nvundefine -Q -C p 0x01c00002 || die "nvundefine 0x01c00002"
TPM2TOOLS_TCTI=$EDGE_TCTI tpm2_nvundefine -Q -C p 0x01c00016 || die "nvundefine 0x01c00016"

# optional: enrolls without attestation
ek_edge_conf "$T/o.conf" opt SN-O "$T/data-o" ec-p256
edge_env "$EDGE_BIN" --config "$T/o.conf" run --once --count 1 </dev/null >"$T/o.log" 2>&1 ||
    die "optional: the device without EK certificate did not enroll" "$T/o.log"
grep -q "no EK certificate: enrolling without key attestation" "$T/o.log" || die "optional: no notice" "$T/o.log"
openssl x509 -in "$T/data-o/device.pem" -noout -text | grep -q "Certificate Policies" &&
    die "optional: an unattested certificate carries the TCG policies"
hub --json device show --device-key SN-O >"$T/o.json" || die "device show SN-O"
[ "$(jget attested <"$T/o.json")" = no ] && [ -z "$(jget ekHash <"$T/o.json")" ] ||
    die "optional: device show $(cat "$T/o.json")"
echo "ok: optional: no EK certificate, enrolled without the policy OID, attested no"

# required: refused, nothing stored
PSECRET=$PSECRET_REQ
ek_edge_conf "$T/r.conf" req SN-R "$T/data-r" ec-p256
printf 'token = edge-r\nlabel = device-r\n' >>"$T/r.conf"
rc=0
edge_env "$EDGE_BIN" --config "$T/r.conf" run --once --count 1 </dev/null >"$T/r.log" 2>&1 || rc=$?
[ $rc != 0 ] || die "required: a device without attestation enrolled" "$T/r.log"
grep -q "requires key attestation" "$T/r.log" || die "required: the refusal does not name the rule" "$T/r.log"
[ "$(hub --json cert list --device-key SN-R | jget certs | tr -d '[] \n')" = "" ] ||
    die "required: a certificate was stored for SN-R"
[ ! -e "$T/data-r/device.pem" ] || die "required: the device has a certificate"
echo "ok: required: refused (attest_required), nothing stored"
