package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"time"

	"github.com/algoreg/algoreg-etl/load"
	"github.com/algoreg/algoreg-etl/load/algoregtest"
)

var sandboxCmd = &command{
	name:    "sandbox",
	summary: "Serve a local stand-in of the Algoreg API (strict, in memory) until interrupted.",
	usage:   "[flags]",
	example: "ALGOREG_TOKEN=secret algoreg-etl sandbox --addr 127.0.0.1:8080",
	flags: func(fs *flag.FlagSet) {
		fs.String("addr", "127.0.0.1:8080", "address to listen on")
		fs.String("token", "", "bearer token the sandbox accepts (default $ALGOREG_TOKEN)")
	},
	run: sandbox,
}

func sandbox(ctx context.Context, a *app, fs *flag.FlagSet, args []string) int {
	if len(args) != 0 {
		fs.Usage()
		return exitUsage
	}
	addr := fs.Lookup("addr").Value.String()
	token := fs.Lookup("token").Value.String()
	if token == "" {
		token = os.Getenv("ALGOREG_TOKEN")
	}
	if token == "" {
		return a.fail(errors.New("sandbox: no token: pass --token or set ALGOREG_TOKEN"), exitUsage)
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return a.fail(fmt.Errorf("sandbox: %w", err), exitFailed)
	}
	srv := &http.Server{Handler: algoregtest.NewHandler(token), ReadHeaderTimeout: 10 * time.Second}
	a.logger.Info("sandbox listening", "url", "http://"+ln.Addr().String(), "endpoint", load.SavePath)
	go func() {
		<-ctx.Done()
		shut, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		srv.Shutdown(shut)
	}()
	if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return a.fail(fmt.Errorf("sandbox: %w", err), exitFailed)
	}
	return exitOK
}
