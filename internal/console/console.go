// Package console is the web console: plain HTML, CSS and JavaScript
// modules in static/, embedded in the binary and served by the API under
// /console/. There is no build step: edit a file under static/, rebuild the
// binary (or run `make run`), reload the page. The pages hold no data; every
// data call goes to /api/v1 with the session cookie (see api/session.go).
//
// Layout of static/:
//
//	index.html            the one page; app.js routes /console/… paths to views
//	assets/console.css    all styles (light and dark, 375 px and up)
//	assets/app.js         start-up, routing, the header and navigation
//	assets/api.js         fetch wrapper: JSON, errors, the CSRF header
//	assets/live.js        the live feed (EventSource) and the polling fallback
//	assets/dom.js         element helpers and time formatting
//	assets/views/*.js     one module per page
package console

import (
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"io/fs"
	"mime"
	"net/http"
	"path"
	"strconv"
	"strings"
)

//go:embed static
var files embed.FS

// Prefix is where the console is served.
const Prefix = "/console/"

// CSP is the console's Content-Security-Policy: scripts, styles, images and
// connections from this origin only; no inline script or style, no eval,
// no framing, no plugins.
const CSP = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; " +
	"base-uri 'none'; form-action 'self'; frame-ancestors 'none'"

type asset struct {
	body, gz []byte
	etag     string
	ctype    string
}

// Handler serves the console. Files under assets/ are served as they are,
// revalidated by ETag and gzipped for browsers that accept it; every other
// path under the prefix is a page of the console and gets index.html, whose
// script shows the view the path names.
type Handler struct {
	assets map[string]*asset
	index  *asset
}

// New loads and prepares the embedded files.
func New() (*Handler, error) {
	h := &Handler{assets: map[string]*asset{}}
	root, err := fs.Sub(files, "static")
	if err != nil {
		return nil, err
	}
	err = fs.WalkDir(root, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		body, err := fs.ReadFile(root, p)
		if err != nil {
			return err
		}
		sum := sha256.Sum256(body)
		a := &asset{body: body, etag: `"` + hex.EncodeToString(sum[:12]) + `"`, ctype: mime.TypeByExtension(path.Ext(p))}
		if a.ctype == "" {
			a.ctype = "application/octet-stream"
		}
		switch path.Ext(p) {
		case ".js":
			// Module scripts must be served as JavaScript, whatever the
			// host's MIME table says.
			a.ctype = "text/javascript; charset=utf-8"
		case ".svg":
			a.ctype = "image/svg+xml"
		}
		var gz bytes.Buffer
		zw, _ := gzip.NewWriterLevel(&gz, gzip.BestCompression)
		_, _ = zw.Write(body)
		_ = zw.Close()
		if gz.Len() < len(body) {
			a.gz = gz.Bytes()
		}
		h.assets[p] = a
		return nil
	})
	if err != nil {
		return nil, err
	}
	h.index = h.assets["index.html"]
	return h, nil
}

// ServeHTTP answers GET and HEAD under Prefix.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	name := strings.TrimPrefix(r.URL.Path, Prefix)
	a := h.index
	if strings.HasPrefix(name, "assets/") {
		var ok bool
		if a, ok = h.assets[name]; !ok {
			http.Error(w, "no such file", http.StatusNotFound)
			return
		}
	}
	hd := w.Header()
	hd.Set("Content-Security-Policy", CSP)
	hd.Set("Content-Type", a.ctype)
	// Revalidated on every load (cheap: 304 by ETag), so a new binary's
	// files are picked up at once.
	hd.Set("Cache-Control", "no-cache")
	hd.Set("ETag", a.etag)
	hd.Set("Vary", "Accept-Encoding")
	if match := r.Header.Get("If-None-Match"); match != "" && strings.Contains(match, a.etag) {
		w.WriteHeader(http.StatusNotModified)
		return
	}
	body := a.body
	if a.gz != nil && acceptsGzip(r) {
		hd.Set("Content-Encoding", "gzip")
		body = a.gz
	}
	hd.Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(http.StatusOK)
	if r.Method != http.MethodHead {
		_, _ = w.Write(body)
	}
}

func acceptsGzip(r *http.Request) bool {
	for part := range strings.SplitSeq(r.Header.Get("Accept-Encoding"), ",") {
		enc, q, _ := strings.Cut(strings.TrimSpace(part), ";")
		if strings.TrimSpace(enc) == "gzip" && strings.ReplaceAll(q, " ", "") != "q=0" {
			return true
		}
	}
	return false
}
