/* edgekey doctor: the host around the TPM. The TPM device node (owner,
 * group, mode, whether we may open it, the tss group), the store directory
 * (ours to write, nobody else's) and the system clock. */
#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include "doctor.h"
#include "ek_config.h"

static void owner_str(const struct stat *st, char *buf, size_t size)
{
    struct passwd *pw = getpwuid(st->st_uid);
    struct group *gr = getgrgid(st->st_gid);
    char u[16], g[16];
    snprintf(u, sizeof(u), "%u", (unsigned)st->st_uid);
    snprintf(g, sizeof(g), "%u", (unsigned)st->st_gid);
    snprintf(buf, size, "%s:%s mode %04o", pw ? pw->pw_name : u, gr ? gr->gr_name : g,
             (unsigned)(st->st_mode & 07777));
}

static bool in_group(gid_t gid)
{
    gid_t list[256];
    int n = getgroups(256, list);
    if (getegid() == gid)
        return true;
    for (int i = 0; i < n; i++)
        if (list[i] == gid)
            return true;
    return false;
}

/* The node the TCTI opens, or NULL when the TCTI is no device. */
static const char *device_path(const ek_tpm_health *h)
{
    if (h->tcti[0] == '\0')
        return "/dev/tpmrm0"; /* the loader's default order tries it */
    if (strcmp(h->tcti_name, "device") != 0)
        return NULL;
    const char *p = strchr(h->tcti, ':');
    return p && p[1] ? p + 1 : "/dev/tpm0";
}

static void tss_note(char *buf, size_t size)
{
    struct group *tss = getgrnam("tss");
    if (tss == NULL)
        snprintf(buf, size, "no 'tss' group on this system");
    else
        snprintf(buf, size, "you are %sin group tss", in_group(tss->gr_gid) ? "" : "not ");
}

void dr_check_device(dr_report *r, const ek_tpm_health *h)
{
    const char *dev = device_path(h);
    char tss[64], own[160], fix[320];
    tss_note(tss, sizeof(tss));
    if (dev == NULL) {
        dr_add(r, "device", DR_OK, 0, NULL, "TCTI \"%s\" opens no device node here; %s", h->tcti,
               tss);
        return;
    }
    struct stat st;
    if (stat(dev, &st) != 0) {
        dr_add(r, "device", DR_FAIL, EXIT_TPM,
               "enable the TPM in the firmware setup and load its driver (modprobe tpm_crb or "
               "tpm_tis); under systemd, PrivateDevices=yes hides it",
               "%s does not exist", dev);
        return;
    }
    owner_str(&st, own, sizeof(own));
    if (!S_ISCHR(st.st_mode)) {
        dr_add(r, "device", DR_FAIL, EXIT_STORE, "point the TCTI at the TPM's character device",
               "%s (%s) is not a character device", dev, own);
        return;
    }
    if (faccessat(AT_FDCWD, dev, R_OK | W_OK, AT_EACCESS) == 0) {
        dr_add(r, "device", DR_OK, 0, NULL, "%s (%s) is readable and writable; %s", dev, own, tss);
        return;
    }
    struct group *gr = getgrgid(st.st_gid);
    if ((st.st_mode & 060) == 060 && gr)
        snprintf(fix, sizeof(fix), "sudo usermod -aG %s $USER, then log in again", gr->gr_name);
    else
        snprintf(fix, sizeof(fix),
                 "install tpm2-tss's udev rule (tss:tss 0660 for %s; Debian: tpm-udev), then "
                 "udevadm trigger, and sudo usermod -aG tss $USER",
                 dev);
    dr_add(r, "device", DR_FAIL, EXIT_STORE, fix, "%s (%s) cannot be opened read-write by you; %s",
           dev, own, tss);
}

static void store_missing(dr_report *r, const char *root, const char *src)
{
    char parent[1100], fix[1300];
    snprintf(parent, sizeof(parent), "%s", root);
    char *slash = strrchr(parent, '/');
    if (slash)
        *(slash == parent ? slash + 1 : slash) = '\0';
    if (faccessat(AT_FDCWD, parent, W_OK | X_OK, AT_EACCESS) == 0) {
        dr_add(r, "store", DR_OK, 0, NULL, "%s (%s) does not exist yet; the first keygen makes it",
               root, src);
        return;
    }
    snprintf(fix, sizeof(fix), "sudo install -d -m 0755 -o $USER %s", root);
    dr_add(r, "store", DR_FAIL, EXIT_STORE, fix,
           "%s (%s) does not exist and you cannot create it in %s", root, src, parent);
}

void dr_check_store(dr_report *r)
{
    const char *root = ek_store_root();
    char src[1200], own[160], fix[1300];
    struct stat st;
    ek_config_source("store", src, sizeof(src));
    if (root == NULL) {
        dr_add(r, "store", DR_FAIL, EXIT_USAGE, "fix the edgekey configuration file",
               "no store: %s", ek_last_error());
        return;
    }
    /* stat, not lstat: a store root reached through a link is the
     * administrator's choice; the store refuses links inside it. */
    if (stat(root, &st) != 0) {
        store_missing(r, root, src);
        return;
    }
    owner_str(&st, own, sizeof(own));
    if (!S_ISDIR(st.st_mode)) {
        dr_add(r, "store", DR_FAIL, EXIT_STORE,
               "point EDGEKEY_STORE or store = ... at a real directory",
               "%s (%s, %s) is not a directory", root, own, src);
    } else if (st.st_mode & 022) {
        snprintf(fix, sizeof(fix), "chmod go-w %s", root);
        dr_add(r, "store", DR_FAIL, EXIT_STORE, fix,
               "%s (%s, %s) is writable by group or others: they could replace key files", root,
               own, src);
    } else if (faccessat(AT_FDCWD, root, W_OK | X_OK, AT_EACCESS) != 0) {
        struct passwd *pw = getpwuid(geteuid());
        snprintf(fix, sizeof(fix), "sudo chown -R %s %s (or run as its owner)",
                 pw ? pw->pw_name : "$USER", root);
        dr_add(r, "store", DR_FAIL, EXIT_STORE, fix,
               "%s (%s, %s) is not writable by you (uid %u): keygen, certificates and PIN "
               "changes fail",
               root, own, src, (unsigned)geteuid());
    } else {
        dr_add(r, "store", DR_OK, 0, NULL, "%s (%s, %s) is writable by you only", root, own, src);
    }
}

/* The build date (__DATE__, "Mmm dd yyyy") as a floor: a clock before it is
 * certainly wrong, and certificates would not be valid yet. */
static time_t build_floor(void)
{
    static const char months[] = "JanFebMarAprMayJunJulAugSepOctNovDec";
    const char *d = __DATE__;
    struct tm tm = {0};
    const char *m = strstr(months, (char[]){d[0], d[1], d[2], '\0'});
    tm.tm_mon = m ? (int)(m - months) / 3 : 0;
    tm.tm_mday = atoi(d + 4);
    tm.tm_year = atoi(d + 7) - 1900;
    return timegm(&tm);
}

void dr_check_clock(dr_report *r)
{
    time_t now = time(NULL), floor = build_floor();
    char when[32], built[32];
    struct tm tm;
    strftime(when, sizeof(when), "%Y-%m-%d %H:%M:%S UTC", gmtime_r(&now, &tm));
    strftime(built, sizeof(built), "%Y-%m-%d", gmtime_r(&floor, &tm));
    if (now < floor)
        dr_add(r, "clock", DR_FAIL, EXIT_OTHER,
               "set the clock: timedatectl set-ntp true (or date -u -s 'YYYY-MM-DD HH:MM:SS')",
               "the system time %s is before this edgekey was built (%s): certificates look "
               "not yet valid and TLS fails",
               when, built);
    else
        dr_add(r, "clock", DR_OK, 0, NULL, "system time %s (not before the build, %s)", when,
               built);
}
