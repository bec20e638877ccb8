package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"time"

	"github.com/spf13/cobra"

	"github.com/algoreg/algoreg-etl/load"
	"github.com/algoreg/algoreg-etl/load/algoregtest"
)

func (a *app) sandboxCmd() *cobra.Command {
	var addr, token string
	cmd := &cobra.Command{
		Use:   "sandbox",
		Short: "Serve a local stand-in of the Algoreg API",
		Long: "Serve a local stand-in of the Algoreg API (strict, in memory) until interrupted. " +
			"It accepts the token of --token or $ALGOREG_TOKEN.",
		Example: "ALGOREG_TOKEN=secret algoreg-etl sandbox --addr 127.0.0.1:8080",
		Args:    wantArgs(),
		Run: func(cmd *cobra.Command, args []string) {
			a.code = a.sandbox(cmd.Context(), addr, token)
		},
	}
	cmd.Flags().StringVar(&addr, "addr", "127.0.0.1:8080", "address to listen on")
	cmd.Flags().StringVar(&token, "token", "", "bearer token the sandbox accepts (default $ALGOREG_TOKEN)")
	return exits(cmd, plainExits...)
}

func (a *app) sandbox(ctx context.Context, addr, token string) int {
	if token == "" {
		token = os.Getenv("ALGOREG_TOKEN")
	}
	if token == "" {
		return a.badArg("no token: pass --token or set ALGOREG_TOKEN")
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
