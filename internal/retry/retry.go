// Package retry is the one way jetsam tries something again: until it
// succeeds or its context ends, waiting a little longer after each failure.
package retry

import (
	"context"
	"time"
)

// Backoff is the wait after the first failure, doubled after each one up to
// Max (Max zero: the wait never grows).
type Backoff struct {
	First, Max time.Duration
}

// Every waits d between attempts.
func Every(d time.Duration) Backoff { return Backoff{First: d} }

// Do calls f until it returns nil or ctx ends, and returns f's last error
// (ctx's, when f never ran).
func Do(ctx context.Context, b Backoff, f func(context.Context) error) error {
	_, err := Value(ctx, b, func(ctx context.Context) (struct{}, error) { return struct{}{}, f(ctx) })
	return err
}

// Value is Do for a call that returns a value: the value of the first
// success.
func Value[T any](ctx context.Context, b Backoff, f func(context.Context) (T, error)) (T, error) {
	wait := b.First
	var zero T
	err := ctx.Err()
	for ctx.Err() == nil {
		var v T
		if v, err = f(ctx); err == nil {
			return v, nil
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return zero, err
		case <-t.C:
		}
		if b.Max > 0 {
			wait = min(2*wait, b.Max)
		}
	}
	return zero, err
}

// Each bounds every attempt of f to d.
func Each(d time.Duration, f func(context.Context) error) func(context.Context) error {
	return func(ctx context.Context) error {
		ctx, cancel := context.WithTimeout(ctx, d)
		defer cancel()
		return f(ctx)
	}
}
