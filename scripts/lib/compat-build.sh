# shellcheck shell=bash
# Sourced by scripts/compat: build unpacked Debian source trees (their
# patches applied by dpkg-source) with our own configure line, which skips
# the packages' docs and tests and takes a fraction of dpkg-buildpackage's
# time. Everything is installed under one prefix, found by RUNPATH.
#
#   compat_unpack DSC DIR                  dpkg-source -x (applies Debian's patches)
#   compat_build_openssl SRC PREFIX STAGE  libcrypto, libssl, openssl, providers
#   compat_build_tss SRC PREFIX STAGE      ESYS, SYS, MU, RC, TCTI loader and TCTIs
#   compat_build_opensc SRC DEST STAGE PREFIX  OpenSC's pkcs11-tool (and the
#                                          libopensc it links) into DEST, on
#                                          PREFIX's OpenSSL
#
# PREFIX is the final path (baked into RUNPATH, OPENSSLDIR and MODULESDIR);
# files go to STAGE/PREFIX, and the caller moves them into place when both
# builds succeeded, so a cache prefix is always whole.

# Shared CPU: low priority, at most two jobs.
COMPAT_MAKE=(nice -n 10 make -j2)

compat_unpack() {
    rm -rf "$2"
    dpkg-source -q -x "$1" "$2" >/dev/null
}

compat_build_openssl() {
    local src=$1 prefix=$2 stage=$3
    (
        cd "$src" &&
            nice -n 10 ./Configure --prefix="$prefix" --libdir=lib \
                --openssldir="$prefix/ssl" shared no-tests no-docs \
                "-Wl,-rpath,$prefix/lib" &&
            "${COMPAT_MAKE[@]}" build_sw &&
            make install_sw install_ssldirs DESTDIR="$stage"
    )
}

compat_build_tss() {
    local src=$1 prefix=$2 stage=$3
    # Built against the new OpenSSL in STAGE. FAPI and the policy library
    # are left out: they pull in libcurl, which links the system OpenSSL.
    (
        cd "$src" &&
            ./bootstrap &&
            PKG_CONFIG_PATH="$stage$prefix/lib/pkgconfig" PKG_CONFIG_SYSROOT_DIR="$stage" \
                nice -n 10 ./configure --prefix="$prefix" --libdir="$prefix/lib" \
                --sysconfdir="$prefix/etc" --localstatedir="$prefix/var" \
                --with-crypto=ossl --disable-fapi --disable-policy --disable-doxygen-doc \
                --disable-unit --disable-integration --disable-static \
                --disable-tcti-spi-ftdi --disable-tcti-i2c-ftdi \
                --with-udevrulesdir="$prefix/lib/udev/rules.d" \
                --with-sysusersdir="$prefix/lib/sysusers.d" \
                --with-tmpfilesdir="$prefix/lib/tmpfiles.d" \
                --with-runstatedir="$prefix/run" \
                LDFLAGS="-Wl,-rpath,$prefix/lib -L$stage$prefix/lib" \
                CPPFLAGS="-I$stage$prefix/include" &&
            "${COMPAT_MAKE[@]}" &&
            make install DESTDIR="$stage"
    )
}

compat_build_opensc() {
    local src=$1 dest=$2 stage=$3 prefix=$4 d
    # Only what pkcs11-tool links (libopensc and its convenience libraries);
    # OpenSC wants exactly one reader driver: CT-API, a library it would
    # dlopen, needs no PC/SC daemon or headers. No docs, tests or -Werror
    # (strict mode: a newer compiler or OpenSSL warns where 0.23 did not).
    (
        cd "$src" &&
            ./bootstrap &&
            PKG_CONFIG_PATH="$prefix/lib/pkgconfig" nice -n 10 ./configure \
                --prefix="$dest" --disable-static --disable-strict \
                --disable-pcsc --enable-ctapi --disable-openct --disable-sm \
                --disable-notify --disable-zlib --disable-readline --disable-openpace \
                --disable-man --disable-doc --disable-dnie-ui --disable-autostart-items \
                --disable-cmocka --enable-openssl \
                LDFLAGS="-Wl,-rpath,$prefix/lib" &&
            for d in common scconf ui pkcs15init sm libopensc; do
                "${COMPAT_MAKE[@]}" -C "src/$d" || exit 1
            done &&
            "${COMPAT_MAKE[@]}" -C src/tools pkcs11-tool &&
            make -C src/libopensc install DESTDIR="$stage" &&
            make -C src/tools install-binPROGRAMS bin_PROGRAMS=pkcs11-tool DESTDIR="$stage"
    )
}
