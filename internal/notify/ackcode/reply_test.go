package ackcode_test

import (
	"errors"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/incident-server/incident-server/internal/notify/ackcode"
)

func TestParseReplyAcceptsTheDocumentedForms(t *testing.T) {
	t.Parallel()
	ack, res := ackcode.Acknowledge, ackcode.Resolve
	for body, want := range map[string]ackcode.Reply{
		"4":                 {Action: ack},
		"ack":               {Action: ack},
		"ACK":               {Action: ack},
		"Acknowledge":       {Action: ack},
		"  4 \n":            {Action: ack},
		"4.":                {Action: ack},
		"ack!":              {Action: ack},
		"4 k3m9":            {Action: ack, Code: "k3m9"},
		"4 K3M9":            {Action: ack, Code: "k3m9"},
		"ack 1a2b":          {Action: ack, Code: "1a2b"},
		"Ack\t1A2B":         {Action: ack, Code: "1a2b"},
		"acknowledge  1a2b": {Action: ack, Code: "1a2b"},
		"4k3m9":             {Action: ack, Code: "k3m9"},
		"4 1O2L":            {Action: ack, Code: "1021"}, // Crockford: O is 0, L is 1
		"4 iiii":            {Action: ack, Code: "1111"},
		"6":                 {Action: res},
		"close":             {Action: res},
		"Resolve":           {Action: res},
		"6 1a2b":            {Action: res, Code: "1a2b"},
		"close 1a2b":        {Action: res, Code: "1a2b"},
		"6zzzz":             {Action: res, Code: "zzzz"},
	} {
		got, err := ackcode.ParseReply(body)
		require.NoError(t, err, "%q", body)
		require.Equal(t, want, got, "%q", body)
	}
}

func TestParseReplyRefusesEverythingElse(t *testing.T) {
	t.Parallel()
	for _, body := range []string{
		"", " ", "5", "44", "4 4", "ok", "yes", "STOP", "HELP", "acked",
		"4 1a2", "4 1a2b3", "4 1a2u", "4 1a-b", "ack 1a2b extra", "4 1a2b 6",
		"1a2b", "1a2b 4", "41a2", "4k3m9x", "ack1a2b", "please ack",
		"4 ½½", "4\x00", strings.Repeat("4", 65), "4 " + strings.Repeat(" ", 80) + "1a2b",
	} {
		_, err := ackcode.ParseReply(body)
		require.ErrorIs(t, err, ackcode.ErrNotAReply, "%q", body)
	}
}

func TestCodeIsStableShortAndParsable(t *testing.T) {
	t.Parallel()
	key := "inc_42/0/1#1/u_alice/cm_sms"
	code := ackcode.Code(key)
	require.Equal(t, code, ackcode.Code(key), "a retried send shows the same code")
	require.Len(t, code, ackcode.CodeLen)
	require.NotEqual(t, code, ackcode.Code("inc_42/0/1#1/u_alice/cm_voice"))

	// The instructions the SMS carries parse back to the code, both ways.
	instr := ackcode.Instructions(code)
	require.Equal(t, "Reply 4 "+strings.ToUpper(code)+" to acknowledge or 6 "+strings.ToUpper(code)+" to resolve.", instr)
	got, err := ackcode.ParseReply("4 " + strings.ToUpper(code))
	require.NoError(t, err)
	require.Equal(t, ackcode.Reply{Action: ackcode.Acknowledge, Code: code}, got)
	got, err = ackcode.ParseReply("6" + code)
	require.NoError(t, err)
	require.Equal(t, ackcode.Reply{Action: ackcode.Resolve, Code: code}, got)
}

func TestCodesSpreadOverTheWholeAlphabet(t *testing.T) {
	t.Parallel()
	seen := map[string]bool{}
	chars := map[rune]bool{}
	for i := range 2000 {
		c := ackcode.Code("inc_" + strings.Repeat("x", i%7) + "/" + string(rune('a'+i%26)) + "/" + strconv.Itoa(i))
		seen[c] = true
		for _, r := range c {
			chars[r] = true
		}
	}
	// 2000 draws from 2^20 codes: a handful of collisions at most.
	require.Greater(t, len(seen), 1990)
	require.Len(t, chars, 32, "every Crockford character occurs")
	for r := range chars {
		require.True(t, strings.ContainsRune("0123456789abcdefghjkmnpqrstvwxyz", r), "%q", r)
	}
}

// FuzzParseReply: any body parses to one of the two actions with a valid
// code or none, or fails with ErrNotAReply; it never panics.
func FuzzParseReply(f *testing.F) {
	for _, s := range []string{"4", "ack 1a2b", "4k3m9", "6 ZZZZ", "close 1o2l", "", "4 1a2b3", "\xff\xfe", "4 \u0130\u0130\u0130\u0130", "ACK\u00a01A2B"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, body string) {
		r, err := ackcode.ParseReply(body)
		if err != nil {
			if !errors.Is(err, ackcode.ErrNotAReply) {
				t.Fatalf("ParseReply(%q) error %v is not ErrNotAReply", body, err)
			}
			return
		}
		if r.Action != ackcode.Acknowledge && r.Action != ackcode.Resolve {
			t.Fatalf("ParseReply(%q) action %q", body, r.Action)
		}
		if r.Code != "" {
			if len(r.Code) != ackcode.CodeLen {
				t.Fatalf("ParseReply(%q) code %q", body, r.Code)
			}
			again, err := ackcode.ParseReply("4 " + r.Code)
			if err != nil || again.Code != r.Code {
				t.Fatalf("code %q from %q does not parse back: %v", r.Code, body, err)
			}
		}
	})
}
