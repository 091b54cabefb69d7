// Package devtemporal runs a complete Temporal server and its Web UI inside
// this process, on loopback, backed by a SQLite file (or memory) or by
// Postgres. It is the engine's embedded default and what the end-to-end
// tests run against; production points the worker and API at a Temporal
// cluster instead. On Postgres it keeps its state the way a cluster does
// (Temporal's own SQL schema, persistence and visibility in databases of
// their own), so one process shows what one node of that topology does.
//
// It is the only package of ours that links go.temporal.io/server.
package devtemporal

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"time"

	uiserver "github.com/temporalio/ui-server/v2/server"
	uiconfig "github.com/temporalio/ui-server/v2/server/config"
	uioptions "github.com/temporalio/ui-server/v2/server/server_options"
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/server/common/cluster"
	"go.temporal.io/server/common/config"
	"go.temporal.io/server/common/dynamicconfig"
	"go.temporal.io/server/common/log"
	"go.temporal.io/server/common/membership/static"
	"go.temporal.io/server/common/metrics"
	sqliteplugin "go.temporal.io/server/common/persistence/sql/sqlplugin/sqlite"
	"go.temporal.io/server/common/primitives"
	"go.temporal.io/server/schema/sqlite"
	"go.temporal.io/server/temporal"
)

// Options configure an embedded server. The zero value is valid: an
// in-memory server on a free loopback port, namespace "default", no Web UI.
type Options struct {
	// DatabaseFile is the SQLite file that keeps workflows across restarts.
	// It is created, with its schema, when missing. Empty (and no
	// PostgresURL) keeps everything in memory, lost when the process ends.
	DatabaseFile string
	// PostgresURL keeps the server's state in Postgres instead:
	// postgres://user:password@host:port/NAME?sslmode=disable names the
	// database of persistence, and visibility lives beside it in
	// NAME_visibility. Both are created when missing (through the server's
	// maintenance database "postgres"), and their schemas are set up, or
	// updated after a server upgrade, by Temporal's own schema tool from
	// the schema embedded in the server module. Mutually exclusive with
	// DatabaseFile. Default "": SQLite or memory.
	PostgresURL string
	// HistoryShards is the number of history shards. The store records it
	// when the server first starts on it; on later starts the recorded
	// number wins, and the server logs a warning if this one differs.
	// Default 1.
	HistoryShards int
	// Port is the frontend gRPC port on 127.0.0.1. Zero picks a free one.
	Port int
	// UIPort serves the Temporal Web UI on 127.0.0.1. Zero serves no UI.
	UIPort int
	// Namespace is created at start when missing. Default "default".
	Namespace string
	// SearchAttributes are registered on the namespace when it is created.
	SearchAttributes map[string]enumspb.IndexedValueType
	// Logger receives the server's logs. Default: discarded.
	Logger *slog.Logger
}

// Server is a running embedded Temporal server.
type Server struct {
	srv      temporal.Server
	ui       *uiserver.Server
	hostPort string
	uiAddr   string
	ns       string
}

const loopback = "127.0.0.1"

// Start starts the server and, when asked, the Web UI, and returns once the
// frontend accepts connections.
func Start(ctx context.Context, opts Options) (*Server, error) {
	if opts.Namespace == "" {
		opts.Namespace = "default"
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.HistoryShards == 0 {
		opts.HistoryShards = 1
	}
	if opts.HistoryShards < 0 {
		return nil, fmt.Errorf("history shards: %d, want at least 1", opts.HistoryShards)
	}
	if opts.DatabaseFile != "" && opts.PostgresURL != "" {
		return nil, errors.New("temporal store: a SQLite file and a Postgres URL are mutually exclusive")
	}
	ports, err := freePorts(6)
	if err != nil {
		return nil, err
	}
	if opts.Port == 0 {
		opts.Port = ports[5]
	}
	logger := newLogger(opts.Logger)

	var persistence config.Persistence
	if opts.PostgresURL != "" {
		persistence, err = postgresPersistence(ctx, opts, logger)
	} else {
		persistence, err = sqlitePersistence(opts, ports[0])
	}
	if err != nil {
		return nil, err
	}

	hostPort := net.JoinHostPort(loopback, strconv.Itoa(opts.Port))
	cfg := serverConfig(persistence, opts.Port, ports)
	dyn := dynamicconfig.StaticClient{
		// Visibility reads see newly registered search attributes at once.
		dynamicconfig.ForceSearchAttributesCacheRefreshOnRead.Key(): []dynamicconfig.ConstrainedValue{{Value: true}},
	}
	hosts := map[primitives.ServiceName]static.Hosts{}
	for name, svc := range cfg.Services {
		hosts[primitives.ServiceName(name)] = static.SingleLocalHost(net.JoinHostPort(loopback, strconv.Itoa(svc.RPC.GRPCPort)))
	}
	srv, err := temporal.NewServer(
		temporal.WithConfig(cfg),
		temporal.ForServices(temporal.DefaultServices),
		// Static hosts instead of gossip membership: one process needs no ring,
		// and a restart is not confused by the previous run's addresses, which
		// membership would find recorded in the SQLite file.
		temporal.WithStaticHosts(hosts),
		temporal.WithLogger(logger),
		temporal.WithDynamicConfigClient(dyn),
	)
	if err != nil {
		return nil, fmt.Errorf("create temporal server: %w", err)
	}
	if err := srv.Start(); err != nil {
		return nil, fmt.Errorf("start temporal server: %w", err)
	}
	s := &Server{srv: srv, hostPort: hostPort, ns: opts.Namespace}
	if err := waitListening(ctx, hostPort); err != nil {
		s.Stop()
		return nil, err
	}
	if opts.UIPort != 0 {
		if err := s.startUI(ctx, opts.UIPort); err != nil {
			s.Stop()
			return nil, err
		}
	}
	return s, nil
}

// HostPort is the frontend's gRPC address, for client.Dial.
func (s *Server) HostPort() string { return s.hostPort }

// Namespace is the namespace created at start.
func (s *Server) Namespace() string { return s.ns }

// UIAddress is the Web UI's URL, or "" when no UI runs.
func (s *Server) UIAddress() string {
	if s.uiAddr == "" {
		return ""
	}
	return "http://" + s.uiAddr
}

// Stop stops the Web UI and the server.
func (s *Server) Stop() {
	if s.ui != nil {
		s.ui.Stop()
	}
	_ = s.srv.Stop()
}

func (s *Server) startUI(ctx context.Context, port int) error {
	addr := net.JoinHostPort(loopback, strconv.Itoa(port))
	// The UI server exits the process when it cannot listen, so make sure
	// the port is free first and fail with an ordinary error instead.
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("temporal web ui port: %w", err)
	}
	_ = l.Close()
	cfg := &uiconfig.Config{
		TemporalGRPCAddress: s.hostPort,
		Host:                loopback,
		Port:                port,
		EnableUI:            true,
		DefaultNamespace:    s.ns,
		DisableNewsFetch:    true,
		HideLogs:            true,
		CORS:                uiconfig.CORS{CookieInsecure: true},
	}
	s.ui = uiserver.NewServer(uioptions.WithConfigProvider(cfg))
	go func() { _ = s.ui.Start() }()
	s.uiAddr = addr
	return waitHTTP(ctx, "http://"+addr+"/healthz")
}

// sqlitePersistence is one SQLite store, a file or memory, for persistence
// and visibility alike, with the namespace created in it. unique names the
// in-memory database.
func sqlitePersistence(opts Options, unique int) (config.Persistence, error) {
	sqlCfg := &config.SQL{
		PluginName:        sqliteplugin.PluginName,
		ConnectAttributes: map[string]string{},
		DatabaseName:      opts.DatabaseFile,
	}
	if opts.DatabaseFile == "" {
		sqlCfg.ConnectAttributes["mode"] = "memory"
		sqlCfg.ConnectAttributes["cache"] = "shared"
		sqlCfg.DatabaseName = "incident-server-" + strconv.Itoa(unique)
	} else {
		sqlCfg.ConnectAttributes["mode"] = "rwc"
		// Unknown attributes become SQLite pragmas. WAL with synchronous
		// NORMAL syncs the log at checkpoints instead of at every commit:
		// a power cut can lose the last commits, never corrupt the file, and
		// each workflow task no longer waits for a disk flush.
		sqlCfg.ConnectAttributes["journal_mode"] = "wal"
		sqlCfg.ConnectAttributes["synchronous"] = "normal"
		if err := os.MkdirAll(filepath.Dir(opts.DatabaseFile), 0o755); err != nil {
			return config.Persistence{}, fmt.Errorf("create temporal data dir: %w", err)
		}
		if _, err := os.Stat(opts.DatabaseFile); errors.Is(err, os.ErrNotExist) {
			if err := sqlite.SetupSchema(sqlCfg); err != nil {
				return config.Persistence{}, fmt.Errorf("set up temporal schema: %w", err)
			}
		}
	}
	if err := createNamespace(sqlCfg, opts); err != nil {
		return config.Persistence{}, err
	}
	return config.Persistence{
		DefaultStore:     sqliteplugin.PluginName,
		VisibilityStore:  sqliteplugin.PluginName,
		NumHistoryShards: int32(opts.HistoryShards),
		DataStores:       map[string]config.DataStore{sqliteplugin.PluginName: {SQL: sqlCfg}},
	}, nil
}

// postgresPersistence is persistence and visibility in two Postgres
// databases, created and brought to the current schema when needed, with
// the namespace created in them.
func postgresPersistence(ctx context.Context, opts Options, logger log.Logger) (config.Persistence, error) {
	store, visibility, err := postgresStores(opts.PostgresURL)
	if err != nil {
		return config.Persistence{}, err
	}
	if err := setupPostgres(ctx, opts.PostgresURL, store, visibility, logger); err != nil {
		return config.Persistence{}, err
	}
	if err := createNamespace(store, opts); err != nil {
		return config.Persistence{}, err
	}
	return config.Persistence{
		DefaultStore:     "default",
		VisibilityStore:  "visibility",
		NumHistoryShards: int32(opts.HistoryShards),
		DataStores: map[string]config.DataStore{
			"default":    {SQL: store},
			"visibility": {SQL: visibility},
		},
	}, nil
}

// createNamespace registers the namespace, with the search attributes
// mapped onto the visibility schema's custom columns, in the persistence
// store before the server starts, so it is usable at once: registered
// through a running server, it would wait for the namespace cache's next
// refresh. Temporal's helper for this lives in its SQLite package but
// writes through the SQL plugin the configuration names, Postgres too.
// An existing namespace is left as it is.
func createNamespace(store *config.SQL, opts Options) error {
	nsCfg, err := sqlite.NewNamespaceConfig("active", opts.Namespace, false, opts.SearchAttributes)
	if err != nil {
		return fmt.Errorf("namespace config: %w", err)
	}
	if err := sqlite.CreateNamespaces(store, nsCfg); err != nil {
		return fmt.Errorf("create namespace: %w", err)
	}
	return nil
}

func serverConfig(persistence config.Persistence, port int, ports []int) *config.Config {
	svc := func(grpc int) config.Service {
		return config.Service{RPC: config.RPC{GRPCPort: grpc, BindOnIP: loopback}}
	}
	return &config.Config{
		Global: config.Global{
			Membership: config.Membership{MaxJoinDuration: 30 * time.Second, BroadcastAddress: loopback},
			Metrics: &metrics.Config{Prometheus: &metrics.PrometheusConfig{
				ListenAddress: net.JoinHostPort(loopback, strconv.Itoa(ports[4])),
				HandlerPath:   "/metrics",
			}},
		},
		Persistence: persistence,
		ClusterMetadata: &cluster.Config{
			EnableGlobalNamespace:    false,
			FailoverVersionIncrement: 10,
			MasterClusterName:        "active",
			CurrentClusterName:       "active",
			ClusterInformation: map[string]cluster.ClusterInformation{
				"active": {
					Enabled:                true,
					InitialFailoverVersion: 1,
					RPCAddress:             net.JoinHostPort(loopback, strconv.Itoa(port)),
				},
			},
		},
		DCRedirectionPolicy: config.DCRedirectionPolicy{Policy: "noop"},
		Services: map[string]config.Service{
			"frontend": svc(port),
			"history":  svc(ports[1]),
			"matching": svc(ports[2]),
			"worker":   svc(ports[3]),
		},
		Archival: config.Archival{
			History:    config.HistoryArchival{State: "disabled"},
			Visibility: config.VisibilityArchival{State: "disabled"},
		},
		NamespaceDefaults: config.NamespaceDefaults{Archival: config.ArchivalNamespaceDefaults{
			History:    config.HistoryArchivalNamespaceDefaults{State: "disabled"},
			Visibility: config.VisibilityArchivalNamespaceDefaults{State: "disabled"},
		}},
		PublicClient: config.PublicClient{HostPort: net.JoinHostPort(loopback, strconv.Itoa(port))},
	}
}

// freePorts returns n distinct loopback ports that were free a moment ago.
func freePorts(n int) ([]int, error) {
	ports := make([]int, 0, n)
	var held []net.Listener
	defer func() {
		for _, l := range held {
			_ = l.Close()
		}
	}()
	for range n {
		l, err := net.Listen("tcp", net.JoinHostPort(loopback, "0"))
		if err != nil {
			return nil, fmt.Errorf("find free port: %w", err)
		}
		held = append(held, l)
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}

func waitListening(ctx context.Context, addr string) error {
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	var d net.Dialer
	for {
		conn, err := d.DialContext(ctx, "tcp", addr)
		if err == nil {
			return conn.Close()
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("temporal frontend %s did not start listening: %w", addr, err)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

func waitHTTP(ctx context.Context, url string) error {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	for {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if err != nil {
			return err
		}
		resp, err := http.DefaultClient.Do(req)
		if err == nil {
			_ = resp.Body.Close()
			if resp.StatusCode < 500 {
				return nil
			}
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("temporal web ui %s did not answer: %w", url, ctx.Err())
		case <-time.After(50 * time.Millisecond):
		}
	}
}
