# Stand-in for OpenWrt's /lib/functions.sh (package base-files) in the
# package install test: only default_postinst and default_prerm, written
# for this project to behave as OpenWrt's do for packages like ours. Under
# IPKG_INSTROOT (image building) init scripts are enabled through
# $IPKG_INSTROOT/etc/rc.common and uci-defaults are left for the first boot;
# on a live system uci-defaults run once and are removed, init scripts are
# enabled (unless upgrading) and started; default_prerm stops and disables.

default_postinst() {
	local root="${IPKG_INSTROOT}"
	local pkgname
	pkgname="$(basename "${1%.*}")"
	local filelist="$root/usr/lib/opkg/info/${pkgname}.list"
	local ret=0 i

	if [ -z "$root" ]; then
		if grep -m1 -q -s "^/etc/uci-defaults/" "$filelist"; then
			for i in $(grep -s "^/etc/uci-defaults/" "$filelist"); do
				( [ -f "$i" ] && cd "$(dirname "$i")" && . "$i" ) && rm -f "$i"
			done
		fi
		rm -f /tmp/luci-indexcache.*
	fi

	if [ -f "$root/usr/lib/opkg/info/${pkgname}.postinst-pkg" ]; then
		( . "$root/usr/lib/opkg/info/${pkgname}.postinst-pkg" )
		ret=$?
	fi

	for i in $(grep -s "^/etc/init.d/" "$filelist"); do
		if [ -n "$root" ]; then
			/bin/sh "$root/etc/rc.common" "$root$i" enable
		else
			[ "$PKG_UPGRADE" = "1" ] || "$i" enable
			"$i" start
		fi
	done
	return $ret
}

default_prerm() {
	local root="${IPKG_INSTROOT}"
	local pkgname
	pkgname="$(basename "${1%.*}")"
	local filelist="$root/usr/lib/opkg/info/${pkgname}.list"
	local ret=0 i

	if [ -f "$root/usr/lib/opkg/info/${pkgname}.prerm-pkg" ]; then
		( . "$root/usr/lib/opkg/info/${pkgname}.prerm-pkg" )
		ret=$?
	fi

	for i in $(grep -s "^/etc/init.d/" "$filelist"); do
		if [ -n "$root" ]; then
			/bin/sh "$root/etc/rc.common" "$root$i" disable
		else
			[ "$PKG_UPGRADE" = "1" ] || "$i" disable
			"$i" stop
		fi
	done
	return $ret
}
