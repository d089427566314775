// Command workbench-ferretdb runs FerretDB v1 with its SQLite backend as a
// MongoDB-protocol server for the workbench integration tests.
//
// It embeds the public github.com/FerretDB/FerretDB/ferretdb package. That
// package never creates FerretDB's telemetry reporter and marks telemetry as
// disabled and locked in its state (see ferretdb.New in FerretDB v1.24.2), so
// this program sends no usage reports. It also has no debug HTTP listener and
// no OpenTelemetry exporter, which only cmd/ferretdb sets up.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/FerretDB/FerretDB/ferretdb"
)

func main() {
	listenAddr := flag.String("listen", "127.0.0.1:27017", "TCP address to listen on; the host must be a loopback IP address")
	dataDir := flag.String("data-dir", "", "directory for the SQLite database files (required)")
	logLevel := flag.String("log-level", "info", "log level: debug, info, warn or error")
	flag.Parse()

	logger, err := newLogger(*logLevel)
	if err != nil {
		fmt.Fprintln(os.Stderr, "error:", err)
		os.Exit(2)
	}

	if err := run(logger, *listenAddr, *dataDir); err != nil {
		logger.Error("FerretDB failed", slog.String("error", err.Error()))
		os.Exit(1)
	}
}

func newLogger(level string) (*slog.Logger, error) {
	var slogLevel slog.Level
	if err := slogLevel.UnmarshalText([]byte(level)); err != nil {
		return nil, fmt.Errorf("invalid -log-level %q: use debug, info, warn or error", level)
	}

	handler := slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slogLevel})

	return slog.New(handler), nil
}

// checkLoopback rejects listen addresses whose host is not a loopback IP, so the
// server can never be reached from another machine.
func checkLoopback(listenAddr string) error {
	host, _, err := net.SplitHostPort(listenAddr)
	if err != nil {
		return fmt.Errorf("invalid -listen %q: %w", listenAddr, err)
	}

	ip := net.ParseIP(host)
	if ip == nil || !ip.IsLoopback() {
		return fmt.Errorf("invalid -listen %q: the host must be a loopback IP address such as 127.0.0.1", listenAddr)
	}

	return nil
}

// sqliteURL converts an existing directory into the absolute `file:` URI, ending
// with a slash, that FerretDB's SQLite backend expects.
func sqliteURL(dataDir string) (string, error) {
	if dataDir == "" {
		return "", errors.New("missing -data-dir: give the directory for the SQLite database files")
	}

	absDir, err := filepath.Abs(dataDir)
	if err != nil {
		return "", fmt.Errorf("invalid -data-dir %q: %w", dataDir, err)
	}

	info, err := os.Stat(absDir)
	if err != nil {
		return "", fmt.Errorf("invalid -data-dir %q: %w", dataDir, err)
	}

	if !info.IsDir() {
		return "", fmt.Errorf("invalid -data-dir %q: not a directory", dataDir)
	}

	// FerretDB parses the value as a URI, so characters such as '?' or '#'
	// in the path would change its meaning.
	if strings.ContainsAny(absDir, "?#%") {
		return "", fmt.Errorf("invalid -data-dir %q: the path must not contain '?', '#' or '%%'", dataDir)
	}

	return "file:" + absDir + "/", nil
}

func run(logger *slog.Logger, listenAddr, dataDir string) error {
	if err := checkLoopback(listenAddr); err != nil {
		return err
	}

	url, err := sqliteURL(dataDir)
	if err != nil {
		return err
	}

	server, err := ferretdb.New(&ferretdb.Config{
		Listener:  ferretdb.ListenerConfig{TCP: listenAddr},
		Logger:    logger,
		Handler:   "sqlite",
		SQLiteURL: url,
	})
	if err != nil {
		return err
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	// ferretdb.New has already bound the listener, so clients can connect from here on.
	logger.Info("FerretDB started", slog.String("listen", listenAddr), slog.String("sqlite_url", url))

	// Run returns after ctx is cancelled and every connection and the backend are closed.
	if err := server.Run(ctx); err != nil {
		return err
	}

	logger.Info("FerretDB stopped")

	return nil
}
