#!/usr/bin/env bash
# Issue 5, acceptance 5: `edge-client reset` revokes the device certificate
# at the hub (over mutual TLS, reason 5), destroys the TPM key and the
# sealed deviceSecret (C_DestroyObject), removes the certificate; after the
# operator's `edgekey-hub device reset` the next start activates again
# and makes a NEW key and certificate.
# Can fail: each property is checked before the reset too (key listed,
# data object in the token store, certificate active), so a reset that leaves any of
# them, or a re-enrolment that reuses the old key, is caught.
#   reset.sh [rsa2048|ec-p256]
. "$EDGEKEY_SRC/tests/e2e/edge/lib.sh" edge-reset
PK=reset-meter
SN=SN-reset-$$
t_hub "$PK" "$SN"
KEY_TYPE=${1:-rsa2048}
ek_edge_conf "$T/edge.conf" "$PK" "$SN" "$T/edge-data" "$KEY_TYPE"
# the device maker's subject fields: the hub checks only CN = SN
printf 'subject_c = DE\nsubject_st = Bavaria\nsubject_o = Acme Meters\n' >>"$T/edge.conf"
edge() { # LOG ARGS...
    local log=$1
    shift
    EDGE_RC=0
    edge_env "$EDGE_BIN" --config "$T/edge.conf" "$@" </dev/null >"$log" 2>&1 || EDGE_RC=$?
}
# data_objects: labels of the token's sealed data objects, from the store
# files (<store>/<token>/<name>.data, "label = <hex>", see core/ek_secret.h)
data_objects() {
    local f
    for f in "$T/edge-store/edge"/*.data; do
        [ -e "$f" ] || continue
        sed -n 's/^label = //p' "$f" | xxd -r -p
        echo
    done
}
key_listed() { grep -q "object=device;" <<<"$(edge_env "$B/cli/edgekey" list 2>&1)"; }

# 1. enrol + publish
edge "$T/run1.log" run --once --count 2
[ $EDGE_RC = 0 ] || die "first run exit $EDGE_RC" "$T/run1.log"
grep -q "deviceSecret sealed in the TPM" "$T/run1.log" || die "the deviceSecret was not sealed" "$T/run1.log"
grep -q "CSR signed in the TPM (C=DE, ST=Bavaria, O=Acme Meters, CN=$SN)" "$T/run1.log" ||
    die "the CSR subject with C/ST/O was not used or not accepted" "$T/run1.log"
CERT1=$(cat "$T/edge-data/device.sn")
openssl x509 -in "$T/edge-data/device.pem" -noout -pubkey >"$T/pub1.pem"
key_listed || die "before reset: the key is not in edgekey list"
data_objects >"$T/objs1.txt"
grep -q "deviceSecret" "$T/objs1.txt" || die "before reset: no deviceSecret data object in the token" "$T/objs1.txt"
grep -q "$CERT1 .*active" <<<"$(hub cert list --device-key "$SN")" || die "before reset: $CERT1 not active"
echo "ok: enrolled: certificate $CERT1, key and sealed deviceSecret in the token"

# 2. reset
edge "$T/reset.log" reset
cat "$T/reset.log"
[ $EDGE_RC = 0 ] || die "edge-client reset exit $EDGE_RC" "$T/reset.log"
grep -q "$CERT1 .*revoked *reason=5" <<<"$(hub cert list --device-key "$SN")" ||
    die "after reset the hub does not list $CERT1 as revoked (reason 5): $(hub cert list --device-key "$SN")"
key_listed && die "after reset the key is still listed by edgekey list"
data_objects >"$T/objs2.txt"
grep -q "deviceSecret" "$T/objs2.txt" && die "after reset the deviceSecret data object is still in the token" "$T/objs2.txt"
[ ! -e "$T/edge-data/device.pem" ] && [ ! -e "$T/edge-data/device.secret" ] ||
    die "after reset a certificate or secret file is left in the data directory"
for f in identity queue.db; do
    [ ! -e "$T/edge-data/$f" ] || die "after reset data_dir/$f (state of the old identity) is left"
done
echo "ok: reset: $CERT1 revoked (reason 5), key gone from edgekey list, sealed deviceSecret destroyed, certificate removed"

# 3. without the operator the hub refuses a second activation
edge "$T/run2.log" run --once --count 1
[ $EDGE_RC != 0 ] && grep -q "already_activated" "$T/run2.log" ||
    die "re-activation without the operator's device reset: exit $EDGE_RC" "$T/run2.log"
echo "ok: re-activation refused until the operator resets the device (already_activated)"

# 4. operator reset, next start: activation, new key, new certificate
hub device reset --device-key "$SN" >"$T/hubreset.log" 2>&1 || die "edgekey-hub device reset" "$T/hubreset.log"
edge "$T/run3.log" run --once --count 2
[ $EDGE_RC = 0 ] || die "run after the device reset: exit $EDGE_RC" "$T/run3.log"
grep -q "edge: activated" "$T/run3.log" || die "no fresh activation after reset" "$T/run3.log"
grep -q "certificate issued" "$T/run3.log" || die "no new certificate after reset" "$T/run3.log"
grep -q "telemetry 2/2 acknowledged" "$T/run3.log" || die "no telemetry after re-enrolment" "$T/run3.log"
CERT2=$(cat "$T/edge-data/device.sn")
[ "$CERT2" != "$CERT1" ] || die "the same certificate serial after reset"
openssl x509 -in "$T/edge-data/device.pem" -noout -pubkey >"$T/pub2.pem"
cmp -s "$T/pub1.pem" "$T/pub2.pem" && die "the new certificate carries the OLD public key"
key_listed || die "after re-enrolment the new key is not listed"
echo "ok: re-activated with a new $KEY_TYPE TPM key and certificate $CERT2, telemetry flows"
