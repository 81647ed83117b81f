/* edgekey info: what the TPM is and how edgekey reaches it.
 *
 * Vendor, firmware, spec level, algorithms, transient slots, the RSA-PSS
 * salt behaviour (probed now: it decides whether TLS 1.3 client auth can
 * work), dictionary-attack lockout state, the TPM clock (TPM2_ReadClock:
 * clock, reset/restart counts, safe flag), TCTI and store in use, policy. */
#include <stdio.h>
#include <string.h>
#include "cli.h"
#include "ek_config.h"
#include "ek_info.h"
#include "ek_store.h"

static void usage(void)
{
    printf("usage: edgekey info [--no-probe] [--json]\n"
           "\nShows the TPM's vendor, firmware, spec level, algorithms, transient slots,\n"
           "its RSA-PSS salt behaviour (probed with a throw-away key unless --no-probe),\n"
           "dictionary-attack lockout state, the TPM clock (TPM2_ReadClock), the TCTI and\n"
           "store in use, and the key policy.\n");
}

static json_t *algorithms(const ek_tpm_info *ti)
{
    json_t *a = json_array();
    struct {
        bool have;
        const char *name;
    } list[] = {{ti->alg_rsa2048, "rsa2048"}, {ti->alg_rsa3072, "rsa3072"},
                {ti->alg_rsa4096, "rsa4096"}, {ti->alg_p256, "ec-p256"},
                {ti->alg_p384, "ec-p384"},    {ti->alg_pss, "rsa-pss"}};
    for (size_t i = 0; a && i < sizeof(list) / sizeof(list[0]); i++)
        if (list[i].have)
            json_array_append_new(a, json_string(list[i].name));
    return a;
}

static const char *salt_name(ek_pss_salt s)
{
    switch (s) {
    case EK_PSS_SALT_DIGEST:
        return "digest length (TLS 1.3 client auth works)";
    case EK_PSS_SALT_MAX:
        return "maximum (TLS 1.3 rejects it: use TLS 1.2 or an ECDSA key)";
    default:
        return "unknown";
    }
}

static const char *salt_key(ek_pss_salt s)
{
    return s == EK_PSS_SALT_DIGEST ? "digest" : s == EK_PSS_SALT_MAX ? "max" : "unknown";
}

static json_t *pss_json(bool probe, const ek_tpm_info *ti)
{
    if (!probe)
        return json_pack("{s:s,s:s}", "salt", salt_key(ti->pss_salt), "meaning",
                         ti->pss_salt ? salt_name(ti->pss_salt) : "not probed (--no-probe)");
    ek_pss_salt salt = EK_PSS_SALT_UNKNOWN;
    ek_rc rc = ek_tpm_probe_pss(&salt);
    if (rc != EK_OK) /* info still helps without it; say why it is missing */
        return json_pack("{s:s,s:o}", "salt", "unknown", "probe_error", out_str(ek_last_error()));
    return json_pack("{s:s,s:s}", "salt", salt_key(salt), "meaning", salt_name(salt));
}

static json_t *tpm_json(const ek_tpm_info *ti)
{
    char fw[48], spec[48];
    /* Vendors encode the version differently (swtpm: a date); give both. */
    snprintf(fw, sizeof(fw), "%u.%u (0x%04x%04x)", ti->fw_major, ti->fw_minor,
             ti->fw_major & 0xffff, ti->fw_minor & 0xffff);
    snprintf(spec, sizeof(spec), "%u.%02u level %u (%u)", ti->spec_revision / 100,
             ti->spec_revision % 100, ti->spec_level, ti->spec_year);
    return json_pack("{s:o,s:o,s:s,s:s,s:o,s:i,s:s}", "manufacturer", out_str(ti->manufacturer),
                     "vendor", out_str(ti->vendor), "firmware", fw, "spec", spec, "algorithms",
                     algorithms(ti), "transient_slots", (json_int_t)ti->transient_slots, "srk",
                     ti->srk_persistent ? "persistent 0x81000001"
                                        : "transient (standard template, made per connection)");
}

static json_t *lockout_json(const ek_tpm_info *ti)
{
    return json_pack("{s:b,s:i,s:i,s:i,s:i}", "locked_out", ti->da_locked, "failed_tries",
                     (json_int_t)ti->da_failed, "max_tries", (json_int_t)ti->da_max,
                     "recovery_seconds", (json_int_t)ti->da_recovery_s, "lockout_recovery_seconds",
                     (json_int_t)ti->da_lockout_recovery_s);
}

/* TPM2_ReadClock: what a rollback check compares the wall clock with. A
 * failed read is shown, not fatal: the rest of info still helps. */
static json_t *clock_json(void)
{
    ek_tpm_clock c;
    if (ek_tpm_read_clock(&c) != EK_OK)
        return json_pack("{s:o}", "error", out_str(ek_last_error()));
    return json_pack("{s:I,s:I,s:I,s:I,s:b}", "clock_ms", (json_int_t)c.clock_ms, "time_ms",
                     (json_int_t)c.time_ms, "reset_count", (json_int_t)c.reset_count,
                     "restart_count", (json_int_t)c.restart_count, "safe", c.safe);
}

static json_t *policy_json(const ek_config *cfg)
{
    return json_pack("{s:i,s:b,s:s}", "rsa_min_bits", (json_int_t)cfg->rsa_min_bits, "allow_ec",
                     cfg->allow_ec, "default_token", cfg->token);
}

struct info_opts {
    bool probe;
};

static int on_opt(void *state, int c, const char *arg)
{
    (void)arg;
    struct info_opts *o = state;
    if (c == OPT_CMD_BASE)
        o->probe = false;
    return 0;
}

int cmd_info(cli_ctx *ctx, int argc, char **argv)
{
    static const struct option opts[] = {
        CLI_GLOBAL_LONGOPTS, {"no-probe", no_argument, NULL, OPT_CMD_BASE}, {NULL, 0, NULL, 0}};
    struct info_opts o = {.probe = true};
    int r = cli_parse_opts(ctx, argc, argv, "h", opts, on_opt, &o);
    if (r == 'h') {
        usage();
        return EXIT_OK;
    }
    if (r != -1)
        return r;
    if (optind < argc)
        return out_usage(ctx, "info", "unexpected argument '%s'", argv[optind]);

    const ek_config *cfg = ek_config_get();
    if (cfg == NULL)
        return out_fail(ctx, EK_ERR_INVALID);
    ek_tpm_info ti;
    memset(&ti, 0, sizeof(ti));
    ek_rc rc = ek_tpm_get_info(&ti);
    if (rc != EK_OK)
        return out_fail(ctx, rc);
    json_t *res =
        json_pack("{s:o,s:o,s:o,s:o,s:o,s:o,s:o}", "tpm", tpm_json(&ti), "rsa_pss",
                  pss_json(o.probe, &ti), "lockout", lockout_json(&ti), "clock", clock_json(),
                  "tcti", out_str(ti.tcti[0] ? ti.tcti : "(TCTI loader default)"), "store",
                  out_str(ek_store_root()), "policy", policy_json(cfg));
    return out_result(ctx, res);
}
