package outbound_test

import (
	"net/netip"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/incident-server/incident-server/internal/outbound"
)

func newClient(t *testing.T, opts outbound.Options) *outbound.Client {
	t.Helper()
	c, err := outbound.NewClient(opts)
	require.NoError(t, err)
	return c
}

func TestCheckRefusesSpecialPurposeAddresses(t *testing.T) {
	t.Parallel()
	c := newClient(t, outbound.Options{})
	tests := []struct {
		addr, reason string
	}{
		{"127.0.0.1", "loopback"},
		{"127.255.255.254", "loopback"},
		{"0.0.0.0", "unspecified (this network)"},
		{"0.1.2.3", "unspecified (this network)"},
		{"169.254.169.254", "link-local (cloud metadata)"},
		{"169.254.0.1", "link-local (cloud metadata)"},
		{"10.0.0.1", "private"},
		{"10.255.255.255", "private"},
		{"172.16.0.1", "private"},
		{"172.31.255.255", "private"},
		{"192.168.1.1", "private"},
		{"100.64.0.1", "shared address space (carrier-grade NAT)"},
		{"100.127.255.255", "shared address space (carrier-grade NAT)"},
		{"192.0.0.170", "IETF protocol assignments"},
		{"192.0.2.10", "documentation"},
		{"198.51.100.10", "documentation"},
		{"203.0.113.10", "documentation"},
		{"198.18.0.1", "benchmarking"},
		{"198.19.255.255", "benchmarking"},
		{"224.0.0.1", "multicast"},
		{"239.255.255.250", "multicast"},
		{"255.255.255.255", "broadcast"},
		{"240.0.0.1", "reserved"},

		{"::", "unspecified"},
		{"::1", "loopback"},
		{"fe80::1", "link-local"},
		{"fe80::1%eth0", "link-local"},
		{"fec0::1", "site-local (deprecated)"},
		{"fc00::1", "private (unique local)"},
		{"fd12:3456:789a::1", "private (unique local)"},
		{"ff02::1", "multicast"},
		{"100::1", "discard-only"},
		{"2001:db8::1", "documentation"},
		{"3fff::1", "documentation"},
		{"2001::1", "Teredo"},
		{"2001:2::1", "benchmarking"},
		{"64:ff9b:1::a00:1", "local-use NAT64"},
		{"4000::1", "not global unicast"},

		// IPv4 addresses in IPv6 clothing are judged by the IPv4 address.
		{"::ffff:127.0.0.1", "loopback"},
		{"::ffff:169.254.169.254", "link-local (cloud metadata)"},
		{"::ffff:10.1.2.3", "private"},
		{"::127.0.0.1", "IPv4-compatible (deprecated)"},
		{"::8.8.8.8", "IPv4-compatible (deprecated)"},
		{"64:ff9b::127.0.0.1", "NAT64 address of 127.0.0.1, loopback"},
		{"64:ff9b::a9fe:a9fe", "NAT64 address of 169.254.169.254, link-local (cloud metadata)"},
		{"64:ff9b::192.168.0.1", "NAT64 address of 192.168.0.1, private"},
		{"2002:7f00:1::1", "6to4 address of 127.0.0.1, loopback"},
		{"2002:a9fe:a9fe::", "6to4 address of 169.254.169.254, link-local (cloud metadata)"},
		{"2002:0a00:0001::1", "6to4 address of 10.0.0.1, private"},
	}
	for _, tt := range tests {
		t.Run(tt.addr, func(t *testing.T) {
			t.Parallel()
			err := c.Check("", netip.MustParseAddr(tt.addr))
			var re *outbound.RefusedError
			require.ErrorAs(t, err, &re)
			require.Equal(t, tt.reason, re.Reason)
			require.Equal(t, netip.MustParseAddr(tt.addr), re.Addr)
			require.True(t, outbound.IsRefused(err))
		})
	}
}

func TestCheckPermitsGlobalUnicast(t *testing.T) {
	t.Parallel()
	c := newClient(t, outbound.Options{})
	for _, a := range []string{
		"1.1.1.1", "8.8.8.8", "9.255.255.255", "11.0.0.1", "100.63.255.255", "100.128.0.1",
		"172.15.255.255", "172.32.0.1", "192.167.255.255", "192.169.0.1", "169.253.255.255", "223.255.255.255",
		"::ffff:8.8.8.8", "2606:4700:4700::1111", "2a00:1450:4001::200e",
		"64:ff9b::8.8.8.8",  // NAT64 of a public address: how IPv6-only hosts reach IPv4 ones
		"2002:0808:0808::1", // 6to4 of 8.8.8.8
	} {
		require.NoError(t, c.Check("", netip.MustParseAddr(a)), a)
	}
}

func TestCheckAllowList(t *testing.T) {
	t.Parallel()
	c := newClient(t, outbound.Options{Allow: []string{
		"10.20.0.0/16", "192.168.7.7", "fd00::/8", " hooks.internal.example. ", "10.99.0.5/8",
	}})
	tests := []struct {
		host, addr string
		allowed    bool
	}{
		{"", "10.20.1.1", true},
		{"", "10.21.0.1", true}, // "10.99.0.5/8" is masked to 10.0.0.0/8
		{"", "192.168.7.7", true},
		{"", "::ffff:192.168.7.7", true},
		{"", "192.168.7.8", false},
		{"", "fd00::1", true},
		{"", "fc00::1", false},
		{"", "127.0.0.1", false},
		{"", "169.254.169.254", false},
		// A listed name is allowed whatever it resolves to; other names are not.
		{"hooks.internal.example", "127.0.0.1", true},
		{"HOOKS.Internal.Example.", "172.16.0.1", true},
		{"other.internal.example", "172.16.0.1", false},
		{"internal.example", "172.16.0.1", false},
	}
	for _, tt := range tests {
		err := c.Check(tt.host, netip.MustParseAddr(tt.addr))
		if tt.allowed {
			require.NoError(t, err, "%s %s", tt.host, tt.addr)
		} else {
			require.True(t, outbound.IsRefused(err), "%s %s: %v", tt.host, tt.addr, err)
		}
	}
}

func TestAllowPrivatePermitsEverything(t *testing.T) {
	t.Parallel()
	c := newClient(t, outbound.Options{AllowPrivate: true})
	for _, a := range []string{"127.0.0.1", "::1", "169.254.169.254", "10.0.0.1", "fd00::1", "64:ff9b::127.0.0.1"} {
		require.NoError(t, c.Check("", netip.MustParseAddr(a)), a)
	}
}

func TestNewClientRejectsBadAllowEntries(t *testing.T) {
	t.Parallel()
	for _, entry := range []string{"", "10.0.0.0/33", "*.internal.example", "http://hooks.example", "hooks..example", "-bad.example", "host name"} {
		_, err := outbound.NewClient(outbound.Options{Allow: []string{"10.0.0.0/8", entry}})
		require.Error(t, err, "%q", entry)
		require.Contains(t, err.Error(), "outbound allow entry")
	}
}
