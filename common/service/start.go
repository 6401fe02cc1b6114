package service

import (
	"context"
	"net/http"
	"time"
)

// Run starts the service: setup connects what the service needs, starts its listeners and
// background work, and returns its HTTP handler; then Run serves it until ctx ends (see
// Serve). When setup fails, what it opened is released through the one mechanism every
// service uses: the OnStop functions registered so far run (listeners stop), then the
// OnClose ones, in reverse order (connections close). Run returns setup's error.
func (a *App) Run(ctx context.Context, setup func(ctx context.Context) (http.Handler, error)) error {
	h, err := setup(ctx)
	if err != nil {
		a.abort()
		return err
	}
	return a.Serve(ctx, h)
}

// abort releases what a start that failed before serving had opened.
func (a *App) abort() {
	ctx, cancel := context.WithTimeout(context.Background(), a.Base.ShutdownTimeout)
	defer cancel()
	for _, fn := range a.onStop {
		fn(ctx)
	}
	a.onStop = nil
	a.close()
}

// Every runs round every interval in the background until shutdown: the sweepers and
// pollers of a service. The first round runs one interval after the start. A round that
// fails is logged, and the next one tries again.
func (a *App) Every(name string, interval time.Duration, round func(context.Context) error) {
	log := a.Log
	a.Go(name, func(ctx context.Context) error {
		t := time.NewTicker(interval)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return nil
			case <-t.C:
			}
			if err := round(ctx); err != nil && ctx.Err() == nil {
				log.WarnContext(ctx, name+" failed; the next round tries again", "err", err)
			}
		}
	})
}
