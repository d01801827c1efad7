#!/bin/sh
# mlvpn status script of the client (statuscommand): mlvpn runs it as root, with
#   $1 = the tun device, $2 = tuntap_up | tuntap_down | rtun_up | rtun_down, $3 = the link
# and MTU, IP4, IP4_GATEWAY, IP4_ROUTES, IP6, IP6_GATEWAY, IP6_ROUTES from the configuration.
# Everything here comes from the configuration file: nothing to edit in this script.
# Install as /etc/mlvpn/mlvpn0_updown.sh, owned by root, mode 0700.
dev=$1
event=$2
link=$3
if [ -z "$dev" ] || [ -z "$event" ]; then
	echo "usage: $0 DEVICE EVENT [LINK]" >&2
	exit 1
fi

log() {
	if command -v logger >/dev/null 2>&1; then
		logger -t "mlvpn-updown[$dev]" "$*"
	else
		echo "$(date '+%F %T') $*" >>"/tmp/mlvpn_$dev.log"
	fi
}

# Adds (or, with "del", removes) each route of a list through the tunnel.
routes() {
	action=$1 family=$2 gateway=$3
	shift 3
	for r in "$@"; do
		if [ "$action" = add ]; then
			ip "$family" route replace "$r" ${gateway:+via "$gateway"} dev "$dev" || log "route $r failed"
		else
			ip "$family" route del "$r" dev "$dev" 2>/dev/null
		fi
	done
}

case $event in
tuntap_up)
	log "$dev up (MTU ${MTU:-1432}, ${IP4:-no IPv4 address}${IP6:+, $IP6})"
	ip link set dev "$dev" mtu "${MTU:-1432}" up
	[ -n "${IP4:-}" ] && ip -4 addr replace "$IP4" dev "$dev"
	[ -n "${IP6:-}" ] && ip -6 addr replace "$IP6" dev "$dev"
	# shellcheck disable=SC2086 # the route lists are space-separated
	routes add -4 "${IP4_GATEWAY:-}" ${IP4_ROUTES:-}
	# shellcheck disable=SC2086
	routes add -6 "${IP6_GATEWAY:-}" ${IP6_ROUTES:-}
	;;
tuntap_down)
	log "$dev down"
	# shellcheck disable=SC2086
	routes del -4 "" ${IP4_ROUTES:-}
	# shellcheck disable=SC2086
	routes del -6 "" ${IP6_ROUTES:-}
	ip link set dev "$dev" down 2>/dev/null
	;;
rtun_up) log "link $link up" ;;
rtun_down) log "link $link down" ;;
esac
exit 0
