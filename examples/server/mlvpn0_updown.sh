#!/bin/sh
# mlvpn status script of the server (statuscommand): mlvpn runs it as root, with
#   $1 = the tun device, $2 = tuntap_up | tuntap_down | rtun_up | rtun_down, $3 = the link
# and MTU, IP4, IP4_GATEWAY, IP4_ROUTES, IP6, IP6_GATEWAY, IP6_ROUTES from the configuration.
# On tuntap_up it sets the tunnel's address and routes (the client's LAN), turns on forwarding
# and masquerades what comes out of the tunnel towards the internet (an nftables table of its
# own, "mlvpn_<device>", removed on tuntap_down). Nothing to edit here.
# Install as /etc/mlvpn/mlvpn0_updown.sh, owned by root, mode 0700.
dev=$1
event=$2
link=$3
if [ -z "$dev" ] || [ -z "$event" ]; then
	echo "usage: $0 DEVICE EVENT [LINK]" >&2
	exit 1
fi
table=mlvpn_$dev

log() {
	if command -v logger >/dev/null 2>&1; then
		logger -t "mlvpn-updown[$dev]" "$*"
	else
		echo "$(date '+%F %T') $*" >>"/tmp/mlvpn_$dev.log"
	fi
}

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
	echo 1 >/proc/sys/net/ipv4/ip_forward
	# Masquerade what the tunnel forwards to any other interface (the internet side).
	nft delete table ip "$table" 2>/dev/null
	nft -f - <<NFT || log "nft: masquerading not set up"
table ip $table {
	chain postrouting {
		type nat hook postrouting priority srcnat; policy accept;
		iifname "$dev" oifname != "$dev" masquerade
	}
}
NFT
	;;
tuntap_down)
	log "$dev down"
	nft delete table ip "$table" 2>/dev/null
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
