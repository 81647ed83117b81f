# shellcheck shell=bash
# Sourced by scripts/compat: build unpacked Debian source trees (their
# patches applied by dpkg-source) with our own configure line, which skips
# the packages' docs and tests and takes a fraction of dpkg-buildpackage's
# time. Everything is installed under one prefix, found by RUNPATH.
#
#   compat_unpack DSC DIR                  dpkg-source -x (applies Debian's patches)
#   compat_build_openssl SRC PREFIX STAGE  libcrypto, libssl, openssl, providers
#   compat_build_tss SRC PREFIX STAGE      ESYS, SYS, MU, RC, TCTI loader and TCTIs
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
