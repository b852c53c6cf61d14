#!/bin/sh
# install-deps.sh - install every Debian package postern needs to build,
# test, benchmark and run.  Idempotent; uses apt-get only (Debian 12).
#
# Usage: tools/install-deps.sh   (as root)
set -eu

PACKAGES="
  build-essential autoconf automake libtool pkg-config
  libevent-dev libc-ares-dev libspf2-dev liblmdb-dev libhiredis-dev
  libpcre2-dev libssl-dev libmilter-dev
  zlib1g-dev libxml2-utils libmaxminddb-dev mmdb-bin
  clang libclang-rt-14-dev
  python3 python3-yaml
  unbound postfix postfix-pcre swaks redis-server postgrey
  postfix-policyd-spf-python
  miltertest opendkim opendkim-tools opendmarc python3-dkim python3-nacl
  libmail-dkim-perl
  publicsuffix
  procps iproute2 ca-certificates
"

if [ "$(id -u)" != 0 ]; then
	echo "install-deps.sh: must run as root (apt-get install)" >&2
	exit 1
fi

missing=""
for p in $PACKAGES; do
	if ! dpkg-query -W -f '${Status}\n' "$p" 2>/dev/null |
	    grep -q '^install ok installed$'; then
		missing="$missing $p"
	fi
done
if [ -z "$missing" ]; then
	echo "install-deps.sh: all packages present"
	exit 0
fi

export DEBIAN_FRONTEND=noninteractive
# Postfix: install the binaries only.  postern's tests run private
# instances (postfix -c DIR) and never touch /etc/postfix.
echo "postfix postfix/main_mailer_type select No configuration" |
	debconf-set-selections
# Do not let package scripts start daemons (nsd, postfix) system-wide.
if [ ! -e /usr/sbin/policy-rc.d ]; then
	printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d
	chmod 755 /usr/sbin/policy-rc.d
	trap 'rm -f /usr/sbin/policy-rc.d' EXIT
fi
apt-get update -q
apt-get install -y -q --no-install-recommends $missing
