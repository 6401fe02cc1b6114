package main

import (
	"context"
	"fmt"
	"time"

	"ticketing/common/config"
	"ticketing/services/auth"
	"ticketing/services/expiration"
	"ticketing/services/orders"
	"ticketing/services/payments"
	"ticketing/services/queue"
	"ticketing/services/tickets"
	"ticketing/services/web"
)

// runner starts one service in this process from its environment and calls ready with its
// HTTP address once it serves.
type runner func(ctx context.Context, env map[string]string, ready func(string)) error

func runService[C any](load func(*config.Env) (C, error), run func(context.Context, C) error, setReady func(*C, func(string))) runner {
	return func(ctx context.Context, env map[string]string, ready func(string)) error {
		cfg, err := load(config.FromMap(env))
		if err != nil {
			return err
		}
		setReady(&cfg, ready)
		return run(ctx, cfg)
	}
}

var runners = map[string]runner{
	"auth":       runService(auth.LoadConfig, auth.Run, func(c *auth.Config, f func(string)) { c.Ready = f }),
	"tickets":    runService(tickets.LoadConfig, tickets.Run, func(c *tickets.Config, f func(string)) { c.Ready = f }),
	"orders":     runService(orders.LoadConfig, orders.Run, func(c *orders.Config, f func(string)) { c.Ready = f }),
	"expiration": runService(expiration.LoadConfig, expiration.Run, func(c *expiration.Config, f func(string)) { c.Ready = f }),
	"payments":   runService(payments.LoadConfig, payments.Run, func(c *payments.Config, f func(string)) { c.Ready = f }),
	"queue":      runService(queue.LoadConfig, queue.Run, func(c *queue.Config, f func(string)) { c.Ready = f }),
	"web":        runService(web.LoadConfig, web.Run, func(c *web.Config, f func(string)) { c.Ready = f }),
}

// startInProcess runs the services in this process, each on its own port.
func (s *Stack) startInProcess(ctx context.Context) error {
	envs, err := s.serviceEnv()
	if err != nil {
		return err
	}
	runCtx, cancel := context.WithCancel(context.Background())
	s.cancelRun = cancel
	for i, name := range Services {
		addr, err := s.addr(i, 0)
		if err != nil {
			return err
		}
		env := envs[name]
		env["HTTP_ADDR"] = addr
		env["METRICS_ADDR"] = "off"
		ready := make(chan string, 1)
		failed := make(chan error, 1)
		s.runWG.Add(1)
		go func() {
			defer s.runWG.Done()
			if err := runners[name](runCtx, env, func(a string) { ready <- a }); err != nil {
				failed <- err
				s.log.Error("service stopped", "service", name, "err", err)
			}
		}()
		select {
		case a := <-ready:
			s.gw.set(name, a)
			s.log.Info("service ready", "service", name, "addr", a)
		case err := <-failed:
			return fmt.Errorf("%s: %w", name, err)
		case <-time.After(60 * time.Second):
			return fmt.Errorf("%s did not start within 60s", name)
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return nil
}
