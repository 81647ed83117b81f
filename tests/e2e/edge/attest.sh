#!/usr/bin/env bash
# Issue 13, acceptance 2-3 with the edge client: a hub that trusts a TPM
# maker (ek_roots) and an edge TPM with no EK certificate. Under
# `--attestation optional` the device enrolls without attestation: no TCG
# policy in its certificate, `device show` says attested no. Under the
# default (required, since the hub has ek_roots) the same kind of device
# is refused with the rule named, and nothing is stored for it.
. "$EDGEKEY_SRC/tests/e2e/edge/lib.sh" edge-attest
. "$SRC/scripts/lib/ek-manufacture.sh"
# a maker CA (its TPM is not used: the edge TPM below has no EK certificate)
ek_manufacture "$T/maker-tpm" "$T/ekca" || die "swtpm_setup --create-ek-cert"
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
