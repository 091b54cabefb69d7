package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"net/http"
	"os"
	"strings"
	"time"
)

// The push receiver is whatever the engine's GORUSH_URL points at: the real
// Gorush (offline, so each push is answered at once and reported failed),
// or any HTTP service answering like it. The benchmark reads it only to say
// which it was and how many pushes it took, never to measure through it.

// gorushEnv names the variable -gorush-url defaults to; `make bench` sets it
// to the Gorush it started for the engine.
const gorushEnv = "GORUSH_URL"

func registerGorush(fs *flag.FlagSet, url *string) {
	fs.StringVar(url, "gorush-url", os.Getenv(gorushEnv),
		"the engine's push receiver, read to report what it is and count its pushes (default $"+gorushEnv+"; empty: not reported)")
}

// pushReceiver describes the push receiver and its push count at one moment.
type pushReceiver struct {
	URL string `json:"url,omitempty"`
	// Kind is "gorush" when /version names appleboy/gorush, "sink" when
	// something else answers /api/stat/app, "unknown" otherwise.
	Kind        string `json:"kind"`
	Description string `json:"description"`
	// Pushes is iOS plus Android pushes answered so far (success or error).
	Pushes int64 `json:"pushes"`
}

// probePush asks the receiver at url what it is and how many pushes it has
// answered. It never fails: what it cannot learn, it says.
func probePush(ctx context.Context, url string) pushReceiver {
	if url == "" {
		return pushReceiver{Kind: "unknown", Description: "not reported: pass -gorush-url (the engine's GORUSH_URL) to name it"}
	}
	url = strings.TrimRight(url, "/")
	pr := pushReceiver{URL: url, Kind: "unknown"}
	hc := &http.Client{Timeout: 5 * time.Second}
	get := func(path string, out any) error {
		req, err := http.NewRequestWithContext(ctx, "GET", url+path, nil)
		if err != nil {
			return err
		}
		resp, err := hc.Do(req)
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		if resp.StatusCode != 200 {
			return fmt.Errorf("GET %s: HTTP %d", path, resp.StatusCode)
		}
		return json.NewDecoder(resp.Body).Decode(out)
	}
	var ver struct {
		Source  string `json:"source"`
		Version string `json:"version"`
	}
	type platform struct {
		PushSuccess int64 `json:"push_success"`
		PushError   int64 `json:"push_error"`
	}
	var stats struct {
		IOS     platform `json:"ios"`
		Android platform `json:"android"`
	}
	verErr := get("/version", &ver)
	statErr := get("/api/stat/app", &stats)
	switch {
	case verErr == nil && strings.Contains(ver.Source, "appleboy/gorush"):
		pr.Kind = "gorush"
		pr.Description = "the real Gorush (" + ver.Source + ") at " + url
	case statErr == nil:
		pr.Kind = "sink"
		pr.Description = "an HTTP sink answering like Gorush at " + url
	default:
		pr.Description = fmt.Sprintf("%s did not answer like Gorush (%v)", url, statErr)
	}
	if statErr == nil {
		pr.Pushes = stats.IOS.PushSuccess + stats.IOS.PushError + stats.Android.PushSuccess + stats.Android.PushError
	}
	return pr
}
