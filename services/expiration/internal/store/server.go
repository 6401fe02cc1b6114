package store

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"

	"ticketing/services/expiration/internal/expiry"
)

// DefaultCheckInterval is how often a server moves due tasks to its workers, and how long an
// idle worker loop waits before it looks again (on average). asynq's defaults (5 s and 1 s)
// would make an expiry up to 6 s late; these keep it within a few hundred milliseconds, for
// about 20 cheap Redis calls a second per replica.
const DefaultCheckInterval = 100 * time.Millisecond

// ServerOptions are the settings of the server that runs expiry jobs.
type ServerOptions struct {
	Queue           string
	Concurrency     int           // jobs run at once, each waiting out at most expiry.MaxEarlyWait
	ShutdownTimeout time.Duration // how long a stop waits for running jobs before it puts them back
	CheckInterval   time.Duration // DefaultCheckInterval when zero
	Logger          *slog.Logger
}

// NewServer is an asynq server for the expiry queue, using rc, which the caller closes after
// the server stopped. Start it with a worker as its handler.
func NewServer(rc redis.UniversalClient, o ServerOptions) *asynq.Server {
	if o.CheckInterval <= 0 {
		o.CheckInterval = DefaultCheckInterval
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	log := o.Logger.With("component", "asynq")
	return asynq.NewServerFromRedisClient(rc, asynq.Config{
		Concurrency:              o.Concurrency,
		Queues:                   map[string]int{o.Queue: 1},
		TaskCheckInterval:        o.CheckInterval,
		DelayedTaskCheckInterval: o.CheckInterval,
		RetryDelayFunc: func(retried int, err error, _ *asynq.Task) time.Duration {
			return expiry.RetryDelay(retried, err)
		},
		IsFailure:       expiry.IsFailure,
		ShutdownTimeout: o.ShutdownTimeout,
		Logger:          logger{log},
		LogLevel:        asynq.InfoLevel,
		HealthCheckFunc: func(err error) {
			if err != nil {
				log.Warn("redis health check failed", "err", err)
			}
		},
		ErrorHandler: asynq.ErrorHandlerFunc(func(ctx context.Context, task *asynq.Task, err error) {
			if !expiry.IsFailure(err) {
				return
			}
			id, _ := asynq.GetTaskID(ctx)
			retried, _ := asynq.GetRetryCount(ctx)
			maxRetry, _ := asynq.GetMaxRetry(ctx)
			level := slog.LevelWarn
			if retried >= maxRetry {
				level = slog.LevelError // archived: the orders sweeper is the last resort
			}
			log.Log(ctx, level, "expiry job failed", "order_id", id, "retried", retried, "max_retry", maxRetry, "err", err)
		}),
	})
}

// logger writes asynq's log lines to slog.
type logger struct{ l *slog.Logger }

func (a logger) log(level slog.Level, args []any) {
	if a.l.Enabled(context.Background(), level) {
		a.l.Log(context.Background(), level, fmt.Sprint(args...))
	}
}

func (a logger) Debug(args ...any) { a.log(slog.LevelDebug, args) }
func (a logger) Info(args ...any)  { a.log(slog.LevelInfo, args) }
func (a logger) Warn(args ...any)  { a.log(slog.LevelWarn, args) }
func (a logger) Error(args ...any) { a.log(slog.LevelError, args) }

// Fatal logs and exits with status 1, as the asynq.Logger contract requires (asynq v0.26
// itself never calls it).
func (a logger) Fatal(args ...any) {
	a.log(slog.LevelError, args)
	os.Exit(1)
}
