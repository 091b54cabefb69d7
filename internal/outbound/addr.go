package outbound

import (
	"fmt"
	"net/netip"
)

// special is a range that outbound calls refuse unless allowed, and why.
type special struct {
	prefix netip.Prefix
	reason string
}

// special4 lists the IPv4 ranges that are not globally reachable unicast
// (RFC 6890 and the IANA special-purpose registry), plus multicast. The
// first match names the reason, so narrower ranges come before wider ones.
var special4 = []special{
	{netip.MustParsePrefix("0.0.0.0/8"), "unspecified (this network)"},
	{netip.MustParsePrefix("10.0.0.0/8"), "private"},
	{netip.MustParsePrefix("100.64.0.0/10"), "shared address space (carrier-grade NAT)"},
	{netip.MustParsePrefix("127.0.0.0/8"), "loopback"},
	{netip.MustParsePrefix("169.254.0.0/16"), "link-local (cloud metadata)"},
	{netip.MustParsePrefix("172.16.0.0/12"), "private"},
	{netip.MustParsePrefix("192.0.0.0/24"), "IETF protocol assignments"},
	{netip.MustParsePrefix("192.0.2.0/24"), "documentation"},
	{netip.MustParsePrefix("192.168.0.0/16"), "private"},
	{netip.MustParsePrefix("198.18.0.0/15"), "benchmarking"},
	{netip.MustParsePrefix("198.51.100.0/24"), "documentation"},
	{netip.MustParsePrefix("203.0.113.0/24"), "documentation"},
	{netip.MustParsePrefix("224.0.0.0/4"), "multicast"},
	{netip.MustParsePrefix("255.255.255.255/32"), "broadcast"},
	{netip.MustParsePrefix("240.0.0.0/4"), "reserved"},
}

// special6 lists the IPv6 ranges refused outright. Ranges that embed an
// IPv4 address (IPv4-mapped, NAT64, 6to4) are judged by that address
// instead, and anything outside 2000::/3 that is not listed here is refused
// as not global unicast.
var special6 = []special{
	{netip.MustParsePrefix("::/128"), "unspecified"},
	{netip.MustParsePrefix("::1/128"), "loopback"},
	// IPv4-compatible addresses (::a.b.c.d) are deprecated (RFC 4291) and
	// no legitimate endpoint has one.
	{netip.MustParsePrefix("::/96"), "IPv4-compatible (deprecated)"},
	{netip.MustParsePrefix("100::/64"), "discard-only"},
	{netip.MustParsePrefix("64:ff9b:1::/48"), "local-use NAT64"},
	{netip.MustParsePrefix("fc00::/7"), "private (unique local)"},
	{netip.MustParsePrefix("fe80::/10"), "link-local"},
	{netip.MustParsePrefix("fec0::/10"), "site-local (deprecated)"},
	{netip.MustParsePrefix("ff00::/8"), "multicast"},
	// Teredo hides an IPv4 client address (XORed) in the low bits and is
	// obsolete: refused rather than decoded.
	{netip.MustParsePrefix("2001::/32"), "Teredo"},
	{netip.MustParsePrefix("2001:2::/48"), "benchmarking"},
	{netip.MustParsePrefix("2001:db8::/32"), "documentation"},
	{netip.MustParsePrefix("3fff::/20"), "documentation"},
}

var (
	nat64     = netip.MustParsePrefix("64:ff9b::/96") // RFC 6052: IPv4 in the low 32 bits
	sixToFour = netip.MustParsePrefix("2002::/16")    // RFC 3056: IPv4 in bits 16–47
	global6   = netip.MustParsePrefix("2000::/3")     // global unicast
)

// refusal returns why the default policy refuses a connection to a, or ""
// when a is a globally reachable unicast address. IPv4-mapped IPv6
// addresses are judged as the IPv4 address they carry, as are NAT64 and
// 6to4 addresses: a gateway would forward to that IPv4 address.
func refusal(a netip.Addr) string {
	a = a.WithZone("").Unmap()
	if !a.IsValid() {
		return "invalid address"
	}
	if a.Is4() {
		for _, s := range special4 {
			if s.prefix.Contains(a) {
				return s.reason
			}
		}
		return ""
	}
	for _, s := range special6 {
		if s.prefix.Contains(a) {
			return s.reason
		}
	}
	b := a.As16()
	switch {
	case nat64.Contains(a):
		return embedded("NAT64", netip.AddrFrom4([4]byte(b[12:16])))
	case sixToFour.Contains(a):
		return embedded("6to4", netip.AddrFrom4([4]byte(b[2:6])))
	case !global6.Contains(a):
		return "not global unicast"
	}
	return ""
}

// embedded judges the IPv4 address inside a translated IPv6 address.
func embedded(kind string, v4 netip.Addr) string {
	if r := refusal(v4); r != "" {
		return fmt.Sprintf("%s address of %s, %s", kind, v4, r)
	}
	return ""
}
