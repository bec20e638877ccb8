package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/spf13/cobra"

	"github.com/algoreg/algoreg-etl/configs"
	"github.com/algoreg/algoreg-etl/pipeline"
)

// serveFlags are the flags of serve.
type serveFlags struct {
	listen, instance string
	catchUp          time.Duration
}

func (a *app) serveCmd() *cobra.Command {
	var f serveFlags
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Run the jobs on their schedules; serve /metrics, /healthz, /readyz",
		Long: "Run the jobs that have a schedule, on their schedules, until SIGTERM or SIGINT; " +
			"serve Prometheus metrics (/metrics), liveness (/healthz) and readiness (/readyz). " +
			"Several instances may share a state database: one leads and runs each slot exactly once.",
		Example: "algoreg-etl serve --listen 127.0.0.1:9090",
		Args:    wantArgs(),
		Run: func(cmd *cobra.Command, args []string) {
			a.code = a.serve(cmd.Context(), f)
		},
	}
	fs := cmd.Flags()
	fs.StringVar(&f.listen, "listen", "127.0.0.1:9090", "`ADDR` of the HTTP listener for /metrics, /healthz and /readyz; \"\" for none")
	fs.DurationVar(&f.catchUp, "catch-up", time.Hour, "run a job's last slot at start if it is at most this old and no instance ran it; 0 never")
	fs.StringVar(&f.instance, "instance", "", "this instance's `NAME` in schedule_slots.claimed_by and its sessions' application_name (default: host name and pid)")
	return exits(cmd, plainExits...)
}

func (a *app) serve(ctx context.Context, f serveFlags) int {
	cfg, code := a.loadConfig(configs.NeedAll)
	if cfg == nil {
		return code
	}
	jobs := make([]*configs.Job, len(cfg.Jobs))
	for i := range cfg.Jobs {
		jobs[i] = &cfg.Jobs[i]
	}
	env, closeEnv, err := a.connect(ctx, cfg)
	if err != nil {
		return a.fail(err, exitFailed)
	}
	defer closeEnv()

	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	if env.Metrics, err = pipeline.NewMetrics(reg); err != nil {
		return a.fail(err, exitFailed)
	}
	if err := env.Metrics.Restore(ctx, env.State, jobs); err != nil {
		return a.fail(err, exitFailed)
	}
	sched, err := pipeline.NewScheduler(env, jobs, pipeline.SchedulerOptions{Instance: f.instance, CatchUp: f.catchUp})
	if err != nil {
		return a.fail(fmt.Errorf("serve: %w", err), exitUsage)
	}

	for _, j := range jobs {
		if j.Schedule == "" {
			a.logger.Info("job not scheduled: it has no schedule key; run it by hand", "job", j.Name)
		}
	}

	srv := &http.Server{Handler: serveMux(reg, env), ReadHeaderTimeout: 10 * time.Second}
	served := make(chan error, 1)
	if f.listen != "" {
		ln, err := net.Listen("tcp", f.listen)
		if err != nil {
			return a.fail(fmt.Errorf("serve: --listen: %w", err), exitFailed)
		}
		go func() { served <- srv.Serve(ln) }()
		a.logger.Info("serving metrics and health checks", "addr", ln.Addr().String())
	}

	sched.Start(ctx)
	select {
	case <-ctx.Done():
	case err := <-served:
		sched.Shutdown()
		return a.fail(fmt.Errorf("serve: HTTP listener: %w", err), exitFailed)
	}
	// SIGTERM: no new run starts; a run in progress drains and closes its
	// run row. Metrics stay served until it has.
	a.logger.Info("stopping: no new runs; waiting for the run in progress to checkpoint")
	if err := sched.Shutdown(); err != nil {
		a.logger.Error("a run did not stop in time; the next process closes it", "error", err)
	}
	shut, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	srv.Shutdown(shut)
	a.logger.Info("stopped")
	return exitOK
}

// serveMux routes the HTTP listener of serve.
func serveMux(reg *prometheus.Registry, env *pipeline.Env) *http.ServeMux {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{Registry: reg}))
	// Liveness: the process answers.
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintln(w, "ok")
	})
	// Readiness: the state database answers within a second.
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithTimeout(r.Context(), time.Second)
		defer cancel()
		if err := env.State.DB().PingContext(ctx); err != nil {
			if errors.Is(err, context.DeadlineExceeded) {
				err = errors.New("no answer within 1s")
			}
			http.Error(w, "state database: "+err.Error(), http.StatusServiceUnavailable)
			return
		}
		fmt.Fprintln(w, "ok")
	})
	return mux
}
