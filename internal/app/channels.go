package app

import (
	"crypto/x509"
	"fmt"
	"net/http"
	"os"

	"github.com/incident-server/incident-server/internal/config"
	"github.com/incident-server/incident-server/internal/notify"
	"github.com/incident-server/incident-server/internal/notify/email"
	"github.com/incident-server/incident-server/internal/notify/slack"
	"github.com/incident-server/incident-server/internal/notify/twilio"
)

// Channels are the providers pages go out through besides push and
// webhooks, and the links pages carry. A nil provider is a channel that
// is not configured.
type Channels struct {
	Email  *email.Sender
	Twilio *twilio.Client
	Slack  *slack.Client
	// Links is never nil; it signs nothing without a public URL and a
	// link secret.
	Links *notify.Links
}

// NewChannels builds the channels notifications.* configures (validated by
// config.Load). The email CA file is read here.
func NewChannels(n config.Notifications) (Channels, error) {
	ch := Channels{Links: &notify.Links{PublicURL: n.PublicURL, IncidentURL: n.IncidentURL, TTL: n.AckLinkTTL}}
	if n.AckLinkSecret != "" {
		ch.Links.Secret = []byte(n.AckLinkSecret)
	}
	if e := n.Email; e.SMTPHost != "" {
		var roots *x509.CertPool
		if e.CAFile != "" {
			pem, err := os.ReadFile(e.CAFile)
			if err != nil {
				return Channels{}, fmt.Errorf("notifications.email.ca_file: %w", err)
			}
			if roots, err = x509.SystemCertPool(); err != nil {
				roots = x509.NewCertPool()
			}
			if !roots.AppendCertsFromPEM(pem) {
				return Channels{}, fmt.Errorf("notifications.email.ca_file: %s holds no PEM certificate", e.CAFile)
			}
		}
		s, err := email.New(email.Options{Host: e.SMTPHost, Port: e.SMTPPort, TLS: email.TLSMode(e.TLS), Username: e.Username,
			Password: e.Password, From: e.From, InsecureAuth: e.InsecureAuth, RootCAs: roots, Timeout: e.Timeout})
		if err != nil {
			return Channels{}, fmt.Errorf("notifications.email: %w", err)
		}
		ch.Email = s
	}
	if t := n.Twilio; t.AccountSID != "" {
		ch.Twilio = &twilio.Client{AccountSID: t.AccountSID, AuthToken: t.AuthToken, From: t.FromNumber, BaseURL: t.BaseURL,
			HTTP: &http.Client{Timeout: t.Timeout}}
	}
	if s := n.Slack; s.BotToken != "" {
		ch.Slack = &slack.Client{BotToken: s.BotToken, BaseURL: s.BaseURL, HTTP: &http.Client{Timeout: s.Timeout}}
	}
	return ch, nil
}
