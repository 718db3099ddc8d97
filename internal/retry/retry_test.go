package retry

import (
	"context"
	"errors"
	"testing"
	"time"
)

func TestValueRetriesUntilSuccess(t *testing.T) {
	calls := 0
	v, err := Value(context.Background(), Backoff{First: time.Millisecond, Max: 4 * time.Millisecond}, func(context.Context) (int, error) {
		if calls++; calls < 4 {
			return 0, errors.New("not yet")
		}
		return 7, nil
	})
	if err != nil || v != 7 || calls != 4 {
		t.Fatalf("got %d, %v after %d calls; want 7 after 4", v, err, calls)
	}
}

func TestDoStopsWithTheLastErrorWhenTheContextEnds(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Millisecond)
	defer cancel()
	began := time.Now()
	calls := 0
	err := Do(ctx, Every(5*time.Millisecond), func(context.Context) error { calls++; return errors.New("down") })
	if err == nil || err.Error() != "down" || calls < 2 || time.Since(began) > time.Second {
		t.Fatalf("err %v after %d calls in %s; want the last error, several calls, soon", err, calls, time.Since(began))
	}
	if err := Do(ctx, Every(time.Millisecond), func(context.Context) error { return nil }); err == nil {
		t.Fatal("an ended context ran f")
	}
}

func TestEachBoundsAnAttempt(t *testing.T) {
	err := Each(10*time.Millisecond, func(ctx context.Context) error { <-ctx.Done(); return ctx.Err() })(context.Background())
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("got %v, want the attempt's deadline", err)
	}
}
