package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"runtime/pprof"

	"github.com/algoreg/algoreg-etl/configs"
	"github.com/algoreg/algoreg-etl/extract"
	"github.com/algoreg/algoreg-etl/pipeline"
	"github.com/algoreg/algoreg-etl/state"
)

// profile writes CPU profiles of a full backfill by the pipeline and by the
// reference to the profile folder. The pipeline runs in a child of this
// program wired as algoreg-etl wires it, since algoreg-etl has no profiling
// flag.
func (e *env) profile(ctx context.Context) error {
	dir, err := filepath.Abs(e.s.profileDir)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	step("CPU profiles in " + dir)
	pipe := filepath.Join(dir, "pipeline.pprof")
	m, _, err := e.child(ctx, "profiled backfill --full", e.self,
		[]string{"pipeline", "-config", e.config, "-cpuprofile", pipe, "-full", job})
	if err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "  pipeline: %.2fs, CPU %v, RSS %s, %d requests: %s\n", m.Wall.Seconds(), m.CPU, mib(m.MaxRSS), m.Requests, pipe)
	ref := filepath.Join(dir, "reference.pprof")
	if m, err = e.reference(ctx, ref); err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "  reference: %.2fs, CPU %v, RSS %s, %d requests: %s\n", m.Wall.Seconds(), m.CPU, mib(m.MaxRSS), m.Requests, ref)
	return nil
}

// pipelineMain is the child command "pipeline": one backfill of every row
// by pipeline.Run, in this process, with a CPU profile. It connects as
// algoreg-etl's run commands do, with its garbage collector's settings.
func pipelineMain(ctx context.Context, args []string) error {
	pipeline.TuneGC()
	fs := flag.NewFlagSet("algoreg-bench pipeline", flag.ContinueOnError)
	config := fs.String("config", "", "config file")
	cpuprofile := fs.String("cpuprofile", "", "write a CPU profile to this file")
	full := fs.Bool("full", false, "send unchanged rows too")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() != 1 || *config == "" {
		return errors.New("pipeline: usage: -config FILE [-cpuprofile FILE] [-full] JOB")
	}
	cfg, err := configs.Load(*config)
	if err != nil {
		return err
	}
	j, err := cfg.Job(fs.Arg(0))
	if err != nil {
		return err
	}
	src, err := extract.Open(ctx, cfg.Source.DSN.Reveal())
	if err != nil {
		return fmt.Errorf("source database: %w", err)
	}
	defer src.Close()
	st, err := state.Open(ctx, cfg.State.DSN.Reveal(), cfg.State.Schema)
	if err != nil {
		return err
	}
	defer st.Close()
	api, err := pipeline.NewAPI(cfg.Algoreg)
	if err != nil {
		return err
	}
	env := &pipeline.Env{Source: src, State: st, API: api, Logger: slog.New(slog.NewJSONHandler(os.Stderr, nil))}
	if *cpuprofile != "" {
		f, err := os.Create(*cpuprofile)
		if err != nil {
			return err
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return err
		}
		defer pprof.StopCPUProfile()
	}
	res, err := pipeline.Run(ctx, env, j, pipeline.Options{Kind: state.KindBackfill, Full: *full, Resume: -1})
	if err != nil {
		return err
	}
	fmt.Printf("%s %d %s: extracted %d, sent %d, skipped %d\n", res.Kind, res.RunID, res.Status,
		res.Counts.Extracted, res.Counts.Sent, res.Counts.Skipped)
	return nil
}
